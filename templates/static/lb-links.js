/* Links between the index and the model pages. The index's settings (what is compared: sources,
   dataset, bench, precision, layout, compile modes, colouring) travel in a model page's URL hash,
   and that page's links back to the index restore them (assets/lb-model.js); a chart point opens its
   model's page; `model=NAME` in the index's hash shows exactly that model. */
(function (LB) {
  'use strict';

  const KEPT = ['ag', 'ds', 'tg', 'bench', 'prec', 'layout', 'modes', 'color'];

  /* The index's settings as they stand in its URL hash (only those that differ from the defaults). */
  function keptSettings() {
    const now = new URLSearchParams(location.hash.slice(1)), kept = new URLSearchParams();
    KEPT.forEach((k) => { if (now.has(k)) kept.set(k, now.get(k)); });
    return kept.toString();
  }

  function withSettings(path) {
    const kept = keptSettings();
    return path.split('#')[0] + (kept ? '#' + kept : '');
  }

  /* Model links get the settings when they are about to be followed (pointer down, keyboard focus):
     the hash is current then, whatever was redrawn since the link was made. */
  function followSettings(event) {
    const a = event.target.closest && event.target.closest('a[href^="models/"]');
    if (a) a.setAttribute('href', withSettings(a.getAttribute('href')));
  }

  /* A click on a chart point opens its model's page (the points' customdata is the model name). */
  function openOnClick(D, chart) {
    if (chart.dataset.clickThrough || !chart.on) return;
    chart.dataset.clickThrough = '1';
    chart.on('plotly_click', (event) => {
      const m = D.models.name.indexOf(event.points?.[0]?.customdata);
      if (m >= 0) location.href = withSettings(LB.pagePath(D, m));
    });
  }

  /* "Only NAME" beside the filters while model=NAME narrows the view, with a way out. */
  function syncModelOnly() {
    const name = new URLSearchParams(location.hash.slice(1)).get('model');
    document.getElementById('f-model-only').hidden = !name;
    document.getElementById('f-model-name').textContent = name || '';
  }

  function clearModel() {
    const params = new URLSearchParams(location.hash.slice(1));
    params.delete('model');
    location.hash = params.toString();  // the view redraws on hashchange
  }

  function wireLinks(D) {
    document.addEventListener('pointerdown', followSettings, true);
    document.addEventListener('focusin', followSettings, true);
    document.getElementById('f-model-clear').addEventListener('click', clearModel);
    document.addEventListener('leaderboard:drawn', () => {
      document.querySelectorAll('.charts .chart').forEach((chart) => openOnClick(D, chart));
      syncModelOnly();
    });
    document.addEventListener('speedups:drawn', () => {  // drawn later, apart (lb-speedups.js)
      document.querySelectorAll('.speedups .chart').forEach((chart) => openOnClick(D, chart));
    });
  }

  LB.wireLinks = wireLinks;
})(window.LB);
