/* charts.js — small SVG charts for the function page's metrics.
 *
 * Series over time as bars (counts) or lines (durations), drawn as SVG
 * elements made through the DOM, so no inline style or script is needed
 * under the console's Content-Security-Policy. Each bar and point carries
 * its value (data-v) and time (a <title>) so a reader, or a test, can tell
 * what it shows.
 */
'use strict';

const NimbusCharts = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 560, H = 160, L = 44, R = 8, T = 10, B = 22;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function hhmm(iso) {
    const d = new Date(iso);
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  /* A chart of `series` ([{key, label, cls}]) over `points` (the metrics
   * API's Points): kind 'bar' or 'line'. Returns a <figure>. */
  function draw(title, points, series, kind, unit) {
    const fig = document.createElement('figure');
    fig.className = 'chart';
    const cap = document.createElement('figcaption');
    cap.textContent = title;
    fig.appendChild(cap);
    const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, fig);
    let max = 0;
    for (const p of points) for (const s of series) if (p[s.key] != null) max = Math.max(max, p[s.key]);
    max = niceMax(max);
    const n = Math.max(points.length, 1);
    const pw = (W - L - R) / n;
    const y = (v) => T + (H - T - B) * (1 - v / max);
    el('line', { x1: L, y1: y(0), x2: W - R, y2: y(0), class: 'axis' }, svg);
    for (const f of [0.5, 1]) {
      el('line', { x1: L, y1: y(max * f), x2: W - R, y2: y(max * f), class: 'grid' }, svg);
      el('text', { x: L - 4, y: y(max * f) + 4, class: 'tick', 'text-anchor': 'end' }, svg).textContent =
        (max * f) + (unit || '');
    }
    const step = Math.ceil(n / 6);
    points.forEach((p, i) => {
      if (i % step === 0)
        el('text', { x: L + i * pw + pw / 2, y: H - 6, class: 'tick', 'text-anchor': 'middle' }, svg).textContent = hhmm(p.Time);
    });
    series.forEach((s, si) => {
      if (kind === 'bar') {
        const bw = Math.max(pw / series.length - 1, 1);
        points.forEach((p, i) => {
          const v = p[s.key] || 0;
          const r = el('rect', { x: L + i * pw + si * (bw + 1), y: y(v), width: bw, height: y(0) - y(v),
                                 class: 'bar ' + s.cls, 'data-v': v }, svg);
          el('title', {}, r).textContent = `${hhmm(p.Time)} ${s.label}: ${v}`;
        });
      } else {
        let d = '';
        points.forEach((p, i) => {
          const v = p[s.key];
          if (v == null) return;
          const x = L + i * pw + pw / 2;
          d += (d ? ' L' : 'M') + x.toFixed(1) + ' ' + y(v).toFixed(1);
          const c = el('circle', { cx: x, cy: y(v), r: 2.5, class: 'pt ' + s.cls, 'data-v': v }, svg);
          el('title', {}, c).textContent = `${hhmm(p.Time)} ${s.label}: ${v.toFixed(2)}${unit || ''}`;
        });
        if (d) el('path', { d, class: 'line ' + s.cls }, svg);
      }
    });
    const legend = document.createElement('div');
    legend.className = 'legend';
    for (const s of series) {
      const k = document.createElement('span');
      k.className = 'key ' + s.cls;
      k.textContent = s.label;
      legend.appendChild(k);
    }
    fig.appendChild(legend);
    return fig;
  }

  return { draw };
})();
