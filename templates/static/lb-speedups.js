/* What each compile mode buys, on the index: the table's speed-up, compile-time, memory and FLOP/s
   columns, the line a chart's hover gives a mode, and the speed-up dot plots (inference, training).
   Speed-ups come computed from render/speedups.py (D.tp.x): samples/s over the setting's baseline
   mode, eager, or `default` where the source has no eager figure (D.figures.bases). */
(function (LB) {
  'use strict';

  const MAX_MODELS = 40;  // models per dot plot: more do not read
  // One colour per compile mode in the dot plots (their legend says which), by compile label index.
  const MODE_COLOURS = ['#555555', '#0072B2', '#D55E00', '#009E73', '#CC79A7', '#56B4E9', '#E69F00', '#332288'];
  const sig3 = (v) => String(Number(v.toPrecision(3)));

  /* The baseline compile mode (label index) of group g at bench b, precision p, layout l; null: none. */
  function baseMode(D, g, b, p, l) {
    D.baseAt = D.baseAt || new Map(D.figures.bases.map(([bg, bb, bp, bl, c]) => [[bg, bb, bp, bl].join('|'), c]));
    return D.baseAt.get([g, b, p, l].join('|')) ?? null;
  }

  const baseLabel = (D, st, b) => LB.labelOf(D, 'compile', baseMode(D, st.tg, b ?? st.bench, st.prec, st.layout));

  /* Per-mode figure columns of the table, each only where some row has a value. */
  function figureColumns(D, st, rows) {
    const modes = st.modes.map((m) => LB.labelOf(D, 'compile', m));
    const base = baseLabel(D, st);
    const per = (figure, label, format) => modes.filter((m) => rows.some((r) => r[figure][m] !== undefined))
      .map((m) => ({ key: figure + ':' + m, label: label(m), num: 1, format: format }));
    return [
      ...per('x', (m) => m + ' vs ' + base, (v) => v.toFixed(2) + '×').filter((c) => !c.key.endsWith(':' + base)),
      ...per('cs', (m) => 'compile s (' + m + ')'),
      ...per('pm', (m) => 'peak MB (' + m + ')'),
      ...per('tf', (m) => 'TFLOP/s (' + m + ')', sig3),
      ...per('pk', (m) => '% of peak (' + m + ')', (v) => sig3(v) + '%'),
    ];
  }

  /* What a hover says beside a mode's samples/s: ["compile 21.5 s", "peak 120 MB", "27.4 TFLOP/s (16.6% of peak)"]. */
  function figureParts(f) {
    return [f.cs != null && `compile ${LB.fmt(f.cs)} s`, f.pm != null && `peak ${LB.fmt(f.pm)} MB`,
      f.tf != null && `${sig3(f.tf)} TFLOP/s` + (f.pk != null ? ` (${sig3(f.pk)}% of peak)` : '')].filter(Boolean);
  }

  /* One mode's figures for a chart's hover: "default: 3920/s · 1.40× eager · compile 21.5 s · …". */
  function modeLine(D, st, row, mode) {
    const base = baseLabel(D, st);
    const speedup = row.x[mode] !== undefined && mode !== base ? [row.x[mode].toFixed(2) + '× ' + base] : [];
    const figures = figureParts({ cs: row.cs[mode], pm: row.pm[mode], tf: row.tf[mode], pk: row.pk[mode] });
    return [mode + ': ' + LB.fmt(row.sps[mode]) + '/s', ...speedup, ...figures].join(' · ');
  }

  /* The speed-ups of the models in view, both benches, the selected group, precision and layout:
     {points: [{i, key}], keys: ["m|s" in plot order], total}. The models with the largest speed-up
     come first, so the cap keeps those; the rest are named in the note. */
  function speedupPoints(D, st, rows) {
    const inView = new Set(rows.map((r) => r.m + '|' + r.size));
    const points = [], best = new Map();
    for (const i of (st.tg === null ? [] : D.tpByGroup[st.tg])) {
      const tp = D.tp, key = tp.m[i] + '|' + tp.s[i];
      if (tp.p[i] !== st.prec || tp.l[i] !== st.layout || tp.x[i] === null || !inView.has(key)) continue;
      if (!st.modes.includes(tp.c[i]) || tp.c[i] === baseMode(D, st.tg, tp.b[i], tp.p[i], tp.l[i])) continue;
      points.push({ i: i, key: key });
      best.set(key, Math.max(best.get(key) ?? 0, tp.x[i]));
    }
    const keys = [...best.keys()].sort((a, b) => best.get(b) - best.get(a) || a.localeCompare(b));
    const shown = new Set(keys.slice(0, MAX_MODELS));
    return { points: points.filter((p) => shown.has(p.key)), keys: keys.slice(0, MAX_MODELS), total: keys.length };
  }

  /* Each plotted model's label: its name, with the image size where the view holds several. */
  function modelLabels(D, keys) {
    const sizes = new Map();
    keys.forEach((k) => { const m = k.split('|')[0]; sizes.set(m, (sizes.get(m) || 0) + 1); });
    return new Map(keys.map((k) => {
      const [m, s] = k.split('|');
      return [k, D.models.name[m] + (sizes.get(m) > 1 ? ' · ' + s + ' px' : '')];
    }));
  }

  function hoverText(D, st, i, label) {
    const tp = D.tp, f = LB.rowFigures(D, i), bench = LB.labelOf(D, 'bench', tp.b[i]);
    const base = baseLabel(D, st, tp.b[i]);
    const lines = [`<b>${LB.plotText(label)}</b> · ${tp.s[i]} px`,
      `${LB.plotText(LB.labelOf(D, 'compile', tp.c[i]))}: ${LB.fmt(f.sps)} ${bench}/s = ${f.x.toFixed(2)}× ${LB.plotText(base)}`];
    const extra = figureParts(f);
    return lines.concat(extra.length ? [extra.join(' · ')] : []).join('<br>');
  }

  /* "1.88 × default": the caption names the bench; short, so that it fits a phone's narrow plot. */
  function axisTitle(D, st, b) {
    const base = baseLabel(D, st, b);
    return base ? '× ' + base + ' samples/s' + (base === 'eager' ? '' : ' (no eager figure)') : '';
  }

  /* One dot plot: a bench's speed-ups, a row per model, a colour and marker per compile mode. */
  function speedupFigure(D, st, b, found, labels) {
    const byMode = new Map();
    found.points.filter((p) => D.tp.b[p.i] === b).forEach((p) => {
      const c = D.tp.c[p.i];
      if (!byMode.has(c)) byMode.set(c, []);
      byMode.get(c).push(p);
    });
    const traces = [...byMode.entries()].sort((one, other) => one[0] - other[0]).map(([c, points]) => ({
      type: 'scatter', mode: 'markers', name: LB.plotText(LB.labelOf(D, 'compile', c)),
      x: points.map((p) => D.tp.x[p.i]), y: points.map((p) => labels.get(p.key)),
      customdata: points.map((p) => D.models.name[D.tp.m[p.i]]),
      text: points.map((p) => hoverText(D, st, p.i, labels.get(p.key))), hovertemplate: '%{text}<extra></extra>',
      marker: { color: MODE_COLOURS[c % MODE_COLOURS.length], symbol: LB.SYMBOLS[c] || 'circle', size: 9, line: { width: 0.5, color: '#333' } },
    }));
    const layout = {
      xaxis: { title: { text: LB.plotText(axisTitle(D, st, b)) }, zeroline: false, visible: traces.length > 0 },
      yaxis: { type: 'category', categoryorder: 'array', categoryarray: found.keys.map((k) => labels.get(k)),
               autorange: 'reversed', automargin: true, visible: traces.length > 0 },
      showlegend: traces.length > 0,  // also for one mode: the legend says which it is
      shapes: traces.length ? [{ type: 'line', xref: 'x', yref: 'paper', x0: 1, x1: 1, y0: 0, y1: 1, line: { color: '#666', width: 1, dash: 'dot' } }] : [],
      annotations: traces.length ? [] : [{ text: 'No two compile modes of one model here: nothing to compare.', xref: 'paper', yref: 'paper',
                                           x: 0.5, y: 0.5, showarrow: false }],
      legend: { title: { text: 'compile mode' }, orientation: 'h', y: 1.02, yanchor: 'bottom', x: 0 },
      margin: { l: 10, r: 10, t: 30, b: 50 }, hovermode: 'closest', height: 140 + 22 * Math.max(found.keys.length, 3),
    };
    return { traces, layout };
  }

  /* Both dot plots and their note, unless what they show is what they already show (a new colouring
     or sort changes nothing here); a promise, as Plotly.react's. */
  let shown = null;
  function plotSpeedups(D, st, rows) {
    const found = speedupPoints(D, st, rows), labels = modelLabels(D, found.keys);
    const what = JSON.stringify([st.tg, st.prec, st.layout, found.points.map((p) => p.i)]);
    if (what === shown) return Promise.resolve();
    shown = what;
    document.getElementById('speedup-note').textContent = found.total > found.keys.length
      ? `The ${found.keys.length} models with the largest speed-ups of the ${found.total} in view; filter the models to see others.`
      : `${found.total} models in view with a figure for two compile modes or more.`;
    const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['select2d', 'lasso2d'] };
    return Promise.all(['infer', 'train'].map((bench) => {
      const figure = speedupFigure(D, st, LB.labelIndex(D, 'bench', bench), found, labels);
      return Plotly.react('chart-speedup-' + bench, figure.traces, figure.layout, config);
    }));
  }

  /* The dot plots sit below the main charts: they are drawn after those (a filter's redraw does not
     wait for them) and only once their section is near the viewport. Each finished draw counts up
     #speedups' data-drawn and says 'speedups:drawn'. */
  let pending = null, near = false, watching = null, drawing = Promise.resolve();
  function drawPending() {
    const draw = pending;
    pending = null;
    if (!draw) return;
    drawing = drawing.then(draw).then(() => {
      const section = document.getElementById('speedups');
      section.dataset.drawn = +(section.dataset.drawn || 0) + 1;
      document.dispatchEvent(new CustomEvent('speedups:drawn'));
    }).catch((error) => console.error(error));  // reported; the next draw still runs
  }

  function drawSpeedups(D, st, rows) {
    if (!watching) {
      watching = new IntersectionObserver((entries) => {
        near = entries.some((e) => e.isIntersecting);
        if (near) drawPending();
      }, { rootMargin: '300px' });
      watching.observe(document.getElementById('speedups'));
    }
    pending = () => plotSpeedups(D, st, rows);
    if (near) LB.afterPaint().then(drawPending);  // after the frame the main charts are in
  }

  Object.assign(LB, { baseMode, figureColumns, modeLine, speedupPoints, drawSpeedups });
})(window.LB);
