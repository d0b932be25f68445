/* A model page's history (render/history.py writes the JSON): for each setting, a small chart of the
   figure across environments and runs, one line per device, and a table of every point. */
(function (LB) {
  'use strict';
  const settings = JSON.parse(document.getElementById('history-data').textContent);
  const root = document.getElementById('history-settings');
  const FLAG_MARK = { regression: '▼', improvement: '▲' };

  function table(setting) {
    const head = '<tr><th>hardware / source</th><th>torch</th><th>timm</th><th>run</th><th class="num">batch</th>' +
      `<th class="num">${LB.esc(setting.unit)}</th><th class="num">min–max</th><th>change</th></tr>`;
    const rows = setting.points.map((p) => `<tr${p.flag ? ` class="${p.flag}"` : ''}><td>${LB.esc(p.group)}</td>` +
      `<td>${LB.esc(p.torch)}</td><td>${LB.esc(p.timm)}</td><td>${LB.esc(p.run)}</td>` +
      `<td class="num">${LB.fmt(p.batch)}</td><td class="num">${LB.fmt(p.v)}</td>` +
      `<td class="num">${p.lo === null ? '' : LB.fmt(p.lo) + '–' + LB.fmt(p.hi)}</td>` +
      `<td>${p.flag ? `${FLAG_MARK[p.flag]} ${LB.esc(p.flag)} ${LB.esc(p.change)}` : ''}</td></tr>`);
    return `<div class="scroll"><table class="results history-table"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div>`;
  }

  /* A point's place on the x axis: its order, and its torch version (or group where none is known). */
  const category = (p, i) => LB.plotText(`${i + 1}. ${p.torch ? 'torch ' + p.torch : p.group}`);

  /* One trace per device: its points in version/time order; error bars where a spread was measured. */
  function traces(setting) {
    const categories = setting.points.map(category);
    const byDevice = new Map();
    setting.points.forEach((p, i) => {
      if (!byDevice.has(p.device)) byDevice.set(p.device, []);
      byDevice.get(p.device).push([i, p]);
    });
    return [...byDevice.entries()].map(([device, points]) => ({
      type: 'scatter', mode: 'lines+markers', name: LB.plotText(device),
      x: points.map(([i]) => categories[i]),
      y: points.map(([, p]) => p.v),
      error_y: { type: 'data', symmetric: false, visible: points.some(([, p]) => p.lo !== null),
                 array: points.map(([, p]) => (p.hi === null ? 0 : p.hi - p.v)),
                 arrayminus: points.map(([, p]) => (p.lo === null ? 0 : p.v - p.lo)) },
      text: points.map(([, p]) => `${LB.plotText(p.env)}<br>run ${LB.plotText(p.run)}${p.flag ? `<br>${p.flag} ${p.change}` : ''}`),
      hovertemplate: '%{y}<br>%{text}<extra></extra>',
    }));
  }

  function draw(setting, i) {
    const figure = document.createElement('figure');
    figure.className = 'history-setting';
    figure.innerHTML = `<figcaption>${LB.esc(setting.kind)}: ${LB.esc(setting.title)}</figcaption>` +
      `<div class="chart small" id="history-chart-${i}"></div>${table(setting)}`;
    root.appendChild(figure);
    if (!window.Plotly) return;  // the table still reads without the chart
    Plotly.newPlot(`history-chart-${i}`, traces(setting), {
      height: 240, margin: { l: 60, r: 10, t: 10, b: 60 }, showlegend: true,
      xaxis: { type: 'category', categoryorder: 'array',
               categoryarray: setting.points.map(category) },
      yaxis: { title: { text: LB.plotText(setting.unit) } }, legend: { orientation: 'h', y: -0.35 },
    }, { displayModeBar: false, responsive: true });
  }

  settings.forEach(draw);
})(window.LB);
