// ---- Reports (/reports) -------------------------------------------------------------------------
// What a support lead manages with: an overview of the period against the one before, a chart
// over time, the busiest hours and a breakdown by agent, team, inbox, channel or label, each with
// a CSV download. Admins (and every agent where the hub allows it) read everything; other agents
// read their own figures. The period, filter and views live in the address, so a reload or a
// shared link shows the same report. Days are the browser's time zone.

import { api, clear, h, route, session } from '../core.js';
import { fetchAll, nextId } from '../shared.js';
import { alertBox, alive, showError } from '../admin/ui.js';
import { barChart } from './chart.js';

route('/reports', reportsPage);

var TZ = (function () {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { return 'UTC'; }
})();

var PRESETS = [
  ['today', 'Today'], ['yesterday', 'Yesterday'], ['7d', 'Last 7 days'], ['30d', 'Last 30 days'],
  ['this_month', 'This month'], ['last_month', 'Last month'], ['custom', 'Custom dates']
];

// [key, label, format, higher is better (null: neither)]
var CARDS = [
  ['conversations_opened', 'Conversations opened', 'count', null],
  ['conversations_resolved', 'Resolved', 'count', true],
  ['conversations_reopened', 'Reopened', 'count', false],
  ['first_response_avg_secs', 'Avg first response', 'duration', false],
  ['resolution_avg_secs', 'Avg resolution time', 'duration', false],
  ['replies_per_resolution', 'Replies per resolution', 'decimal', false],
  ['csat_score', 'Satisfied customers', 'percent', true],
  ['sla_met_rate', 'SLA targets met', 'percent', true],
  ['messages_in', 'Customer messages', 'count', null],
  ['messages_out', 'Replies sent', 'count', null]
];

var METRICS = [
  ['conversations_opened', 'Conversations opened', 'count'],
  ['conversations_resolved', 'Conversations resolved', 'count'],
  ['messages_in', 'Customer messages', 'count'],
  ['messages_out', 'Replies sent', 'count'],
  ['first_response_avg_secs', 'Avg first response', 'duration'],
  ['resolution_avg_secs', 'Avg resolution time', 'duration'],
  ['csat_score', 'Satisfied customers (%)', 'percent'],
  ['sla_met_rate', 'SLA targets met (%)', 'percent']
];

var BREAKDOWNS = [['agent', 'Agents'], ['team', 'Teams'], ['inbox', 'Inboxes'], ['channel', 'Channels'], ['label', 'Labels']];
var DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

function pad(n) { return (n < 10 ? '0' : '') + n; }
function dateText(d) { return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()); }
function addDays(d, n) { var c = new Date(d.getFullYear(), d.getMonth(), d.getDate()); c.setDate(c.getDate() + n); return c; }

// The dates of a preset, in the browser's time zone.
function presetRange(key) {
  var today = new Date();
  var first = new Date(today.getFullYear(), today.getMonth(), 1);
  switch (key) {
    case 'today': return [dateText(today), dateText(today)];
    case 'yesterday': return [dateText(addDays(today, -1)), dateText(addDays(today, -1))];
    case '30d': return [dateText(addDays(today, -29)), dateText(today)];
    case 'this_month': return [dateText(first), dateText(today)];
    case 'last_month': return [dateText(new Date(first.getFullYear(), first.getMonth() - 1, 1)), dateText(addDays(first, -1))];
    default: return [dateText(addDays(today, -6)), dateText(today)];
  }
}

export function duration(secs) {
  if (secs === null || secs === undefined) return '—';
  if (secs < 60) return Math.round(secs) + ' s';
  var m = Math.round(secs / 60);
  if (m < 60) return m + ' min';
  var hrs = Math.floor(m / 60);
  if (hrs < 48) return hrs + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
  var d = Math.floor(hrs / 24);
  return d + ' d' + (hrs % 24 ? ' ' + (hrs % 24) + ' h' : '');
}

function show(value, format) {
  if (value === null || value === undefined) return '—';
  if (format === 'duration') return duration(value);
  if (format === 'percent') return value.toLocaleString() + ' %';
  if (format === 'decimal') return value.toLocaleString(undefined, { maximumFractionDigits: 2 });
  return value.toLocaleString();
}

