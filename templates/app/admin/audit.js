// ---- Audit log -------------------------------------------------------------------------------

import { api, clear, h } from '../core.js';
import { fetchAll } from '../shared.js';
import { alive, busy, enc, showError, table, timeEl } from './ui.js';
import { adminPage } from './frame.js';

// /admin/audit
export function auditPage(main) {
  var p = adminPage(main, 'Audit log', 'Every change in the hub, newest first.');
  var t = table(null, ['Time', 'Actor', 'Action', 'Target', 'Details']);
  var empty = h('p', { class: 'empty', hidden: true }, 'Nothing recorded yet.');
  var more = h('button', { type: 'button', hidden: true, 'data-testid': 'audit-more' }, 'Load more');
  var status = h('p', { class: 'muted', role: 'status' });
  p.body.appendChild(h('section', { 'aria-label': 'Audit entries' }, t.table, empty, more, status));
  var cursor = null;
  var names = {};

  function actor(e) {
    if (e.actor_type === 'agent') {
      var who = e.actor_id && names[e.actor_id] ? names[e.actor_id] : 'Agent #' + (e.actor_id || '?');
      return [who, e.ip ? h('span', { class: 'muted' }, ' (' + e.ip + ')') : null];
    }
    if (e.actor_type === 'cli') return 'Command line';
    if (e.actor_type === 'system') return 'System';
    return e.actor_type || '';
  }
  function target(e) {
    if (!e.target_type) return h('span', { class: 'muted' }, '—');
    var text = e.target_type + (e.target_id ? ' #' + e.target_id : '');
    if (e.target_type === 'agent' && e.target_id && names[e.target_id]) text += ' (' + names[e.target_id] + ')';
    return text;
  }
  function details(d) {
    if (d === null || d === undefined) return h('span', { class: 'muted' }, '—');
    if (typeof d === 'object' && !Array.isArray(d) && Object.keys(d).length === 0) return h('span', { class: 'muted' }, '—');
    var pre = h('pre', { class: 'json' });
    pre.textContent = JSON.stringify(d, null, 2);
    return h('details', {}, h('summary', {}, 'Show'), pre);
  }
  function load(reset) {
    var url = '/api/v1/audit?limit=50' + (!reset && cursor ? '&cursor=' + enc(cursor) : '');
    return api('GET', url).then(function (res) {
      if (!alive(main)) return;
      if (reset) clear(t.tbody);
      (res.data || []).forEach(function (e) {
        t.tbody.appendChild(h('tr', { 'data-testid': 'audit-row', 'data-id': e.id },
          h('td', {}, timeEl(e.created_at)),
          h('td', {}, actor(e)),
          h('td', {}, h('code', {}, e.action)),
          h('td', {}, target(e)),
          h('td', {}, details(e.details))));
      });
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      var count = t.tbody.childNodes.length;
      t.table.hidden = count === 0;
      empty.hidden = count !== 0;
      status.textContent = count ? count + ' entries shown' + (cursor ? '; more are older.' : '.') : '';
    }, function (err) { showError(p.alert, err); });
  }
  more.addEventListener('click', function () { busy(more, function () { return load(false); }); });

  // Agent names make the log readable; the log still shows ids if they cannot be read.
  fetchAll('/api/v1/agents').then(function (list) {
    list.forEach(function (a) { names[a.id] = a.name; });
  }, function () { /* ids it is */ }).then(function () { if (alive(main)) load(true); });
}
