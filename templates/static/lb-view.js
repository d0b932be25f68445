/* Leaderboard view: filter state <-> URL hash, the filter controls, the table and the charts. */
(function () {
  'use strict';
  const LB = window.LB;
  const D = LB.load(document.getElementById('leaderboard-data'));
  const $ = (id) => document.getElementById(id);
  const TABLE_PAGE = 100;
  const SYMBOLS = LB.SYMBOLS;  // marker per compile mode, by compile label index
  const TEXT_KEYS = ['norm', 'family', 'size', 'q', 'pick', ...LB.FILTER_KEYS];  // URL strings, kept as they are
  /* WebGL redraws thousands of points in ~20 ms where SVG takes ~100; SVG where WebGL is missing. */
  const POINTS = (() => { try { return document.createElement('canvas').getContext('webgl') ? 'scattergl' : 'scatter'; } catch (e) { return 'scatter'; } })();
  let st = null;
  let showAll = false;

  const { esc, fmt } = LB;
  const labelOf = (kind, i) => LB.labelOf(D, kind, i);
  const indexOf = (kind, label) => LB.labelIndex(D, kind, label);
  const pick = (wanted, choices) => (choices.includes(wanted) ? wanted : (choices.length ? choices[0] : null));

  /* ---- state: raw strings (URL) -> indices, with a fallback for anything not in the data */
  function resolve(raw) {
    const s = {};
    s.ag = LB.group(D, 'accuracy', raw.ag) ?? D.defaults.ag;
    s.tg = LB.group(D, 'throughput', raw.tg) ?? D.defaults.tg;
    const datasets = LB.datasetChoices(D, s.ag);
    s.ds = pick(indexOf('dataset', raw.ds ?? D.defaults.ds), datasets.includes(indexOf('dataset', D.defaults.ds))
      ? [indexOf('dataset', D.defaults.ds), ...datasets] : datasets);
    s.bench = pick(indexOf('bench', raw.bench), LB.settingChoices(D, s.tg, 'b'));
    s.prec = pick(indexOf('precision', raw.prec), LB.settingChoices(D, s.tg, 'p', { b: s.bench }));
    s.layout = pick(indexOf('layout', raw.layout), LB.settingChoices(D, s.tg, 'l', { b: s.bench, p: s.prec }));
    s.modeChoices = LB.settingChoices(D, s.tg, 'c', { b: s.bench, p: s.prec, l: s.layout }).sort((a, b) => a - b);
    const wanted = (raw.modes || '').split(',').map((m) => indexOf('compile', m)).filter((m) => s.modeChoices.includes(m));
    s.modes = raw.modes === 'none' ? [] : (raw.modes && wanted.length ? wanted : s.modeChoices.slice());
    TEXT_KEYS.forEach((k) => { s[k] = raw[k] || ''; });
    s.color = raw.color === 'norm' ? 'norm' : 'family';
    s.sort = raw.sort || 'top1';
    s.dir = raw.dir === 'asc' ? 'asc' : 'desc';
    return s;
  }

  function rawOf(s) {
    return {
      ag: D.groups[s.ag]?.key, tg: D.groups[s.tg]?.key, ds: labelOf('dataset', s.ds),
      bench: labelOf('bench', s.bench), prec: labelOf('precision', s.prec), layout: labelOf('layout', s.layout),
      modes: s.modes.map((m) => labelOf('compile', m)).join(',') || 'none',
      ...Object.fromEntries(TEXT_KEYS.map((k) => [k, s[k]])), color: s.color, sort: s.sort, dir: s.dir,
    };
  }

  function readHash() {
    return resolve(Object.fromEntries(new URLSearchParams(location.hash.slice(1))));
  }

  let defaultRaw = null;
  /* Only what differs from the default view goes into the URL. */
  function writeHash() {
    const now = rawOf(st), base = defaultRaw || (defaultRaw = rawOf(resolve({})));
    const params = new URLSearchParams();
    Object.keys(now).forEach((k) => { if (now[k] !== base[k] && now[k] !== undefined) params.set(k, now[k]); });
    const hash = params.toString() ? '#' + params.toString() : '';
    if (hash !== location.hash) history.replaceState(null, '', location.pathname + location.search + hash);
    // the compare page starts from the throughput group shown here
    $('compare-link').href = 'compare.html#' + new URLSearchParams({ kind: 'throughput', a: now.tg ?? '' });
  }

  /* ---- controls */
  function fillSelect(select, values, selected, label) {
    const html = values.map((v) => `<option value="${esc(v)}">${esc(label ? label(v) : v)}</option>`).join('');
    if (select.dataset.options !== html) { select.innerHTML = html; select.dataset.options = html; }
    select.value = String(selected ?? '');
  }

  function syncControls(sizes) {
    fillSelect($('f-ds'), LB.datasetChoices(D, st.ag), st.ds, (i) => labelOf('dataset', i));
    fillSelect($('f-bench'), LB.settingChoices(D, st.tg, 'b'), st.bench, (i) => labelOf('bench', i));
    fillSelect($('f-prec'), LB.settingChoices(D, st.tg, 'p', { b: st.bench }), st.prec, (i) => labelOf('precision', i));
    fillSelect($('f-layout'), LB.settingChoices(D, st.tg, 'l', { b: st.bench, p: st.prec }), st.layout, (i) => labelOf('layout', i));
    fillSelect($('f-size'), [''].concat(sizes), st.size, (v) => (v === '' ? 'all' : v + ' px'));
    const modes = st.modeChoices.map((m) => `<label><input type="checkbox" name="modes" value="${m}"> ${esc(labelOf('compile', m))}</label>`).join('');
    if ($('f-modes').dataset.options !== modes) { $('f-modes').innerHTML = modes; $('f-modes').dataset.options = modes; }
    $('f-modes').querySelectorAll('input').forEach((i) => { i.checked = st.modes.includes(+i.value); });
    $('f-ag').value = D.groups[st.ag]?.key ?? '';
    $('f-tg').value = D.groups[st.tg]?.key ?? '';
    $('f-norm').value = st.norm;
    $('f-family').value = st.family;
    $('f-color').value = st.color;
    if (document.activeElement !== $('f-q')) $('f-q').value = st.q;
  }

  function onControl(event) {
    const raw = rawOf(st);
    const target = event.target;
    if (target.name === 'modes') {
      raw.modes = [...document.querySelectorAll('#f-modes input:checked')].map((i) => labelOf('compile', +i.value)).join(',') || 'none';
    } else if (target.dataset.filter) {
      raw[target.dataset.filter] = LB.filterValue(target.dataset.filter);
    } else {
      const key = target.id.slice(2);
      raw[key] = ['ds', 'bench', 'prec', 'layout'].includes(key)
        ? labelOf({ ds: 'dataset', bench: 'bench', prec: 'precision', layout: 'layout' }[key], +target.value)
        : target.value;
      if (['tg', 'bench', 'prec', 'layout'].includes(key)) delete raw.modes;  // a new setting shows all its modes
    }
    st = resolve(raw);
    update();
  }

  /* ---- table */
  function tableColumns(rows) {
    const modes = st.modes.map((m) => labelOf('compile', m));
    return [
      { key: 'model', label: 'model' }, { key: 'family', label: 'family' }, { key: 'norm', label: 'norm' },
      { key: 'params', label: 'params (M)', num: 1 }, { key: 'gmacs', label: 'GMACs', num: 1 },
      { key: 'size', label: 'img size', num: 1 }, { key: 'top1', label: 'top-1 %', num: 1 }, { key: 'top5', label: 'top-5 %', num: 1 },
      ...modes.map((m) => ({ key: 'sps:' + m, label: m + ' ' + labelOf('bench', st.bench) + '/s', num: 1 })),
      ...LB.figureColumns(D, st, rows),  // speed-ups, compile s, peak MB, TFLOP/s, % of peak
      { key: 'pareto', label: 'Pareto' }, { key: 'source', label: 'source' },
    ];
  }

  const pageOf = (m) => LB.pagePath(D, m);

  function sourceOf(row) {
    const parts = [];
    if (row.top1 !== null) parts.push(D.groups[st.ag].collection);
    if (Object.keys(row.sps).length) parts.push(D.groups[st.tg].collection);
    return parts.join(' / ');
  }

  function cell(row, column) {
    if (column.key === 'model') {
      const tag = row.tag ? `<span class="tag">.${esc(row.tag)}</span>` : '';
      return `<td>${LB.pickBox(st.pick, row.name)} <a href="${esc(pageOf(row.m))}">${esc(row.name)}</a>${tag}</td>`;
    }
    if (column.key === 'pareto') return `<td>${row.pareto.map((p) => `<span class="badge">${p}</span>`).join(' ')}</td>`;
    if (column.key === 'source') return `<td>${esc(sourceOf(row))}</td>`;
    const value = LB.sortValue(row, column.key);
    if (!column.num) return `<td>${esc(value)}</td>`;
    return `<td class="num">${esc(column.format && value !== null ? column.format(value) : fmt(value))}</td>`;
  }

  function drawTable(rows) {
    const columns = tableColumns(rows);
    $('leaderboard-head').innerHTML = '<tr>' + columns.map((c) => {
      const sorted = c.key === st.sort ? ` aria-sort="${st.dir === 'asc' ? 'ascending' : 'descending'}"` : '';
      return `<th data-key="${esc(c.key)}"${sorted}${c.num ? ' class="num"' : ''}><button type="button">${esc(c.label)}</button></th>`;
    }).join('') + '</tr>';
    const shown = showAll ? rows : rows.slice(0, TABLE_PAGE);
    $('leaderboard-body').innerHTML = shown.map((r) => `<tr data-model="${esc(r.name)}">${columns.map((c) => cell(r, c)).join('')}</tr>`).join('');
    const models = new Set(rows.map((r) => r.m)).size;
    $('view-count').textContent = `${rows.length} rows, ${models} models` + (shown.length < rows.length ? ` (first ${shown.length} shown)` : '');
    $('show-all').hidden = shown.length === rows.length;
    $('show-all').textContent = `Show all ${rows.length} rows`;
    LB.drawPicks(st.pick);
  }

  /* ---- charts */
  const { plotText } = LB;  // every data string in a plotly title, legend or hover

  function hover(row, what, view) {
    const speed = Object.entries(row.sps).map(([m, v]) => `${m}: ${fmt(v)}/s`).join(', ') || 'n/a';
    return `<b>${plotText(row.name)}${row.tag ? '.' + plotText(row.tag) : ''}</b><br>${plotText(row.family)} · ${plotText(row.norm)}` +
      `<br>${fmt(row.params)} M params · ${row.size} px · top-1 ${fmt(row.top1)}%<br>throughput ${plotText(speed)}` +
      `<br>accuracy: ${plotText(D.groups[view.ag]?.label)}<br>speed: ${plotText(D.groups[view.tg]?.label ?? 'n/a')}` + (what ? `<br>${plotText(what)}` : '');
  }

  /* The points' hover texts as an array whose entries are made when first read: WebGL traces read
     text[i] for the point under the mouse only, so a redraw builds none of the thousands of texts
     (~15 ms on a new dataset). `view`: the state the points were drawn in. */
  function lazyHovers(points, view) {
    return new Proxy(new Array(points.length).fill(null), {
      get(made, key, proxy) {
        const i = typeof key === 'string' ? Number(key) : NaN;
        if (made[i] === null) {
          const p = points[i];
          made[i] = hover(p.row, p.mode && LB.modeLine(D, view, p.row, p.mode), view);
        }
        return Reflect.get(made, key, proxy);
      },
    });
  }

  /* The points in one WebGL trace per colour (greys first, underneath), legend group 'results': a
     colour given per point costs plotly two string parses a point on every redraw (~7 ms for the full
     timm site), one per trace does not, and the hover label keeps its point's colour. The legend is
     HTML, one for both charts (lb-legend.js). */
  function pointTraces(points, symbols, view) {
    const byColour = new Map();
    points.forEach((p) => {
      const colour = LB.labelColour(D, st.color, p.row[st.color]);
      if (!byColour.has(colour)) byColour.set(colour, []);
      byColour.get(colour).push(p);
    });
    const greysFirst = [LB.UNKNOWN_GREY, LB.GREY].filter((c) => byColour.has(c))
      .concat([...byColour.keys()].filter((c) => c !== LB.GREY && c !== LB.UNKNOWN_GREY));
    return greysFirst.map((colour) => {
      const group = byColour.get(colour);
      return {
        type: POINTS, mode: 'markers', name: 'results', legendgroup: 'results', showlegend: false,
        x: group.map((p) => p.x), y: group.map((p) => p.y), customdata: group.map((p) => p.row.name),
        text: lazyHovers(group, view), hovertemplate: '%{text}<extra></extra>',
        marker: {
          color: colour, size: 7, opacity: 0.8, line: { width: 0.5, color: '#333' },
          symbol: symbols ? group.map((p) => SYMBOLS[D.labels.compile.indexOf(p.mode)] || 'circle') : 'circle',
        },
      };
    });
  }

  function traces(points, frontier, symbols, stepShape) {
    const view = { ...st };
    const front = frontier.map((i) => points[i]).sort((a, b) => a.x - b.x);
    const frontierTrace = {  // WebGL too: one SVG trace beside a GL one costs a redraw ~15 ms more
      type: POINTS, mode: 'lines+markers', name: 'Pareto frontier', x: front.map((p) => p.x), y: front.map((p) => p.y),
      customdata: front.map((p) => p.row.name), text: lazyHovers(front, view), hovertemplate: '%{text}<extra>frontier</extra>',
      line: { color: '#000', width: 1.5, dash: 'dot', shape: stepShape }, marker: { size: 11, color: 'rgba(0,0,0,0)', line: { width: 1.5, color: '#000' } },
    };
    return pointTraces(points, symbols, view).concat([frontierTrace]);
  }

  // Tick labels never overflow these charts (plotly's default check measures every label once per
  // label) and stay level (to decide on 'auto', plotly measures every label's box); a given axis type
  // spares plotly a scan of the data to guess it.
  const AXIS = { ticklabeloverflow: 'allow', tickangle: 0 };

  function layout(xTitle) {
    return {
      xaxis: { ...AXIS, type: 'log', title: { text: xTitle } },
      yaxis: { ...AXIS, type: 'linear', title: { text: 'top-1 (%) · ' + plotText(labelOf('dataset', st.ds)) } },
      margin: { l: 60, r: 10, t: 10, b: 50 }, hovermode: 'closest', height: 420, showlegend: false,
    };
  }

  function chartPoints(rows) {
    const sized = [], fast = [];
    rows.forEach((r) => {
      if (r.top1 === null) return;
      if (r.params) sized.push({ x: r.params, y: r.top1, row: r });
      Object.keys(r.sps).forEach((mode) => fast.push({ x: r.sps[mode], y: r.top1, row: r, mode: mode }));
    });
    return { sized, fast };
  }

  function markPareto(rows) {
    const { sized, fast } = chartPoints(rows);
    const sizedFront = LB.pareto(sized, true), fastFront = LB.pareto(fast, false);
    sizedFront.forEach((i) => sized[i].row.pareto.push('size'));
    fastFront.forEach((i) => { if (!fast[i].row.pareto.includes('speed')) fast[i].row.pareto.push('speed'); });
    return { sized, fast, sizedFront, fastFront };
  }

  let chartsKey = null;
  /* Sorting and paging leave the points as they are: redraw the charts only when they change. */
  function drawCharts(p) {
    const key = JSON.stringify([joinedCache.key, st.norm, st.family, st.size, st.q, st.color, LB.FILTER_KEYS.map((k) => st[k])]);
    if (key === chartsKey) return Promise.resolve();
    chartsKey = key;
    const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['select2d', 'lasso2d'] };
    const speedTitle = plotText('throughput (' + labelOf('bench', st.bench) + ' samples/s, ' + labelOf('precision', st.prec) + ', ' + labelOf('layout', st.layout) + ')');
    LB.drawSpeedups(D, st, currentRows);  // deferred: they sit below these two
    LB.drawLegend(D, st.color, p.sized, p.fast);
    return Promise.all([
      Plotly.react('chart-params', traces(p.sized, p.sizedFront, false, 'hv'), layout('parameters (M)'), config),
      Plotly.react('chart-speed', traces(p.fast, p.fastFront, true, 'vh'), layout(speedTitle), config),
    ]);
  }

  /* ---- downloads of the current view */
  // a row's per-mode figures as download columns: <mode>_<name>, in the export's names where it has one
  const RECORD_FIGURES = { sps: 'samples_per_sec', bs: 'batch_size', cs: 'compile_s', pm: 'peak_mem_mb', x: 'speedup', tf: 'tflops', pk: 'percent_of_peak' };

  /* Each record carries the settings its figures were read at, so a downloaded file stands alone. */
  function viewRecords(rows) {
    const settings = { dataset: labelOf('dataset', st.ds), bench: labelOf('bench', st.bench), precision: labelOf('precision', st.prec), layout: labelOf('layout', st.layout) };
    return rows.map((r) => {
      const record = { model: r.name, tag: r.tag, family: r.family, norm: r.norm, params_m: r.params, gmacs: r.gmacs, img_size: r.size, top1: r.top1, top5: r.top5, ...settings };
      Object.keys(r.sps).forEach((m) => Object.entries(RECORD_FIGURES).forEach(([f, name]) => { record[m + '_' + name] = r[f]?.[m] ?? null; }));
      record.accuracy_source = r.top1 === null ? '' : D.groups[st.ag].label;
      record.throughput_source = Object.keys(r.sps).length ? D.groups[st.tg].label : '';
      return record;
    });
  }

  function download(name, text, type) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: type }));
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function toCsv(records) {
    const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
    const quote = (v) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v));
    return [keys.join(',')].concat(records.map((r) => keys.map((k) => quote(r[k])).join(','))).join('\n') + '\n';
  }

  /* ---- one redraw: join, filter, mark frontiers, sort, draw; reports its time for bench/ */
  let currentRows = [];
  let joinedCache = { key: null, rows: [] };
  /* The join depends only on what is compared; model filters and sorting reuse it. */
  function joinedRows() {
    const key = JSON.stringify([st.ag, st.ds, st.tg, st.bench, st.prec, st.layout, st.modes]);
    if (joinedCache.key !== key) joinedCache = { key: key, rows: LB.joinedRows(D, st) };
    joinedCache.rows.forEach((r) => { r.pareto = []; });
    return joinedCache.rows;
  }
  /* Whether the table's box is near the viewport (IntersectionObserver): off screen, a redraw sorts
     and draws the rows, and rewrites the URL, after the charts are painted, so a filter change does
     not wait for them (100 rows take tens of ms to lay out). */
  let tableNear = false;
  new IntersectionObserver((entries) => { tableNear = entries.some((e) => e.isIntersecting); }, { rootMargin: '200px' })
    .observe(document.querySelector('section.table'));

  /* The URL first: replacing it makes the browser lay the page out (to keep the scroll position),
     which costs nothing before the table changes and a full layout after. */
  function drawTableAndUrl() {
    LB.sortRows(currentRows, st.sort, st.dir);
    writeHash();
    drawTable(currentRows);
  }

  function report(name, started, phases) {
    document.dispatchEvent(new CustomEvent(name, { detail: { ms: performance.now() - started, phases: { ...phases } } }));
  }

  function update() {
    const started = performance.now();
    const joined = joinedRows();
    const sizes = [...new Set(joined.map((r) => r.size))].sort((a, b) => a - b);
    currentRows = joined.filter((r) => LB.matches(r, st));
    const points = markPareto(currentRows);
    const joinedAt = performance.now();
    const tableNow = tableNear;
    if (tableNow) drawTableAndUrl();
    const tableAt = performance.now();
    syncControls(sizes);
    LB.syncFilters(st, joined);
    LB.showEmpty(joined, currentRows, st);
    const controlsAt = performance.now();
    const phases = { data: joinedAt - started, table: tableAt - joinedAt, controls: controlsAt - tableAt };
    return drawCharts(points).then(() => {
      phases.charts = performance.now() - controlsAt;
      report('leaderboard:shown', started, phases);  // what is on screen is drawn
      if (tableNow) return null;
      return LB.afterPaint().then(() => {
        const tableStarted = performance.now();
        drawTableAndUrl();
        phases.table = performance.now() - tableStarted;
      });
    }).then(() => {
      const now = performance.now();
      window.leaderboardStats = { drawn: (window.leaderboardStats?.drawn || 0) + 1, lastDrawMs: now - started, phases: phases, at: now };
      document.body.dataset.drawn = window.leaderboardStats.drawn;
      report('leaderboard:drawn', started, phases);  // the table too
    });
  }

  function wire() {
    LB.wireLinks(D);  // chart points and model links open model pages with these settings
    document.querySelectorAll('#filters select').forEach((s) => s.addEventListener('change', onControl));
    $('f-modes').addEventListener('change', onControl);
    let typing = null;
    document.querySelectorAll('#f-q, #filters [data-filter]').forEach((input) => input.addEventListener('input', (e) => {
      clearTimeout(typing);
      typing = setTimeout(() => onControl(e), 150);
    }));
    $('leaderboard-body').addEventListener('change', (e) => {
      if (!e.target.classList.contains('pick')) return;
      st = resolve({ ...rawOf(st), pick: LB.togglePick(st.pick, e.target.value, e.target.checked) });
      update();
    });
    LB.wireEmptyState();
    $('reset').addEventListener('click', () => { st = resolve({}); showAll = false; update(); });
    $('show-all').addEventListener('click', () => { showAll = true; drawTable(currentRows); });
    $('leaderboard-head').addEventListener('click', (e) => {
      const th = e.target.closest('th');
      if (!th) return;
      st.dir = st.sort === th.dataset.key && st.dir === 'desc' ? 'asc' : 'desc';
      st.sort = th.dataset.key;
      update();
    });
    $('view-csv').addEventListener('click', () => download('leaderboard-view.csv', toCsv(viewRecords(currentRows)), 'text/csv'));
    $('view-json').addEventListener('click', () => download('leaderboard-view.json', JSON.stringify(viewRecords(currentRows), null, 1), 'application/json'));
    window.addEventListener('hashchange', () => { st = readHash(); update(); });
  }

  st = readHash();
  wire();
  update();
})();
