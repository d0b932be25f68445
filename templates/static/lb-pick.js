/* Models picked for comparison: a checkbox beside each model in a table, the picks in the URL
   (the index's pick=…, the models page's models=…) and the link to models.html showing them side by side.
   A list of picks is written as names joined by commas, each name URI-encoded (a comma inside a name
   cannot split it): models.html#models=test_vit,test_resnet. */
(function (LB) {
  'use strict';

  function pickedNames(text) {
    if (!text) return [];
    return [...new Set(text.split(',').filter(Boolean).map((part) => {
      try { return decodeURIComponent(part); } catch (e) { return part; }  // a hand-edited URL may hold a bare %
    }))];
  }

  const pickText = (names) => names.map(encodeURIComponent).join(',');

  function modelsLink(names, root) {
    return (root || '') + 'models.html#models=' + pickText(names);
  }

  let cache = { text: null, names: new Set() };
  function isPicked(text, name) {
    if (cache.text !== text) cache = { text: text, names: new Set(pickedNames(text)) };
    return cache.names.has(name);
  }

  function pickBox(text, name) {
    const checked = isPicked(text, name) ? ' checked' : '';
    return `<input type="checkbox" class="pick" value="${LB.esc(name)}" aria-label="compare ${LB.esc(name)}"${checked}>`;
  }

  /* The picks after a checkbox changed: picked names keep their order, a new one goes last. */
  function togglePick(text, name, on) {
    const names = pickedNames(text).filter((n) => n !== name);
    return pickText(on ? names.concat(name) : names);
  }

  /* The bar above the table: what is picked, and the link to compare it (two models or more). */
  function drawPicks(text) {
    const names = pickedNames(text), bar = document.getElementById('pick-bar');
    bar.hidden = !names.length;
    bar.querySelector('.pick-names').textContent = names.join(', ');
    const link = bar.querySelector('.pick-link');
    link.href = modelsLink(names);
    link.textContent = names.length > 1 ? `Compare these ${names.length} models` : 'Open on the models page (pick one more to compare)';
  }

  Object.assign(LB, { pickedNames, pickText, modelsLink, pickBox, togglePick, drawPicks });
})(window.LB);
