/* A model page opened from the index carries the index's settings in its URL hash (sources,
   bench, precision, layout, compile modes: lb-links.js puts them there); its links back to the
   index keep them, under each link's own keys (a result's group and setting, the model). */
(function () {
  'use strict';
  const kept = new URLSearchParams(location.hash.slice(1));
  [...kept.keys()].forEach((k) => { if (!kept.get(k)) kept.delete(k); });  // "#env-…" anchors are no settings
  if (!kept.toString()) return;
  document.querySelectorAll('a.index-link').forEach((a) => {
    const [path, own] = a.getAttribute('href').split('#');
    const merged = new URLSearchParams(kept);
    new URLSearchParams(own || '').forEach((value, key) => merged.set(key, value));
    a.setAttribute('href', path + '#' + merged.toString());
  });
})();
