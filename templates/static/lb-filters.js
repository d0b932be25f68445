/* The index's model filters (the selects, search with -negation, ranges, the toy-model switch) and
   the message shown when they leave nothing. The state keys are URL strings, as lb-view.js keeps them:
     params, gmacs, top1, sps   a range "min..max" (either side may be empty; sps: the fastest shown mode)
     toys                       "hide": leave out timm's test_* toy models
   Each filter is one check; the view keeps the rows passing all of them, and when none is left the
   first check after which nothing remained is the one named. */
(function (LB) {
  'use strict';

  const RANGES = {
    params: { label: 'params (M)', of: (r) => r.params },
    gmacs: { label: 'GMACs', of: (r) => r.gmacs },
    top1: { label: 'top-1 %', of: (r) => r.top1 },
    sps: { label: 'samples/s (fastest mode shown)', of: (r) => fastest(r.sps) },
  };
  const FILTER_KEYS = Object.keys(RANGES).concat('toys', 'model');  // model: one model by its exact name (lb-links.js)
  const TOY = /^test_/;

  function fastest(speeds) {
    const values = Object.values(speeds).filter((v) => v !== null);
    return values.length ? Math.max(...values) : null;
  }

  /* "0.5..10" → {min: 0.5, max: 10}; an empty or unreadable side is open (null); no range → null. */
  function parseRange(text) {
    if (!text) return null;
    const [min, max] = String(text).split('..').map((side) => (side === undefined || side.trim() === '' ? NaN : Number(side)));
    const range = { min: Number.isFinite(min) ? min : null, max: Number.isFinite(max) ? max : null };
    return range.min === null && range.max === null ? null : range;
  }

  /* Search words: all must be found, none of the "-word"s (a lone "-" is a word). */
  function searchTerms(q) {
    const words = (q || '').toLowerCase().split(/\s+/).filter(Boolean);
    return { want: words.filter((w) => !/^-./.test(w)), not: words.filter((w) => /^-./.test(w)).map((w) => w.slice(1)) };
  }

  function searchText(row) {
    return row.searchText || (row.searchText = (row.name + '.' + row.tag + ' ' + row.family + ' ' + row.norm).toLowerCase());
  }

  /* [key, test] per filter, in the order the empty state names them; tests built once per state. */
  function checks(st) {
    const list = [
      ['model', st.model && ((r) => r.name === st.model)],
      ['norm', st.norm && ((r) => r.norm === st.norm)],
      ['family', st.family && ((r) => r.family === st.family)],
      ['size', st.size && ((r) => String(r.size) === st.size)],
      ['toys', st.toys === 'hide' && ((r) => !TOY.test(r.name))],
    ];
    const terms = searchTerms(st.q);
    if (terms.want.length || terms.not.length) {
      list.push(['q', (r) => terms.want.every((w) => searchText(r).includes(w)) && !terms.not.some((w) => searchText(r).includes(w))]);
    }
    Object.entries(RANGES).forEach(([key, spec]) => {
      const range = parseRange(st[key]);
      // a bound leaves out the rows without that figure
      if (range) list.push([key, (r) => { const v = spec.of(r); return v !== null && v !== undefined && (range.min === null || v >= range.min) && (range.max === null || v <= range.max); }]);
    });
    return list.filter(([, test]) => test);
  }

  const compiled = new WeakMap();  // state object → its checks (a new state object per change)
  function checksOf(st) {
    if (!compiled.has(st)) compiled.set(st, checks(st));
    return compiled.get(st);
  }

  function matches(row, st) {
    return checksOf(st).every(([, test]) => test(row));
  }

  /* The filter that emptied the view: 'data' when nothing is stored for the compared sources and
     settings, else the first check after which no row was left; null when rows remain. */
  function emptiedBy(rows, st) {
    if (!rows.length) return 'data';
    let left = rows;
    for (const [key, test] of checksOf(st)) {
      left = left.filter(test);
      if (!left.length) return key;
    }
    return null;
  }

  function emptyText(key, st) {
    const quoted = (v) => '“' + v + '”';
    if (key === 'data') return 'Nothing is stored for these sources and settings: pick another accuracy source, dataset or hardware above.';
    if (key === 'model') return `${quoted(st.model)} has no result in these sources and settings.`;
    if (key === 'norm') return `No model in view has norm ${quoted(st.norm)}.`;
    if (key === 'family') return `No model in view is of family ${quoted(st.family)}.`;
    if (key === 'size') return `No result in view is at image size ${quoted(st.size)} px.`;
    if (key === 'toys') return 'Only test_* toy models are in view, and they are hidden.';
    if (key === 'q') return `No model in view matches the search ${quoted(st.q)}.`;
    const range = parseRange(st[key]);
    return `No result in view has ${RANGES[key].label} from ${range.min ?? 'any'} to ${range.max ?? 'any'}.`;
  }

  const $ = (id) => document.getElementById(id);

  /* The empty state: which filter emptied the view, a button clearing just that one (through the
     URL, which the view follows) and Reset. */
  function showEmpty(joined, shown, st) {
    const box = $('empty-state'), key = shown.length ? null : emptiedBy(joined, st);
    box.hidden = key === null;
    if (key === null) return;
    box.querySelector('.empty-text').textContent = emptyText(key, st);
    const clear = box.querySelector('.empty-clear');
    clear.hidden = key === 'data';
    clear.dataset.key = key;
  }

  function clearFilter(key) {
    const params = new URLSearchParams(location.hash.slice(1));
    params.delete(key);
    location.hash = params.toString();  // the view redraws on hashchange
  }

  /* A range or switch control's new URL value, read from its inputs. */
  function filterValue(key) {
    if (key === 'toys') return $('f-toys').checked ? 'hide' : '';
    const min = $(`f-${key}-min`).value.trim(), max = $(`f-${key}-max`).value.trim();
    return min || max ? `${min}..${max}` : '';
  }

  const round = (v) => (v === null ? '' : String(Number(v.toPrecision(3))));

  /* Per range, [min, max] of a list of rows (rounded for a placeholder); once per list: the view
     reuses its joined rows until what is compared changes. */
  const extents = new WeakMap();
  function extentsOf(rows) {
    if (!extents.has(rows)) {
      extents.set(rows, Object.fromEntries(Object.entries(RANGES).map(([key, spec]) => {
        const values = rows.map(spec.of).filter((v) => v !== null && v !== undefined);
        const [lo, hi] = LB.extentOf(values);
        return [key, { min: values.length ? round(lo) : '', max: values.length ? round(hi) : '' }];
      })));
    }
    return extents.get(rows);
  }

  /* Inputs follow the state; placeholders show the extent of what is compared, as a hint of scale. */
  function syncFilters(st, rows) {
    const extent = extentsOf(rows);
    Object.keys(RANGES).forEach((key) => {
      const range = parseRange(st[key]) || { min: null, max: null };
      ['min', 'max'].forEach((bound) => {
        const input = $(`f-${key}-${bound}`);
        if (document.activeElement !== input) input.value = range[bound] ?? '';
        input.placeholder = extent[key][bound];
      });
    });
    if ($('f-toys')) $('f-toys').checked = st.toys === 'hide';
  }

  function wireEmptyState() {
    $('empty-state').querySelector('.empty-clear').addEventListener('click', (e) => clearFilter(e.target.dataset.key));
    $('empty-state').querySelector('.empty-reset').addEventListener('click', () => $('reset').click());
  }

  Object.assign(LB, { FILTER_KEYS, parseRange, searchTerms, matches, emptiedBy, emptyText, showEmpty,
                      filterValue, syncFilters, wireEmptyState });
})(window.LB);
