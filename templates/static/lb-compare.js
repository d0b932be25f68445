/* Compare two environments: every model and setting found in both group A and group B (same kind),
   the two figures and their ratio B / A, in a table and a chart. The state lives in the URL hash,
   #a=<group key>&b=<group key>&kind=…&bench=…&mode=…&sort=…&dir=…, so a link reproduces the view.
   The data is the index's payload (render/payload.py), decoded by lb-core.js; the defaults come from
   render/compare.py (#compare-choices). */
(function () {
  'use strict';
  const LB = window.LB;
  const D = LB.load(document.getElementById('leaderboard-data'));
  const CHOICES = JSON.parse(document.getElementById('compare-choices').textContent);
  const $ = (id) => document.getElementById(id);
  const { esc, fmt } = LB;
  const labelOf = (kind, i) => LB.labelOf(D, kind, i);
  const TABLE_PAGE = 200;
  const SORTS = ['model', 'settings', 'a', 'b', 'ratio'];
  const UNWRITTEN = { sort: 'ratio', dir: 'desc' };  // the default order stays out of the URL
  /* Per kind: its payload columns, those a row is matched on (everything but the group and the
     figures), the figure compared, and what colours the chart. */
  const KINDS = {
    throughput: { cols: D.tp, byGroup: D.tpByGroup, match: ['m', 'b', 'c', 'p', 'l', 's'], figure: 'sps',
                  unit: 'samples/s', series: 'compile mode', log: true },
    accuracy: { cols: D.acc, byGroup: D.accByGroup, match: ['m', 't', 'd', 's'], figure: 'top1',
                unit: 'top-1 %', series: 'dataset', log: false },
  };
  let st = null;
  let showAll = false;

  /* ---- data: the rows of A and B, matched on model and settings */
  function bySetting(spec, g) {
    const found = new Map();
    // the payload holds one run (the latest) per setting; were there two, the later would win
    for (const i of (g === null ? [] : spec.byGroup[g])) found.set(spec.match.map((c) => spec.cols[c][i]).join('|'), i);
    return found;
  }

  function kept(i) {
    if (st.kind !== 'throughput') return true;
    return (st.bench === null || D.tp.b[i] === st.bench) && (st.mode === null || D.tp.c[i] === st.mode);
  }

  function settingsOf(i) {
    const c = KINDS[st.kind].cols;
    const parts = st.kind === 'throughput'
      ? [labelOf('bench', c.b[i]), labelOf('compile', c.c[i]), labelOf('precision', c.p[i]), labelOf('layout', c.l[i])]
      : [labelOf('dataset', c.d[i])];
    return parts.concat(c.s[i] + ' px').join(' · ');
  }

  function makeRow(i, j) {
    const spec = KINDS[st.kind], c = spec.cols;
    const a = c[spec.figure][i], b = c[spec.figure][j];
    return {
      m: c.m[i], name: D.models.name[c.m[i]], tag: st.kind === 'accuracy' ? labelOf('tag', c.t[i]) : '',
      settings: settingsOf(i), a: a, b: b, ratio: a > 0 && b > 0 ? b / a : null,
      series: (st.kind === 'throughput' ? labelOf('compile', c.c[i]) : labelOf('dataset', c.d[i])) || 'unknown',
    };
  }

  function compareRows() {
    const spec = KINDS[st.kind];
    const inA = bySetting(spec, st.a), inB = bySetting(spec, st.b);
    const out = { rows: [], onlyA: 0, onlyB: 0 };
    for (const [key, i] of inA) {
      if (!kept(i)) continue;
      if (inB.has(key)) out.rows.push(makeRow(i, inB.get(key)));
      else out.onlyA += 1;
    }
    for (const [key, j] of inB) if (kept(j) && !inA.has(key)) out.onlyB += 1;
    return out;
  }

  /* Bench or compile-mode labels found in A or B, in label order (throughput only). */
  function settingChoices(s, column) {
    if (s.kind !== 'throughput') return [];
    return [...new Set([s.a, s.b].flatMap((g) => LB.settingChoices(D, g, column)))].sort((x, y) => x - y);
  }

  /* ---- state: raw strings (URL) -> group and label indices; null bench or mode = all */
  function resolve(raw) {
    const kind = Object.hasOwn(CHOICES.pairs, raw.kind || '') ? raw.kind : CHOICES.kind;
    const pair = CHOICES.pairs[kind];
    const s = { kind: kind, a: LB.group(D, kind, raw.a) ?? LB.group(D, kind, pair.a) };
    s.b = LB.group(D, kind, raw.b) ?? LB.group(D, kind, pair.b);
    if (raw.b === undefined && s.b === s.a) s.b = LB.group(D, kind, pair.a);  // only A given (the index's link)
    const within = (wanted, choices) => (choices.includes(wanted) ? wanted : null);
    s.bench = within(LB.labelIndex(D, 'bench', raw.bench), settingChoices(s, 'b'));
    s.mode = within(LB.labelIndex(D, 'compile', raw.mode), settingChoices(s, 'c'));
    s.sort = SORTS.includes(raw.sort) ? raw.sort : 'ratio';
    s.dir = raw.dir === 'asc' ? 'asc' : 'desc';
    return s;
  }

  function rawOf(s) {
    return { a: D.groups[s.a]?.key, b: D.groups[s.b]?.key, kind: s.kind, bench: labelOf('bench', s.bench),
             mode: labelOf('compile', s.mode), sort: s.sort, dir: s.dir };
  }

  /* A and B always go in: a shared link must not follow the defaults when the data changes. */
  function writeHash() {
    const params = new URLSearchParams();
    Object.entries(rawOf(st)).forEach(([k, v]) => { if (v && v !== UNWRITTEN[k]) params.set(k, v); });
    const hash = '#' + params.toString();
    if (hash !== location.hash) history.replaceState(null, '', location.pathname + location.search + hash);
  }

  /* ---- controls */
  function fillSelect(select, children, value) {
    select.replaceChildren(...children);
    select.value = value;
  }

  const options = (pairs) => pairs.map(([value, text]) => new Option(text, value));

  /* The kind's groups: real runs first, low-fidelity (smoke) runs apart, as on the index. */
  function groupOptions(chosen) {
    const ofKind = D.groups.filter((g) => g.kind === st.kind);
    const pairs = (groups) => groups.map((g) => [g.key, `${g.label} (${g.rows} rows)`]);
    const low = ofKind.filter((g) => g.low_fidelity);
    const children = options((chosen === null ? [['', 'choose…']] : []).concat(pairs(ofKind.filter((g) => !g.low_fidelity))));
    if (low.length) {
      const apart = document.createElement('optgroup');
      apart.label = 'Low fidelity: checks that a model runs, not its speed';
      apart.append(...options(pairs(low)));
      children.push(apart);
    }
    return children;
  }

  function settingOptions(column, labels) {
    return options([['', 'all']].concat(settingChoices(st, column).map((i) => [D.labels[labels][i], D.labels[labels][i]])));
  }

  function syncControls() {
    $('c-kind').value = st.kind;
    fillSelect($('c-a'), groupOptions(st.a), D.groups[st.a]?.key ?? '');
    fillSelect($('c-b'), groupOptions(st.b), D.groups[st.b]?.key ?? '');
    fillSelect($('c-bench'), settingOptions('b', 'bench'), labelOf('bench', st.bench));
    fillSelect($('c-mode'), settingOptions('c', 'compile'), labelOf('compile', st.mode));
    $('c-settings').hidden = st.kind !== 'throughput';
  }

  const CONTROL_KEYS = { 'c-kind': 'kind', 'c-a': 'a', 'c-b': 'b', 'c-bench': 'bench', 'c-mode': 'mode' };
  function onControl(event) {
    const key = CONTROL_KEYS[event.target.id];
    showAll = false;
    // another kind starts from its own default pair and settings
    st = resolve(key === 'kind' ? { kind: event.target.value } : { ...rawOf(st), [key]: event.target.value });
    update();
  }

  /* ---- table */
  function ratioText(ratio) {
    return ratio === null ? '' : (ratio >= 1e4 ? fmt(ratio) : ratio.toPrecision(4)) + '×';
  }

  function tableColumns() {
    const unit = KINDS[st.kind].unit;
    return [{ key: 'model', label: 'model' }, { key: 'settings', label: 'settings' },
            { key: 'a', label: 'A ' + unit, num: true }, { key: 'b', label: 'B ' + unit, num: true },
            { key: 'ratio', label: 'B / A', num: true }];
  }

  function cell(row, column) {
    if (column.key === 'model') {
      const tag = row.tag ? `<span class="tag">.${esc(row.tag)}</span>` : '';
      return `<td><a href="${esc(LB.pagePath(D, row.m))}">${esc(row.name)}</a>${tag}</td>`;
    }
    if (column.key === 'ratio') return `<td class="num ratio">${ratioText(row.ratio)}</td>`;
    return `<td${column.num ? ' class="num"' : ''}>${esc(column.num ? fmt(row[column.key]) : row[column.key])}</td>`;
  }

  function drawTable(rows) {
    const columns = tableColumns();
    $('comparison-head').innerHTML = '<tr>' + columns.map((c) => {
      const sorted = c.key === st.sort ? ` aria-sort="${st.dir === 'asc' ? 'ascending' : 'descending'}"` : '';
      return `<th data-key="${c.key}"${sorted}${c.num ? ' class="num"' : ''}><button type="button">${esc(c.label)}</button></th>`;
    }).join('') + '</tr>';
    const shown = showAll ? rows : rows.slice(0, TABLE_PAGE);
    $('comparison-body').innerHTML = shown.map((r) =>
      `<tr data-model="${esc(r.name)}" data-settings="${esc(r.settings)}">${columns.map((c) => cell(r, c)).join('')}</tr>`).join('');
    $('c-show-all').hidden = shown.length === rows.length;
    $('c-show-all').textContent = `Show all ${rows.length} rows`;
  }

  function median(values) {
    const sorted = values.slice().sort((x, y) => x - y), middle = sorted.length >> 1;
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  function drawCounts(result) {
    if (st.a === null || st.b === null) {
      $('c-counts').textContent = 'Choose the two environments to compare.';
      return;
    }
    const both = result.rows.length, ratios = result.rows.map((r) => r.ratio).filter((r) => r !== null);
    $('c-counts').textContent = `${both} setting${both === 1 ? '' : 's'} in both, ${result.onlyA} only in A, ` +
      `${result.onlyB} only in B` + (ratios.length ? ` · median B / A ${ratioText(median(ratios))}` : '');
  }

  /* ---- chart: B against A, one trace per colour, and the line where they are equal */
  const { plotText } = LB;  // every data string in a plotly title, legend or hover

  function hoverText(row) {
    return `<b>${plotText(row.name)}${row.tag ? '.' + plotText(row.tag) : ''}</b><br>${plotText(row.settings)}` +
      `<br>A ${plotText(fmt(row.a))} · B ${plotText(fmt(row.b))} · B / A ${ratioText(row.ratio)}`;
  }

  function pointTraces(points) {
    const buckets = LB.colourBuckets(points, 'series');
    const colourOf = new Map(buckets.coloured);
    const series = buckets.coloured.map(([label, colour]) => [label, colour, points.filter((r) => r.series === label)]);
    if (buckets.rest) series.push(['other', LB.GREY, points.filter((r) => !colourOf.has(r.series))]);
    return series.map(([label, colour, rows]) => ({
      type: 'scatter', mode: 'markers', name: plotText(label), x: rows.map((r) => r.a), y: rows.map((r) => r.b),
      customdata: rows.map((r) => r.name), text: rows.map(hoverText), hovertemplate: '%{text}<extra></extra>',
      marker: { color: colour, size: 7, opacity: 0.8, line: { width: 0.5, color: '#333' } },
    }));
  }

  function equalLine(points) {
    if (!points.length) return [];
    const values = points.flatMap((r) => [r.a, r.b]);
    const low = values.reduce((x, y) => Math.min(x, y)), high = values.reduce((x, y) => Math.max(x, y));
    return [{ type: 'scatter', mode: 'lines', name: 'B = A', x: [low, high], y: [low, high], hoverinfo: 'skip',
              line: { color: '#000', width: 1, dash: 'dot' } }];
  }

  function chartLayout() {
    const spec = KINDS[st.kind], axisType = spec.log ? 'log' : 'linear';
    return {
      xaxis: { type: axisType, title: { text: `A (${spec.unit})` } }, yaxis: { type: axisType, title: { text: `B (${spec.unit})` } },
      margin: { l: 60, r: 10, t: 10, b: 50 }, hovermode: 'closest', legend: { title: { text: spec.series } }, height: 480,
    };
  }

  let chartKey = null;
  /* Sorting and paging leave the points as they are: redraw the chart only when the match changes. */
  function drawChart(rows) {
    if (current.key === chartKey) return Promise.resolve();
    chartKey = current.key;
    const points = rows.filter((r) => r.ratio !== null);
    const spec = KINDS[st.kind];
    $('c-chart-title').textContent = `B vs A (${spec.unit}${spec.log ? ', log-log' : ''}): above the dotted line, B is higher`;
    const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['select2d', 'lasso2d'] };
    return Plotly.react('chart-compare', pointTraces(points).concat(equalLine(points)), chartLayout(), config);
  }

  /* ---- one redraw; body[data-drawn] counts them (tests wait on it) */
  let current = { key: null, result: null };
  /* The match depends only on the pair and the settings filters; sorting and paging reuse it. */
  function compared() {
    const key = JSON.stringify([st.kind, st.a, st.b, st.bench, st.mode]);
    if (current.key !== key) current = { key: key, result: compareRows() };
    return current.result;
  }

  function update() {
    const result = compared();
    LB.sortRows(result.rows, st.sort, st.dir);
    syncControls();
    drawCounts(result);
    drawTable(result.rows);
    writeHash();
    return drawChart(result.rows).then(() => {
      document.body.dataset.drawn = +(document.body.dataset.drawn || 0) + 1;
    });
  }

  function wire() {
    document.querySelectorAll('#compare select').forEach((s) => s.addEventListener('change', onControl));
    $('c-swap').addEventListener('click', () => {
      const raw = rawOf(st);
      st = resolve({ ...raw, a: raw.b, b: raw.a });
      update();
    });
    $('c-show-all').addEventListener('click', () => { showAll = true; drawTable(compared().rows); });
    $('comparison-head').addEventListener('click', (e) => {
      const th = e.target.closest('th');
      if (!th) return;
      st.dir = st.sort === th.dataset.key && st.dir === 'desc' ? 'asc' : 'desc';
      st.sort = th.dataset.key;
      update();
    });
    window.addEventListener('hashchange', () => { st = readHash(); update(); });
  }

  function readHash() {
    return resolve(Object.fromEntries(new URLSearchParams(location.hash.slice(1))));
  }

  st = readHash();
  wire();
  update();
})();
