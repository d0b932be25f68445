/* Leaderboard data: decode the page's columnar JSON, join accuracy with throughput, filter,
   sort and find Pareto frontiers. No DOM here (lb-view.js draws).
   The payload's keys are documented once, in render/payload.py's docstring (tests/test_site_data.py
   checks that it names every key the payload has). */
(function () {
  'use strict';

  // Okabe-Ito's colours (black and yellow left out: black draws the frontier, yellow is faint on
  // white), then five of Paul Tol's muted ones that stay apart from them: 12 labels told apart.
  const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00',
                   '#332288', '#999933', '#882255', '#44AA99', '#AA4499', '#DDCC77'];
  const GREY = '#999999', UNKNOWN_GREY = '#D0D0D0';
  // Marker per compile mode, in the order of the payload's compile labels (db/kinds.py COMPILE_MODES first).
  const SYMBOLS = ['circle', 'square', 'diamond', 'triangle-up', 'star', 'cross', 'x', 'pentagon'];
  const FIGURES = ['sps', 'cs', 'pm', 'x', 'tf', 'pk', 'bs'];  // per-mode figures of a row (see throughputBySize)

  function load(element) {
    const D = JSON.parse(element.textContent);
    D.accByGroup = D.groups.map(() => []);
    D.acc.m.forEach((_, i) => D.accByGroup[D.acc.g[i]].push(i));
    D.tpByGroup = D.groups.map(() => []);
    D.tp.m.forEach((_, i) => D.tpByGroup[D.tp.g[i]].push(i));
    D.gmacsAt = new Map(D.gmacs.m.map((m, i) => [m + '|' + D.gmacs.s[i], D.gmacs.v[i]]));
    D.groupIndex = new Map(D.groups.map((g, i) => [g.kind + ':' + g.key, i]));
    D.choiceCache = new Map();  // the data never changes: each list of choices is counted once
    return D;
  }

  function group(D, kind, key) {
    const i = D.groupIndex.get(kind + ':' + key);
    return i === undefined ? null : i;
  }

  /* Labels present in a throughput group for one setting column (b, c, p or l), most rows first,
     optionally only among rows matching `where` ({column: label index}). */
  function settingChoices(D, g, column, where) {
    const key = JSON.stringify([g, column, where || null]);
    if (!D.choiceCache.has(key)) D.choiceCache.set(key, countChoices(D, g, column, where));
    return D.choiceCache.get(key).slice();
  }

  function countChoices(D, g, column, where) {
    const counts = new Map();
    for (const i of (g === null ? [] : D.tpByGroup[g])) {
      if (where && Object.keys(where).some((k) => D.tp[k][i] !== where[k])) continue;
      counts.set(D.tp[column][i], (counts.get(D.tp[column][i]) || 0) + 1);
    }
    return [...counts.entries()].sort((a, b) => b[1] - a[1]).map((e) => e[0]);
  }

  function datasetChoices(D, g) {
    const key = JSON.stringify(['datasets', g]);
    if (!D.choiceCache.has(key)) {
      const found = new Set((g === null ? [] : D.accByGroup[g]).map((i) => D.acc.d[i]));
      D.choiceCache.set(key, [...found].sort((a, b) => a - b));
    }
    return D.choiceCache.get(key).slice();
  }

  /* The dense peak TFLOP/s of group g's device at precision p (render/devices.py), or null. */
  function peakOf(D, g, p) {
    D.peakAt = D.peakAt || new Map(D.figures.peaks.map(([pg, pp, tflops]) => [pg + '|' + pp, tflops]));
    return D.peakAt.get(g + '|' + p) ?? null;
  }

  /* Throughput row i's figures: samples/s, compile s, peak MB, speed-up over the setting's baseline
     mode, achieved TFLOP/s (GMACs × FLOPs per MAC of its bench × samples/s) and % of the device's
     peak; null where unknown. */
  function rowFigures(D, i) {
    const tp = D.tp;
    const gmacs = D.gmacsAt.get(tp.m[i] + '|' + tp.s[i]);
    const tf = gmacs && tp.sps[i] ? gmacs * D.figures.flops[D.labels.bench[tp.b[i]]] * tp.sps[i] / 1e3 : null;
    const peak = peakOf(D, tp.g[i], tp.p[i]);
    return { sps: tp.sps[i], cs: tp.cs[i], pm: tp.pm[i], x: tp.x[i], tf: tf, pk: tf && peak ? 100 * tf / peak : null, bs: tp.bs[i] };
  }

  /* Throughput of the selected group and setting, by "model|size": {sps: {mode: v}, cs: ..., ...FIGURES};
     the last one kept, since a new dataset or accuracy source joins the same (read-only) figures. */
  function throughputBySize(D, st) {
    const key = JSON.stringify([st.tg, st.bench, st.prec, st.layout, st.modes]);
    if (D.speedsFor?.key !== key) D.speedsFor = { key: key, speeds: speedsBySize(D, st) };
    return D.speedsFor.speeds;
  }

  function speedsBySize(D, st) {
    const out = new Map();
    if (st.tg === null) return out;
    for (const i of D.tpByGroup[st.tg]) {
      const tp = D.tp;
      if (tp.b[i] !== st.bench || tp.p[i] !== st.prec || tp.l[i] !== st.layout) continue;
      if (!st.modes.includes(tp.c[i])) continue;
      const key = tp.m[i] + '|' + tp.s[i];
      if (!out.has(key)) out.set(key, Object.assign({ m: tp.m[i], s: tp.s[i] }, ...FIGURES.map((f) => ({ [f]: {} }))));
      const mode = D.labels.compile[tp.c[i]], entry = out.get(key), figures = rowFigures(D, i);
      FIGURES.forEach((f) => { if (figures[f] !== null) entry[f][mode] = figures[f]; });
    }
    return out;
  }

  function makeRow(D, m, t, s, top1, top5, speed) {
    const row = {
      m: m, name: D.models.name[m], tag: D.labels.tag[t] || '', size: s, top1: top1, top5: top5,
      family: D.labels.family[D.models.family[m]], norm: D.labels.norm[D.models.norm[m]],
      params: D.models.params[m], gmacs: D.gmacsAt.get(m + '|' + s) ?? null, pareto: [],
    };
    for (const f of FIGURES) row[f] = speed ? speed[f] : {};  // (a loop: thousands of rows per join)
    return row;
  }

  /* One row per (model, weight tag, image size): accuracy of the selected group and dataset,
     joined on architecture + image size to the selected throughput; throughput-only rows too. */
  function joinedRows(D, st) {
    const speeds = throughputBySize(D, st);
    const rows = [];
    const matched = new Set();
    for (const i of (st.ag === null ? [] : D.accByGroup[st.ag])) {
      if (D.acc.d[i] !== st.ds) continue;
      const key = D.acc.m[i] + '|' + D.acc.s[i];
      matched.add(key);
      rows.push(makeRow(D, D.acc.m[i], D.acc.t[i], D.acc.s[i], D.acc.top1[i], D.acc.top5[i], speeds.get(key)));
    }
    for (const [key, speed] of speeds) {
      if (!matched.has(key)) rows.push(makeRow(D, speed.m, 0, speed.s, null, null, speed));
    }
    return rows;
  }

  /* Indices of points on the frontier: no other point is both better on y and on x
     (x smaller is better when `lowerX`, larger otherwise). */
  function pareto(points, lowerX) {
    const order = points.map((_, i) => i).sort((a, b) =>
      lowerX ? points[a].x - points[b].x || points[b].y - points[a].y
             : points[b].x - points[a].x || points[b].y - points[a].y);
    const front = [];
    let best = -Infinity;
    for (const i of order) {
      if (points[i].y > best) { front.push(i); best = points[i].y; }
    }
    return front;
  }

  function sortValue(row, column) {
    const colon = column.indexOf(':');  // "sps:eager": a per-mode figure
    if (colon > 0) return row[column.slice(0, colon)]?.[column.slice(colon + 1)] ?? null;
    if (column === 'model') return row.name + '.' + row.tag;
    if (column === 'pareto') return row.pareto.length || null;
    // as the source column reads: accuracy and throughput (3), accuracy only (2), throughput only (1)
    if (column === 'source') return (row.top1 !== null ? 2 : 0) + (Object.keys(row.sps).length ? 1 : 0) || null;
    return row[column] ?? null;
  }

  /* Sort in place; missing values always last, whatever the direction. */
  function sortRows(rows, column, dir) {
    const sign = dir === 'asc' ? 1 : -1;
    rows.sort((a, b) => {
      const x = sortValue(a, column), y = sortValue(b, column);
      if (x === null || y === null) return (x === null) - (y === null);
      if (typeof x === 'string') return sign * x.localeCompare(y);
      return sign * (x - y);
    });
    return rows;
  }

  /* Colour per label: the most frequent labels in view get the palette; the rest, and
     "unknown", are grey. Returns [[label, colour]...] in legend order. */
  function colourBuckets(rows, key) {
    const counts = new Map();
    rows.forEach((r) => counts.set(r[key], (counts.get(r[key]) || 0) + 1));
    const ranked = [...counts.entries()].filter((e) => e[0] !== 'unknown')
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const coloured = ranked.slice(0, COLOURS.length).map((e, i) => [e[0], COLOURS[i]]);
    return { coloured: coloured, rest: ranked.length > COLOURS.length || counts.has('unknown') };
  }

  /* Colour per label of a model column (family, norm) for the whole site: the labels with the most
     models in the data get the palette, so a family keeps its colour in both charts and under every
     filter; the rest are GREY, 'unknown' is UNKNOWN_GREY. Hover and the table name them all. */
  function labelColours(D, key) {
    D.labelColours = D.labelColours || {};
    if (!D.labelColours[key]) {
      const counts = new Map();
      D.models[key].forEach((i) => counts.set(D.labels[key][i], (counts.get(D.labels[key][i]) || 0) + 1));
      const ranked = [...counts.entries()].filter((e) => e[0] !== 'unknown')
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      D.labelColours[key] = new Map(ranked.slice(0, COLOURS.length).map((e, i) => [e[0], COLOURS[i]]));
    }
    return D.labelColours[key];
  }

  function labelColour(D, key, label) {
    return labelColours(D, key).get(label) || (label === 'unknown' ? UNKNOWN_GREY : GREY);
  }

  window.LB = { load, group, settingChoices, datasetChoices, joinedRows, pareto,
                sortRows, sortValue, colourBuckets, labelColours, labelColour, peakOf, rowFigures, GREY, UNKNOWN_GREY, SYMBOLS };
})();

