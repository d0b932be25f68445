/* Compare models: the chosen models' figures side by side, one column per model. Rows are a setting
   the models share (facts; accuracy per source, dataset and image size; throughput per environment,
   setting and compile mode); a cell is empty where a model has no figure for it. The choice lives in
   the URL hash, #models=a,b (names URI-encoded, see lb-pick.js), so a link reproduces the view.
   The data is the index's payload (render/payload.py), decoded by lb-core.js. */
(function () {
  'use strict';
  const LB = window.LB;
  const D = LB.load(document.getElementById('leaderboard-data'));
  const $ = (id) => document.getElementById(id);
  const { esc, fmt } = LB;
  const labelOf = (kind, i) => LB.labelOf(D, kind, i);
  const modelIndex = new Map(D.models.name.map((name, m) => [name, m]));
  const MIN_MODELS = 2;

  /* ---- state: the chosen models (known names only, in the URL's order) */
  function readHash() {
    const raw = location.hash.slice(1).split('&').find((part) => part.startsWith('models='));
    return LB.pickedNames(raw ? raw.slice('models='.length) : '').filter((name) => modelIndex.has(name));
  }

  function writeHash(names) {
    const hash = '#models=' + LB.pickText(names);
    if (hash !== location.hash) history.replaceState(null, '', location.pathname + location.search + hash);
  }

  /* ---- rows: each kind's figures of the chosen models, by the setting they were measured at */
  function settingRows(cols, chosen, keyOf, figureOf) {
    const rows = new Map();
    cols.m.forEach((m, i) => {
      const column = chosen.indexOf(m);
      if (column < 0) return;
      const key = keyOf(i);
      if (!rows.has(key)) rows.set(key, { first: i, cells: chosen.map(() => []) });
      rows.get(key).cells[column].push(figureOf(i));
    });
    return [...rows.values()];
  }

  function accuracyRows(chosen) {
    const acc = D.acc;
    const rows = settingRows(acc, chosen, (i) => [acc.g[i], acc.d[i], acc.s[i]].join('|'),
                             (i) => ({ value: acc.top1[i], note: labelOf('tag', acc.t[i]) }));
    const order = (r) => [acc.g[r.first], labelOf('dataset', acc.d[r.first]), acc.s[r.first]];
    return sortBy(rows, order).map((r) => ({
      group: acc.g[r.first], cells: r.cells,
      setting: `${labelOf('dataset', acc.d[r.first])} · ${acc.s[r.first]} px`,
    }));
  }

  function throughputRows(chosen) {
    const tp = D.tp;
    const keyOf = (i) => [tp.g[i], tp.b[i], tp.p[i], tp.l[i], tp.s[i], tp.c[i]].join('|');
    const rows = settingRows(tp, chosen, keyOf, (i) => ({ value: tp.sps[i], note: '' }));
    const order = (r) => [tp.g[r.first], tp.b[r.first], tp.p[r.first], tp.l[r.first], tp.s[r.first], tp.c[r.first]];
    return sortBy(rows, order).map((r) => ({
      group: tp.g[r.first], cells: r.cells,
      setting: [labelOf('bench', tp.b[r.first]), labelOf('compile', tp.c[r.first]), labelOf('precision', tp.p[r.first]),
                labelOf('layout', tp.l[r.first]), tp.s[r.first] + ' px'].join(' · '),
    }));
  }

  function sortBy(rows, keyOf) {
    const compare = (a, b) => (typeof a === 'string' ? a.localeCompare(b) : a - b);
    return rows.map((r) => [keyOf(r), r]).sort((x, y) => {
      const i = x[0].findIndex((v, k) => v !== y[0][k]);
      return i < 0 ? 0 : compare(x[0][i], y[0][i]);
    }).map((pair) => pair[1]);
  }

  /* ---- tables */
  function head(id, first, chosen) {
    const models = chosen.map((m) => `<th scope="col"><a href="${esc(LB.pagePath(D, m))}">${esc(D.models.name[m])}</a></th>`);
    $(id + '-head').innerHTML = `<tr>${first.map((t) => `<th scope="col">${esc(t)}</th>`).join('')}${models.join('')}</tr>`;
  }

  const bestOf = (figures) => {
    const values = figures.map((f) => f.value).filter((v) => v !== null);
    return values.length ? Math.max(...values) : null;
  };

  /* A cell: the figure(s) (several weight tags: best first), the row's best in bold, and the ratio to
     the first model's best figure (`reference`; null in the first model's column). */
  function figureCell(figures, best, reference) {
    const lines = figures.slice().sort((a, b) => b.value - a.value).map((f) => {
      const ratio = reference && f.value !== null ? ` <span class="muted">${(f.value / reference).toFixed(2)}×</span>` : '';
      const note = f.note ? ` <span class="tag">(${esc(f.note)})</span>` : '';
      const text = `${esc(fmt(f.value))}${note}${ratio}`;
      return f.value === best ? `<strong>${text}</strong>` : text;
    });
    return `<td class="num">${lines.join('<br>')}</td>`;
  }

  function figureRows(rows, columns) {
    let group = null;
    return rows.map((r) => {
      const best = r.cells.filter((c) => c.length).length > 1 ? bestOf(r.cells.flat()) : null;  // bold only beside another
      const reference = bestOf(r.cells[0]);
      const heading = r.group !== group ? `<tr class="group"><th scope="colgroup" colspan="${columns}">${esc(D.groups[r.group].label)}</th></tr>` : '';
      group = r.group;
      return heading + `<tr><td>${esc(r.setting)}</td>${r.cells.map((c, k) => figureCell(c, best, k ? reference : null)).join('')}</tr>`;
    }).join('');
  }

  function factsRows(chosen) {
    const gmacs = (m) => D.gmacs.m.map((x, i) => (x === m ? `${fmt(D.gmacs.v[i])} at ${D.gmacs.s[i]} px` : null)).filter(Boolean).join(', ');
    const facts = [['family', (m) => labelOf('family', D.models.family[m])], ['norm', (m) => labelOf('norm', D.models.norm[m])],
                   ['params (M)', (m) => fmt(D.models.params[m])], ['GMACs', gmacs]];
    return facts.map(([label, of]) => `<tr><td>${esc(label)}</td>${chosen.map((m) => `<td>${esc(of(m))}</td>`).join('')}</tr>`).join('');
  }

  function drawTables(chosen) {
    head('m-facts', ['fact'], chosen);
    ['m-accuracy', 'm-throughput'].forEach((id) => head(id, ['setting'], chosen));
    $('m-facts-body').innerHTML = factsRows(chosen);
    $('m-accuracy-body').innerHTML = figureRows(accuracyRows(chosen), chosen.length + 1) || emptyRow(chosen, 'accuracy');
    $('m-throughput-body').innerHTML = figureRows(throughputRows(chosen), chosen.length + 1) || emptyRow(chosen, 'throughput');
  }

  const emptyRow = (chosen, kind) => `<tr><td colspan="${chosen.length + 1}" class="empty">No ${kind} results stored for these models.</td></tr>`;

  /* ---- the choice: chips with a remove button, and the add box */
  function drawChosen(names) {
    $('m-chosen').innerHTML = names.map((n) =>
      `<span class="chip">${esc(n)} <button type="button" data-remove="${esc(n)}" aria-label="remove ${esc(n)}">×</button></span>`).join(' ');
    const missing = MIN_MODELS - names.length;
    $('m-empty').hidden = missing <= 0;
    $('m-empty').textContent = missing > 0 ? `Pick ${missing === 1 && names.length ? 'one more model' : 'two models or more'} to compare: add them above, or tick them in the leaderboard's table.` : '';
  }

  function update(names) {
    writeHash(names);
    drawChosen(names);
    const chosen = names.map((n) => modelIndex.get(n));
    $('m-views').hidden = !chosen.length;
    if (chosen.length) drawTables(chosen);
    document.body.dataset.drawn = +(document.body.dataset.drawn || 0) + 1;
  }

  function add() {
    const name = $('m-add').value.trim(), names = readHash();
    if (!modelIndex.has(name)) {
      $('m-empty').hidden = false;
      $('m-empty').textContent = `No model named “${name}” is stored: pick one from the list.`;
      return;
    }
    $('m-add').value = '';
    if (!names.includes(name)) names.push(name);
    update(names);
  }

  function wire() {
    $('m-names').innerHTML = D.models.name.map((n) => `<option value="${esc(n)}"></option>`).join('');
    $('m-add-button').addEventListener('click', add);
    $('m-add').addEventListener('keydown', (e) => { if (e.key === 'Enter') add(); });
    $('m-chosen').addEventListener('click', (e) => {
      const name = e.target.dataset.remove;
      if (name !== undefined) update(readHash().filter((n) => n !== name));
    });
    window.addEventListener('hashchange', () => update(readHash()));
  }

  wire();
  update(readHash());
})();
