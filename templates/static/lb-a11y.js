/* Charts that phones and assistive technology can read. Every page draws its charts through
   Plotly.newPlot or Plotly.react, so both are wrapped here, once, for all pages:
   - on a narrow chart (a phone) the legend goes below the plot, where it takes height, not width;
   - each chart gets role="img", a name (its figure caption) and a text alternative, rewritten after
     every draw from what was drawn: the series, their point counts, axis extents, the models of
     short series (a Pareto frontier);
   - a redraw hands plotly its config only when it changed (plotly copies and compares it each time).
   Load this after plotly.js, before the page's script. */
(function (LB) {
  'use strict';
  const NARROW = 600;  // px: below this a legend beside the plot would squeeze it
  const NAMED = 10;    // series of at most this many points list their models

  function plainText(html) {
    return new DOMParser().parseFromString(String(html ?? ''), 'text/html').body.textContent;
  }

  function legendBelow(gd, layout) {
    // (a chart without a legend is not measured: reading its width would lay out the page mid-redraw)
    if (!layout || layout.showlegend === false || gd.clientWidth >= NARROW) return layout;
    return { ...layout, legend: { ...(layout.legend || {}), orientation: 'h', x: 0, xanchor: 'left', y: -0.2, yanchor: 'top' } };
  }

  function extent(values) {
    const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
    if (!finite.length) return null;
    const short = (v) => LB.fmt(Number(v.toPrecision(3)));
    const [lo, hi] = LB.extentOf(finite);
    return `${short(lo)} to ${short(hi)}`;
  }

  function axisTitle(layout, axis) {
    return plainText(layout[axis]?.title?.text || axis.replace('axis', ''));
  }

  function seriesText(trace, layout) {
    const n = (trace.x || []).filter((v) => v !== null && v !== undefined).length;
    // customdata holds the points' model names as they are (plotly never reads them as HTML)
    const models = n && n <= NAMED && trace.customdata ? ': ' + [...new Set(trace.customdata.map(String))].join(', ') : '';
    const x = extent(trace.x || []), y = extent(trace.y || []);
    const where = x && y ? `, ${axisTitle(layout, 'xaxis')} ${x}, ${axisTitle(layout, 'yaxis')} ${y}` : '';
    return `${plainText(trace.name) || 'points'}: ${n} point${n === 1 ? '' : 's'}${where}${models}`;
  }

  /* The traces as series: those of one legend group (a chart's points split by colour) are one,
     named by the group. */
  function seriesOf(traces) {
    const groups = new Map();
    traces.forEach((t, i) => {
      const key = t.legendgroup || i, seen = groups.get(key);
      if (!seen) groups.set(key, { name: t.legendgroup || t.name, x: t.x || [], y: t.y || [], customdata: t.customdata });
      else groups.set(key, { ...seen, x: seen.x.concat(t.x || []), y: seen.y.concat(t.y || []),
                             customdata: seen.customdata && t.customdata && seen.customdata.concat(t.customdata) });
    });
    return [...groups.values()];
  }

  /* The chart's text alternative: one sentence per series that has points. */
  function describe(gd) {
    const layout = gd.layout || {};
    const series = seriesOf(gd.data || []).filter((t) => t.x.some((v) => v !== null && v !== undefined));  // not legend-only entries
    const text = series.length ? series.map((t) => seriesText(t, layout)).join('. ') + '.' : 'No points to draw.';
    let alt = document.getElementById(gd.id + '-text');
    if (!alt) {
      alt = document.createElement('p');
      alt.id = gd.id + '-text';
      alt.className = 'chart-text';
      gd.after(alt);
    }
    alt.textContent = text;
    gd.setAttribute('role', 'img');
    gd.setAttribute('aria-describedby', alt.id);
    const caption = gd.closest('figure')?.querySelector('figcaption');
    if (caption) {  // named by its caption, which a page may rewrite
      caption.id = caption.id || gd.id + '-caption';
      gd.setAttribute('aria-labelledby', caption.id);
    } else {
      gd.setAttribute('aria-label', `Chart: ${axisTitle(layout, 'yaxis')} against ${axisTitle(layout, 'xaxis')}`);
    }
  }

  /* While the page loads, each chart after the first waits until the one before it has been painted:
     the first chart shows when it is drawn, not when the last one is. Once loaded, charts redraw at once. */
  let previous = null;
  // resolves once the browser has painted what is drawn so far (a task after the next frame)
  const afterPaint = () => new Promise((painted) => requestAnimationFrame(() => setTimeout(painted)));
  function inTurn(draw) {
    if (document.readyState === 'complete') return draw();
    previous = (previous ? previous.then(afterPaint, afterPaint) : Promise.resolve()).then(draw);
    return previous;
  }

  /* The config to hand plotly: none where a redraw's is the one the chart has, since Plotly.react given
     a config copies and compares the whole context and reads the chart's size (a page layout) first. */
  const configs = new WeakMap();  // chart → the config it was last given, as JSON
  function newConfig(name, gd, config) {
    const key = JSON.stringify(config ?? null), same = name === 'react' && gd._fullLayout && configs.get(gd) === key;
    configs.set(gd, key);
    return same ? undefined : config;
  }

  ['newPlot', 'react'].forEach((name) => {
    const draw = Plotly[name];
    Plotly[name] = function (target, data, layout, config) {
      const gd = typeof target === 'string' ? document.getElementById(target) : target;
      const given = newConfig(name, gd, config);
      return inTurn(() => draw.call(Plotly, gd, data, legendBelow(gd, layout), given)).then((drawn) => {
        LB.firstChartAt = LB.firstChartAt ?? performance.now();  // for bench/bench_site.py
        describe(drawn);
        return drawn;
      });
    };
  });

  LB.afterPaint = afterPaint;
})(window.LB);