// "▲ 12 %" against the previous period, marked good or bad where that has a meaning.
function delta(now, before, better) {
  if (now === null || now === undefined || before === null || before === undefined) return null;
  if (now === before) return h('span', { class: 'delta same' }, 'no change');
  if (!before) return h('span', { class: 'delta' }, 'was 0');
  var pct = Math.round(((now - before) / Math.abs(before)) * 100);
  var up = now > before;
  var kind = better === null ? '' : (up === better ? ' good' : ' bad');
  return h('span', { class: 'delta' + kind },
    h('span', { 'aria-hidden': 'true' }, up ? '▲ ' : '▼ '),
    h('span', { class: 'visually-hidden' }, up ? 'up ' : 'down '),
    Math.abs(pct) + ' %');
}

function csvLink(path, what) {
  return h('a', { href: path + (path.indexOf('?') < 0 ? '?' : '&') + 'format=csv', class: 'csv-link', download: '', 'data-testid': 'csv-' + what },
    'Download CSV', h('span', { class: 'visually-hidden' }, ' (' + what + ')'));
}

// /reports
export function reportsPage(main) {
  document.title = 'Reports · Switchboard';
  var own = session.reports === 'own';
  if (session.reports === 'none') {
    main.appendChild(h('div', { class: 'page' }, h('h1', { tabindex: '-1' }, 'Reports'),
      h('p', { class: 'empty' }, 'Reports are for admins on this hub.')));
    return;
  }
  var params = new URLSearchParams(location.search);
  var preset = params.get('preset') || (params.get('from') ? 'custom' : '7d');
  if (!PRESETS.some(function (p) { return p[0] === preset; })) preset = '7d';
  var initial = preset === 'custom' ? [params.get('from') || presetRange('7d')[0], params.get('to') || presetRange('7d')[1]] : presetRange(preset);
  var state = {
    preset: preset, from: initial[0], to: initial[1], filter: own ? '' : (params.get('filter') || ''),
    interval: params.get('interval') || 'day', metric: params.get('metric') || 'conversations_opened',
    by: own ? 'agent' : (params.get('by') || 'agent'),
    // Each section draws only its newest answer (a slow older one is dropped).
    tokens: { summary: 0, series: 0, heat: 0, breakdown: 0 }
  };
  function ticket(section) { state.tokens[section] += 1; return state.tokens[section]; }
  function current(section, n) { return alive(main) && state.tokens[section] === n; }
  if (!METRICS.some(function (m) { return m[0] === state.metric; })) state.metric = 'conversations_opened';
  if (!BREAKDOWNS.some(function (b) { return b[0] === state.by; })) state.by = 'agent';
  if (['hour', 'day', 'week'].indexOf(state.interval) < 0) state.interval = 'day';

  var presetSel = h('select', { id: 'reports-preset', 'data-testid': 'reports-preset' },
    PRESETS.map(function (p) { return h('option', { value: p[0] }, p[1]); }));
  presetSel.value = state.preset;
  var fromIn = h('input', { type: 'date', id: 'reports-from', value: state.from, 'data-testid': 'reports-from', required: true });
  var toIn = h('input', { type: 'date', id: 'reports-to', value: state.to, 'data-testid': 'reports-to', required: true });
  var filterSel = h('select', { id: 'reports-filter', 'data-testid': 'reports-filter' }, h('option', { value: '' }, 'Everything'));
  var alert = alertBox('reports-error');
  var compared = h('p', { class: 'muted small', 'data-testid': 'reports-compared' });
  var cards = h('ul', { class: 'report-cards', 'data-testid': 'report-cards', 'aria-label': 'Figures of the period' });
  var intervalSel = h('select', { id: 'reports-interval', 'data-testid': 'reports-interval' },
    [['hour', 'By hour'], ['day', 'By day'], ['week', 'By week']].map(function (o) { return h('option', { value: o[0] }, o[1]); }));
  intervalSel.value = state.interval;
  var metricSel = h('select', { id: 'reports-metric', 'data-testid': 'reports-metric' },
    METRICS.map(function (m) { return h('option', { value: m[0] }, m[1]); }));
  metricSel.value = state.metric;
  var chartBox = h('div', { class: 'chart-box', 'data-testid': 'chart-box' });
  var chartNote = h('p', { class: 'muted small', 'aria-live': 'polite' });
  var seriesTable = h('details', { class: 'series-table' });
  // Scrollable tables take focus, so keyboards scroll them too.
  var heat = h('div', { class: 'table-wrap', 'data-testid': 'heatmap', tabindex: '0', role: 'region', 'aria-label': 'Busiest hours table' });
  var tabs = h('div', { class: 'tabs breakdown-tabs', role: 'group', 'aria-label': 'Break down by' });
  var breakdownBox = h('div', { class: 'table-wrap', 'data-testid': 'breakdown', tabindex: '0', role: 'region', 'aria-label': 'Breakdown table' });
  var links = { summary: h('span'), series: h('span'), heat: h('span'), breakdown: h('span') };

  var heading = function (text, id) { return h('h2', { id: id }, text); };
  var ids = { overview: nextId('rep'), time: nextId('rep'), heat: nextId('rep'), by: nextId('rep') };
  main.appendChild(h('div', { class: 'page reports-page' },
    h('h1', { tabindex: '-1' }, 'Reports'),
    h('p', { class: 'muted intro' }, own
      ? 'Your own figures: your replies and the conversations assigned to you. Days in ' + TZ + '.'
      : 'Volume, response times, satisfaction and SLA of your inboxes. Days in ' + TZ + '.'),
    h('div', { class: 'report-filters', role: 'group', 'aria-label': 'Period and filter' },
      h('label', { for: 'reports-preset' }, 'Period'), presetSel,
      h('label', { for: 'reports-from' }, 'From'), fromIn,
      h('label', { for: 'reports-to' }, 'To'), toIn,
      own ? null : [h('label', { for: 'reports-filter' }, 'Show'), filterSel]),
    alert,
    h('section', { class: 'card report-section', 'aria-labelledby': ids.overview },
      h('div', { class: 'section-head' }, heading('Overview', ids.overview), links.summary),
      compared, cards),
    h('section', { class: 'card report-section', 'aria-labelledby': ids.time },
      h('div', { class: 'section-head' }, heading('Over time', ids.time), links.series),
      h('div', { class: 'report-filters' },
        h('label', { for: 'reports-metric' }, 'Figure'), metricSel,
        h('label', { for: 'reports-interval' }, 'Step'), intervalSel),
      chartBox, chartNote, seriesTable),
    h('section', { class: 'card report-section', 'aria-labelledby': ids.heat },
      h('div', { class: 'section-head' }, heading('Busiest hours', ids.heat), links.heat),
      h('p', { class: 'muted small' }, 'Customer messages per weekday and hour of the period.'),
      heat),
    h('section', { class: 'card report-section', 'aria-labelledby': ids.by },
      h('div', { class: 'section-head' }, heading(own ? 'You' : 'Breakdown', ids.by), links.breakdown),
      own ? null : tabs, breakdownBox)));

  if (!own) {
    BREAKDOWNS.forEach(function (b) {
      tabs.appendChild(h('button', {
        type: 'button', class: 'tab', 'aria-pressed': String(b[0] === state.by), 'data-by': b[0], 'data-testid': 'breakdown-' + b[0],
        onclick: function () {
          state.by = b[0];
          Array.prototype.forEach.call(tabs.children, function (t) { t.setAttribute('aria-pressed', String(t.dataset.by === state.by)); });
          remember(); loadBreakdown().catch(function (err) { showError(alert, err); });
        }
      }, b[1]));
    });
    // The filter's choices: inboxes, channels, teams, agents, labels (what the caller may list).
    var lists = [
      ['inbox', 'Inboxes', '/api/v1/inboxes'], ['team', 'Teams', '/api/v1/teams'],
      ['agent', 'Agents', '/api/v1/agents'], ['label', 'Labels', '/api/v1/labels']
    ];
    Promise.all(lists.map(function (l) { return fetchAll(l[2]).catch(function () { return []; }); })).then(function (all) {
      if (!alive(main)) return;
      var channels = {};
      all[0].forEach(function (i) { channels[i.channel_type] = true; });
      var names = { api: 'API', widget: 'Website widget', telegram: 'Telegram', whatsapp: 'WhatsApp', email: 'Email' };
      var chanKeys = Object.keys(channels).sort();
      if (chanKeys.length) {
        filterSel.appendChild(h('optgroup', { label: 'Channels' }, chanKeys.map(function (c) { return h('option', { value: 'channel:' + c }, names[c] || c); })));
      }
      lists.forEach(function (l, i) {
        if (!all[i].length) return;
        filterSel.appendChild(h('optgroup', { label: l[1] }, all[i].map(function (item) {
          return h('option', { value: l[0] + ':' + item.id }, item.name || item.email || ('#' + item.id));
        })));
      });
      filterSel.value = state.filter;
      // A filter the caller cannot choose (a deleted inbox, a hand-edited address): show
      // everything, as the select says.
      if (filterSel.value !== state.filter) { state.filter = ''; filterSel.value = ''; remember(); load(); }
    });
  }

  function query(extra) {
    var p = new URLSearchParams();
    p.set('from', state.from);
    p.set('to', state.to);
    p.set('tz', TZ);
    if (state.filter) {
      var parts = state.filter.split(':');
      p.set(parts[0] === 'channel' ? 'channel' : parts[0] + '_id', parts[1]);
    }
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return p.toString();
  }

  function remember() {
    var p = new URLSearchParams();
    if (state.preset !== '7d') p.set('preset', state.preset);
    if (state.preset === 'custom') { p.set('from', state.from); p.set('to', state.to); }
    if (state.filter) p.set('filter', state.filter);
    if (state.interval !== 'day') p.set('interval', state.interval);
    if (state.metric !== 'conversations_opened') p.set('metric', state.metric);
    if (state.by !== 'agent') p.set('by', state.by);
    var q = p.toString();
    history.replaceState(history.state, '', '/reports' + (q ? '?' + q : ''));
  }

  function setLink(slot, path, what) { clear(slot).appendChild(csvLink(path, what)); }

  function loadSummary() {
    var token = ticket('summary');
    var path = '/api/v1/reports/summary?' + query();
    setLink(links.summary, path, 'overview');
    clear(cards).appendChild(h('li', { class: 'report-card muted' }, 'Loading…'));
    return api('GET', path).then(function (r) {
      if (!current('summary', token)) return;
      clear(cards);
      var prev = r.previous_range;
      compared.textContent = prev ? 'Compared with ' + prev.from + ' to ' + prev.to + '.' : '';
      CARDS.forEach(function (c) {
        var now = r.figures[c[0]];
        var before = r.previous ? r.previous[c[0]] : null;
        var sub = null;
        if (c[0] === 'csat_score') sub = r.figures.csat_answers + ' of ' + r.figures.csat_sent + ' answered' + (r.figures.csat_average !== null ? ' · avg ' + r.figures.csat_average + '/5' : '');
        if (c[0] === 'sla_met_rate') sub = r.figures.sla_met + ' met · ' + r.figures.sla_breached + ' breached';
        if (c[0] === 'first_response_avg_secs') sub = r.figures.first_responses + ' first responses';
        cards.appendChild(h('li', { class: 'report-card', 'data-testid': 'card-' + c[0] },
          h('span', { class: 'report-card-label' }, c[1]),
          h('span', { class: 'report-card-value', 'data-testid': 'value-' + c[0] }, show(now, c[2])),
          delta(now, before, c[3]),
          sub ? h('span', { class: 'muted small' }, sub) : null));
      });
    });
  }

  // The series' last answer, redrawn when only the figure changes.
  var lastSeries = null;
  function loadSeries() {
    var token = ticket('series');
    var interval = state.interval;
    var path = '/api/v1/reports/timeseries?' + query({ interval: interval });
    setLink(links.series, path, 'over time');
    return api('GET', path).then(function (r) {
      if (!current('series', token)) return;
      lastSeries = { r: r, interval: interval, from: state.from, to: state.to };
      drawSeries();
    });
  }
  function drawSeries() {
    if (!lastSeries) return;
    var r = lastSeries.r;
    var interval = lastSeries.interval;
    (function () {
      var metric = METRICS.filter(function (m) { return m[0] === state.metric; })[0];
      var points = r.points.map(function (p) {
        var label = p.start;
        var short = interval === 'hour' ? p.start.slice(11, 16) : p.start.slice(5, 10);
        if (interval === 'hour' && r.points.length > 24) short = p.start.slice(5, 10) + ' ' + p.start.slice(11, 13) + 'h';
        return { label: label, short: short, value: p[metric[0]] };
      });
      clear(chartBox).appendChild(barChart(points, {
        label: metric[1] + ' ' + (interval === 'hour' ? 'per hour' : interval === 'week' ? 'per week' : 'per day') + ', ' + lastSeries.from + ' to ' + lastSeries.to,
        format: function (v) { return show(v, metric[2]); }, testid: 'series-chart'
      }));
      var total = points.reduce(function (n, p) { return n + (p.value || 0); }, 0);
      chartNote.textContent = points.length + ' periods' + (metric[2] === 'count' ? ', ' + total.toLocaleString() + ' in all' : '');
      var rows = points.map(function (p) { return h('tr', {}, h('th', { scope: 'row' }, p.label), h('td', {}, show(p.value, metric[2]))); });
      clear(seriesTable).appendChild(h('summary', {}, 'Show the figures as a table'));
      seriesTable.appendChild(h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Period'), h('th', { scope: 'col' }, metric[1]))),
        h('tbody', {}, rows)));
    })();
  }

  function loadHeatmap() {
    var token = ticket('heat');
    var path = '/api/v1/reports/heatmap?' + query();
    setLink(links.heat, path, 'busiest hours');
    return api('GET', path).then(function (r) {
      if (!current('heat', token)) return;
      var max = r.max || 0;
      var head = h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Day')),
        Array.from({ length: 24 }, function (_, hr) { return h('th', { scope: 'col', class: 'heat-hour' }, hr % 3 === 0 ? pad(hr) : h('span', { class: 'visually-hidden' }, pad(hr))); }));
      var body = r.cells.map(function (row, d) {
        return h('tr', {}, h('th', { scope: 'row' }, DAYS[d].slice(0, 3)),
          row.map(function (n, hr) {
            var level = max ? Math.ceil((n / max) * 5) : 0;
            return h('td', { class: 'heat heat-' + level, title: DAYS[d] + ' ' + pad(hr) + ':00: ' + n + ' messages', 'data-count': n },
              h('span', { class: 'visually-hidden' }, n));
          }));
      });
      clear(heat).appendChild(h('table', { class: 'heatmap', 'data-testid': 'heatmap-table' },
        h('caption', { class: 'visually-hidden' }, 'Customer messages per weekday and hour'),
        h('thead', {}, head), h('tbody', {}, body)));
    });
  }

  function loadBreakdown() {
    var token = ticket('breakdown');
    var by = state.by;
    var path = '/api/v1/reports/breakdown?' + query({ by: state.by }).replace(/&?(inbox_id|team_id|agent_id|label_id|channel)=[^&]*/g, '');
    setLink(links.breakdown, path, 'breakdown');
    clear(breakdownBox).appendChild(h('p', { class: 'muted' }, 'Loading…'));
    return api('GET', path).then(function (r) {
      if (!current('breakdown', token)) return;
      var label = BREAKDOWNS.filter(function (b) { return b[0] === by; })[0][1];
      var cols = [
        ['conversations_opened', 'Opened', 'count'], ['conversations_resolved', 'Resolved', 'count'],
        ['conversations_reopened', 'Reopened', 'count'], ['first_response_avg_secs', 'Avg first response', 'duration'],
        ['resolution_avg_secs', 'Avg resolution', 'duration'], ['replies_per_resolution', 'Replies / resolution', 'decimal'],
        ['csat_score', 'Satisfied', 'percent'], ['sla_met_rate', 'SLA met', 'percent'],
        ['messages_in', 'Messages in', 'count'], ['messages_out', 'Replies', 'count']
      ];
      if (!r.rows.length) {
        clear(breakdownBox).appendChild(h('p', { class: 'empty-state' }, 'Nothing to break down yet: no ' + label.toLowerCase() + '.'));
        return;
      }
      clear(breakdownBox).appendChild(h('table', { class: 'grid breakdown-table', 'data-testid': 'breakdown-table' },
        h('caption', { class: 'visually-hidden' }, 'Figures per ' + by),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, label.replace(/s$/, '')), cols.map(function (c) { return h('th', { scope: 'col', class: 'num' }, c[1]); }))),
        h('tbody', {}, r.rows.map(function (row) {
          return h('tr', { 'data-testid': 'breakdown-row', 'data-id': row.id },
            h('th', { scope: 'row' }, row.name),
            cols.map(function (c) { return h('td', { class: 'num' }, show(row[c[0]], c[2])); }));
        }))));
    });
  }

  var loads = 0;
  function load() {
    var n = ++loads;
    alert.textContent = '';
    if (!state.from || !state.to) return;
    Promise.all([loadSummary(), loadSeries(), loadHeatmap(), loadBreakdown()]).catch(function (err) {
      if (!alive(main) || n !== loads) return;
      showError(alert, err);
    });
  }

  presetSel.addEventListener('change', function () {
    state.preset = presetSel.value;
    if (state.preset !== 'custom') {
      var r = presetRange(state.preset);
      state.from = r[0]; state.to = r[1];
      fromIn.value = r[0]; toIn.value = r[1];
    }
    remember(); load();
  });
  [fromIn, toIn].forEach(function (input) {
    input.addEventListener('change', function () {
      if (!fromIn.value || !toIn.value) return;
      state.preset = 'custom'; presetSel.value = 'custom';
      state.from = fromIn.value; state.to = toIn.value;
      remember(); load();
    });
  });
  filterSel.addEventListener('change', function () { state.filter = filterSel.value; remember(); load(); });
  intervalSel.addEventListener('change', function () {
    state.interval = intervalSel.value; remember();
    loadSeries().catch(function (err) { showError(alert, err); });
  });
  // Another figure of the same answer: drawn again, not asked again.
  metricSel.addEventListener('change', function () {
    state.metric = metricSel.value; remember();
    drawSeries();
  });
  load();
}
