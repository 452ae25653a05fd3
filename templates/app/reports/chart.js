// ---- Reports: a small SVG bar chart -------------------------------------------------------------
// Drawn here rather than by a charting library: no CDN, nothing to vendor, and the CSP allows no
// inline styles (SVG presentation attributes are fine). Each bar has a <title> for its figure; the
// page offers the same numbers as a table for screen readers and copying.

var NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, text) {
  var el = document.createElementNS(NS, tag);
  Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
  if (text !== undefined) el.textContent = text;
  return el;
}

// A tick step of 1, 2 or 5 times a power of ten that gives about four lines.
function niceStep(max) {
  if (max <= 0) return 1;
  var raw = max / 4;
  var power = Math.pow(10, Math.floor(Math.log10(raw)));
  var steps = [1, 2, 5, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * power >= raw) return steps[i] * power;
  return 10 * power;
}

// points: [{ label, short, value }] (value null: no figure); format(value) for ticks and titles.
export function barChart(points, options) {
  var width = 720;
  var height = 220;
  var left = 56;
  var bottom = 28;
  var top = 10;
  var plotW = width - left - 8;
  var plotH = height - top - bottom;
  var values = points.map(function (p) { return p.value || 0; });
  var max = Math.max.apply(null, values.concat([0]));
  var step = niceStep(max);
  var ceiling = Math.max(step, Math.ceil(max / step) * step);
  var svg = s('svg', {
    viewBox: '0 0 ' + width + ' ' + height, class: 'chart', role: 'img',
    'aria-label': options.label, preserveAspectRatio: 'none', 'data-testid': options.testid || 'chart'
  });
  for (var v = 0; v <= ceiling + 1e-9; v += step) {
    var y = top + plotH - (v / ceiling) * plotH;
    svg.appendChild(s('line', { x1: left, x2: width - 8, y1: y, y2: y, class: 'chart-grid' }));
    svg.appendChild(s('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-tick' }, options.format(v)));
  }
  var slot = plotW / Math.max(points.length, 1);
  var barW = Math.max(1, Math.min(40, slot * 0.7));
  // Label every nth period so labels never overlap.
  var every = Math.max(1, Math.ceil(points.length / 12));
  points.forEach(function (p, i) {
    var x = left + i * slot + (slot - barW) / 2;
    var value = p.value || 0;
    var h = ceiling ? (value / ceiling) * plotH : 0;
    var bar = s('rect', {
      x: x, y: top + plotH - h, width: barW, height: Math.max(h, value ? 1 : 0),
      class: 'chart-bar', 'data-value': p.value === null ? '' : p.value
    });
    bar.appendChild(s('title', {}, p.label + ': ' + (p.value === null ? 'no figure' : options.format(p.value))));
    svg.appendChild(bar);
    if (i % every === 0) {
      svg.appendChild(s('text', { x: left + i * slot + slot / 2, y: height - 8, 'text-anchor': 'middle', class: 'chart-tick' }, p.short));
    }
  });
  svg.appendChild(s('line', { x1: left, x2: width - 8, y1: top + plotH, y2: top + plotH, class: 'chart-axis' }));
  return svg;
}