/* Text, numbers and links shared by the pages' scripts (index, compare): still no DOM. */
(function (LB) {
  'use strict';

  function esc(value) {
    return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  // one formatter for all: toLocaleString builds a new one per call (~40 µs; thousands of hovers per draw)
  const GROUPED = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

  function fmt(value, digits) {
    if (value === null || value === undefined) return '';
    if (digits === undefined) return Math.abs(value) >= 1e4 ? GROUPED.format(Math.round(value)) : String(value);
    return Number(value).toFixed(digits);
  }

  /* Text for plotly titles, legend names and hover text, which plotly reads as HTML (<b>, <a href>,
     <br>): escaped. Plotly shows &lt; &gt; &amp; and numeric entities as the characters they stand
     for, but not &quot;, hence not esc() as it is. */
  function plotText(value) {
    return esc(value).replace(/&quot;/g, '&#34;');
  }

  /* A label list's entry, '' for none; and back: a label's index, null where it is not in the list. */
  function labelOf(D, kind, i) {
    return i === null || i === undefined ? '' : D.labels[kind][i];
  }

  function labelIndex(D, kind, label) {
    const i = D.labels[kind] ? D.labels[kind].indexOf(label) : -1;
    return i < 0 ? null : i;
  }

  /* A model page's path from the site's root (hashed file names for unusual model names). */
  function pagePath(D, m) {
    return 'models/' + encodeURIComponent(D.pages[m] || D.models.name[m] + '.html');
  }

  /* [smallest, largest] of `values`, in one pass: Math.min(...values) passes them as arguments, which
     overflows the call stack beyond about 100,000 values (an import of 200,000 rows). */
  function extentOf(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }

  Object.assign(LB, { esc, fmt, plotText, labelOf, labelIndex, pagePath, extentOf });
})(window.LB);
