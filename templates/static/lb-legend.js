/* One legend, in HTML, for the index's two main charts: the colours in view (fixed for the whole
   site, lb-core.js labelColours; the uncoloured rest as one grey entry, named in hover and the
   table), the marker of each compile mode in view, and the Pareto frontier's line. Plotly's own
   legend costs each redraw ~6 ms a chart (its entries are traces to lay out and measure); this one
   is rewritten only when what it says changes, and wraps on a phone. */
(function (LB) {
  'use strict';

  /* Points of a regular polygon (or a star, alternating two radii), as an SVG path, top first. */
  function polygon(corners, radius, inner) {
    const n = inner ? corners * 2 : corners;
    const points = Array.from({ length: n }, (_, i) => {
      const r = inner && i % 2 ? inner : radius, angle = Math.PI * (2 * i / n - 0.5);
      return `${(r * Math.cos(angle)).toFixed(2)},${(r * Math.sin(angle)).toFixed(2)}`;
    });
    return `<path d="M${points.join('L')}Z"/>`;
  }

  const PLUS = '<path d="M-1.6,-5H1.6V-1.6H5V1.6H1.6V5H-1.6V1.6H-5V-1.6H-1.6Z"/>';
  // plotly's marker symbols (lb-core.js SYMBOLS), drawn in a 12 px box centred on 0,0
  const SHAPES = {
    circle: '<circle r="4.5"/>', square: '<rect x="-4" y="-4" width="8" height="8"/>',
    diamond: '<path d="M0,-5.5L5.5,0L0,5.5L-5.5,0Z"/>', 'triangle-up': polygon(3, 5.5),
    star: polygon(5, 5.8, 2.4), cross: PLUS, x: `<g transform="rotate(45)">${PLUS}</g>`, pentagon: polygon(5, 5.2),
  };

  function mark(symbol, fill) {
    return `<svg class="mark" viewBox="-6 -6 12 12" aria-hidden="true" fill="${fill}" stroke="#333" stroke-width="0.6">` +
      (SHAPES[symbol] || SHAPES.circle) + '</svg>';
  }

  function entry(attributes, symbol, fill, text) {
    return `<li ${attributes}>${mark(symbol, fill)}${LB.esc(text)}</li>`;
  }

  /* [[label, colour]...]: the palette's labels in view in palette order, then the grey rest, then unknown. */
  function coloursInView(D, key, labels) {
    const palette = LB.labelColours(D, key);
    const rest = [...labels].filter((l) => l !== 'unknown' && !palette.has(l)).length;
    return [...palette.keys()].filter((l) => labels.has(l)).map((l) => [l, palette.get(l)])
      .concat(rest ? [[`other (${rest}: see hover)`, LB.GREY]] : [], labels.has('unknown') ? [['unknown', LB.UNKNOWN_GREY]] : []);
  }

  function legendHtml(D, key, labels, modes) {
    const colours = coloursInView(D, key, labels).map(([label, colour]) =>
      entry(`data-group="colour" data-colour="${colour}"`, 'circle', colour, label));
    const symbols = modes.map((c) => entry(`data-group="mode" data-symbol="${LB.SYMBOLS[c] || 'circle'}"`,
      LB.SYMBOLS[c], '#777', LB.labelOf(D, 'compile', c)));
    const frontier = '<li data-group="frontier"><svg class="mark" viewBox="-6 -6 12 12" aria-hidden="true">' +
      '<line x1="-6" x2="6" stroke="#000" stroke-width="1.5" stroke-dasharray="1.5 1.5"/></svg>Pareto frontier</li>';
    return (colours.length ? `<span class="legend-title">${LB.esc(key)}</span><ul>${colours.join('')}</ul>` : '') +
      (symbols.length ? '<span class="legend-title">compile mode (right chart)</span><ul>' + symbols.join('') + '</ul>' : '') +
      (colours.length ? `<ul>${frontier}</ul>` : '');
  }

  /* Rewrites #chart-legend for the charts' points ({row, mode}), colouring by `key` (family or norm). */
  let shown = null;
  function drawLegend(D, key, sized, fast) {
    const labels = new Set(sized.map((p) => p.row[key]).concat(fast.map((p) => p.row[key])));
    const modes = [...new Set(fast.map((p) => D.labels.compile.indexOf(p.mode)))].sort((a, b) => a - b);
    const html = legendHtml(D, key, labels, modes);
    if (html !== shown) document.getElementById('chart-legend').innerHTML = shown = html;
  }

  Object.assign(LB, { drawLegend });
})(window.LB);
