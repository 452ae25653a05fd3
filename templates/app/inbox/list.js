// ---- The conversation list --------------------------------------------------------------------

import { api, clear, fail, h, session } from '../core.js';
import { isAdmin, skeleton } from '../shared.js';
import { ALL_STATUSES, PAGE, S, V, defaultFilters } from './state.js';
import {
  avatar, chanIcon, channelOf, idEq, labelChip, mounted, newestFirst, priorityLabel, slaBadge, slaLeft, statusLabel,
  timeEl, ts, waitingFor
} from './helpers.js';
import { agentName, convName, ensureInbox, fetchContact, membersOf, teamName } from './directories.js';
import { fillInboxSelect, fillLabelList } from './page.js';
import { select } from './select.js';
import { renderHeader } from './pane.js';
import { renderActions } from './details.js';
import { renderBulkBar, selectBox } from './bulk.js';
import { setAllFilters } from './views.js';

export function filterKey() { return JSON.stringify(S.filters); }
function listPath(cursor) {
  var f = S.filters;
  var q = ['limit=' + PAGE];
  if (f.assignee === 'mine') q.push('assignee=me');
  else if (f.assignee === 'unassigned') q.push('assignee=unassigned');
  if (f.inbox) q.push('inbox_id=' + encodeURIComponent(f.inbox));
  if (f.team) q.push('team_id=' + encodeURIComponent(f.team));
  if (f.status) q.push('status=' + encodeURIComponent(f.status === 'all' ? ALL_STATUSES : f.status));
  if (f.priority) q.push('priority=' + encodeURIComponent(f.priority));
  // "Breaching soon": the server sorts by the SLA due time, so paging follows it.
  if (f.sla) q.push('sla=' + encodeURIComponent(f.sla), 'sort=sla_due');
  else if (f.sort && f.sort !== 'newest') q.push('sort=' + encodeURIComponent(f.sort));
  if (f.label.trim()) q.push('label=' + encodeURIComponent(f.label.trim()));
  if (f.q.trim()) q.push('q=' + encodeURIComponent(f.q.trim()));
  if (cursor) q.push('cursor=' + encodeURIComponent(cursor));
  return '/api/v1/conversations?' + q.join('&');
}

var listToken = 0;
export function refreshList(replace) {
  var key = filterKey();
  var token = ++listToken;
  if (V) V.listEl.setAttribute('aria-busy', 'true');
  return api('GET', listPath()).then(function (page) {
    if (token !== listToken) return;
    var fresh = (page && page.data) || [];
    if (replace || S.key !== key || S.pages <= 1) {
      S.rows = fresh;
      S.cursor = page.next_cursor || null;
      S.pages = 1;
      S.key = key;
    } else {
      // Later pages stay; the first one is replaced (rows that moved up leave the tail).
      var ids = {};
      fresh.forEach(function (c) { ids[c.id] = true; });
      var last = fresh[fresh.length - 1];
      var rest = S.rows.filter(function (c) { return !ids[c.id] && (!last || listOrder(last, c) < 0); });
      S.rows = fresh.concat(rest);
    }
    noteRows(fresh);
    renderList();
  }).catch(function (e) {
    if (token === listToken) fail(e);
  }).then(function () {
    if (V && token === listToken) V.listEl.removeAttribute('aria-busy');
  });
}

export function loadMore() {
  if (!S.cursor || !V) return;
  var key = filterKey();
  var btn = V.moreBtn;
  btn.disabled = true;
  api('GET', listPath(S.cursor)).then(function (page) {
    if (S.key !== key) return;
    var have = {};
    S.rows.forEach(function (c) { have[c.id] = true; });
    var more = ((page && page.data) || []).filter(function (c) { return !have[c.id]; });
    S.rows = S.rows.concat(more);
    S.cursor = page.next_cursor || null;
    S.pages += 1;
    noteRows(more);
    renderList();
  }, fail).then(function () { btn.disabled = false; });
}

var refreshTimer = null;
export function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(function () {
    refreshTimer = null;
    if (mounted()) refreshList(false);
  }, 600);
}

function noteRows(rows) {
  var inboxes = {};
  rows.forEach(function (c) {
    (c.labels || []).forEach(function (l) { S.labelsSeen[l] = true; });
    if (c.contact_id && !(c.contact && c.contact.name) && !c.contact_name) fetchContact(c.contact_id);
    if (c.inbox_id) inboxes[c.inbox_id] = true;
  });
  Object.keys(inboxes).forEach(function (id) {
    if (!S.inboxes[id]) ensureInbox(id).then(function () { fillInboxSelect(); renderListSoon(); });
    if (!isAdmin()) membersOf(id).then(renderListSoon);
  });
  fillLabelList();
}

var listFrame = null;
export function renderListSoon() {
  if (listFrame) return;
  listFrame = setTimeout(function () { listFrame = null; renderList(); }, 50);
}

export function renderList() {
  if (!V) return;
  var ul = V.listEl;
  var active = document.activeElement;
  var focusedId = active && ul.contains(active) && active.dataset ? active.dataset.id : null;
  clear(ul);
  if (!S.rows.length) emptyState().forEach(function (li) { ul.appendChild(li); });
  S.rows.sort(listOrder);
  S.rows.forEach(function (c) {
    ul.appendChild(h('li', { class: 'conv-item' + (S.selected[c.id] ? ' picked' : '') }, selectBox(c, convName(c)), rowEl(c)));
  });
  renderBulkBar();
  V.moreBtn.hidden = !S.cursor;
  if (focusedId) {
    var again = ul.querySelector('[data-testid=conversation-row][data-id="' + cssId(focusedId) + '"]');
    if (again) again.focus();
  }
}
// What an empty list says: placeholders while the first page loads; with no inbox, how to get
// one; with filters, how to clear them; else that new conversations land here.
function emptyState() {
  if (!S.pages) {
    return [0, 1, 2, 3, 4].map(function (n) {
      return h('li', { class: 'loading', 'aria-hidden': n ? 'true' : null },
        n ? skeleton('', [100, 60, 85, 40], 'row-skeleton')
          : skeleton('Loading conversations…', [100, 60, 85, 40], 'row-skeleton'));
    });
  }
  var box = h('li', { class: 'empty empty-state', 'data-testid': 'list-empty' });
  if (S.inboxesLoaded && !Object.keys(S.inboxes).length) {
    box.appendChild(h('p', { class: 'empty-title' }, isAdmin() ? 'No inboxes yet.' : 'You are not in any inbox yet.'));
    box.appendChild(h('p', { class: 'muted' }, isAdmin()
      ? 'Create one to start receiving conversations: the steps are on the right.'
      : 'An admin adds you to inboxes; their conversations then show here.'));
    return [box];
  }
  var filtered = filterKey() !== JSON.stringify(Object.assign(defaultFilters(), { sort: S.filters.sort }));
  if (filtered) {
    box.appendChild(h('p', {}, 'No conversations match these filters.'));
    box.appendChild(h('button', {
      type: 'button', 'data-testid': 'clear-filters',
      onclick: function () {
        setAllFilters(Object.assign(defaultFilters(), { sort: S.filters.sort }));
        refreshList(true);
      }
    }, 'Clear filters'));
  } else {
    box.appendChild(h('p', {}, 'No open conversations.'));
    box.appendChild(h('p', { class: 'muted' }, 'New conversations show here the moment a customer writes.'));
  }
  return [box];
}

// The rows in the order the server lists them (so live changes land where a reload would put
// them): SLA due time under "Breaching soon", else the chosen sort.
export function listOrder(a, b) {
  if (bySlaDue()) return soonestDue(a, b);
  if (S.filters.sort === 'waiting') {
    var x = waitingKey(a), y = waitingKey(b);
    if (x !== null && y !== null) return (x - y) || (Number(a.id) - Number(b.id));
    if (x !== null) return -1;
    if (y !== null) return 1;
  } else if (S.filters.sort === 'priority') {
    var d = (PRIORITY_RANK[b.priority] || 0) - (PRIORITY_RANK[a.priority] || 0);
    if (d) return d;
  }
  return newestFirst(a, b);
}
var PRIORITY_RANK = { urgent: 4, high: 3, medium: 2, low: 1, none: 0 };
var WAITING_STATUSES = { open: true, pending: true, snoozed: true };
function waitingKey(c) { return c.waiting_since && WAITING_STATUSES[c.status] ? ts(c.waiting_since) : null; }
// "Breaching soon" and the SLA sort list the least time left first.
function bySlaDue() { return !!S.filters.sla || S.filters.sort === 'sla_due'; }
function soonestDue(a, b) {
  var x = slaLeft(a.sla), y = slaLeft(b.sla);
  if (x === null || x === undefined) return 1;
  if (y === null || y === undefined) return -1;
  return x - y;
}
export function cssId(id) { return String(id).replace(/[^0-9A-Za-z_-]/g, ''); }

function snippetOf(c) {
  if (c.last_message && typeof c.last_message === 'object') return messagePreview(c.last_message);
  if (typeof c.last_message_preview === 'string') return c.last_message_preview;
  var s = S.snippets[c.id];
  return s ? s.text : '';
}
export function messagePreview(m) {
  var text = (m.content || '').replace(/\s+/g, ' ').trim();
  if (!text && m.attachments && m.attachments.length) text = '📎 ' + m.attachments[0].file_name;
  if (m.private) text = 'Note: ' + text;
  else if (m.direction === 'outbound' && session.me && idEq(m.sender_id, session.me.id)) text = 'You: ' + text;
  return text.length > 140 ? text.slice(0, 140) + '…' : text;
}

function rowEl(c) {
  var selected = !!(V.conv && idEq(V.conv.id, c.id));
  var unread = c.unread_count || 0;
  if (selected) unread = 0;
  var snippet = snippetOf(c);
  var others = (S.viewers[c.id] || []).filter(function (a) { return !idEq(a, session.me && session.me.id); });
  var showStatus = S.filters.status !== 'open' || c.status !== 'open';
  var team = c.team_id ? teamName(c.team_id) : null;
  var waiting = waitingKey(c) !== null;
  return h('a', {
    class: 'conv-row' + (selected ? ' selected' : '') + (unread ? ' unread' : ''),
    href: '/conversations/' + encodeURIComponent(c.id),
    'data-testid': 'conversation-row', 'data-id': c.id, 'data-status': c.status,
    'aria-current': selected ? 'true' : null,
    onclick: function (e) {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
      e.preventDefault();
      select(c.id);
    }
  },
  avatar(convName(c), 'row-avatar'),
  h('span', { class: 'row-top' },
    chanIcon(channelOf(c.inbox_id)),
    h('span', { class: 'row-name' }, convName(c)),
    timeEl(c.last_activity_at, 'row-time')),
  h('span', { class: 'row-mid' },
    h('span', { class: 'row-snippet' }, snippet || (c.subject && c.subject !== convName(c) ? c.subject : '')),
    unread ? h('span', {
      class: 'badge unread-badge', 'data-testid': 'unread-count', 'aria-label': unread + ' unread'
    }, unread > 99 ? '99+' : String(unread)) : null),
  h('span', { class: 'row-bottom' },
    h('span', { class: 'row-assignee' + (c.assignee_id ? '' : ' unassigned') },
      c.assignee_id ? agentName(c.assignee_id) : 'Unassigned'),
    showStatus ? h('span', { class: 'badge status-' + c.status }, statusLabel(c.status)) : null,
    c.priority && c.priority !== 'none' ? h('span', { class: 'badge prio-' + c.priority }, priorityLabel(c.priority)) : null,
    team ? h('span', { class: 'badge team-badge', 'data-testid': 'row-team' }, team) : null,
    waiting ? h('span', {
      class: 'badge waiting-badge', 'data-testid': 'row-waiting', title: 'Waiting for an answer since ' + new Date(c.waiting_since).toLocaleString()
    }, 'Waiting ' + waitingFor(c.waiting_since)) : null,
    slaBadge(c.sla),
    (c.labels || []).map(labelChip),
    others.length ? h('span', {
      class: 'row-viewers', role: 'img', 'aria-label': 'Viewed by ' + others.map(agentName).join(', ')
    }, '👁 ' + others.length) : null));
}

export function rowIndex(id) {
  for (var i = 0; i < S.rows.length; i++) if (idEq(S.rows[i].id, id)) return i;
  return -1;
}
export function markSelectedRow() {
  if (!V) return;
  var id = V.conv ? V.conv.id : null;
  Array.prototype.forEach.call(V.listEl.querySelectorAll('[data-testid=conversation-row]'), function (a) {
    var on = idEq(a.dataset.id, id);
    a.classList.toggle('selected', on);
    if (on) a.setAttribute('aria-current', 'true'); else a.removeAttribute('aria-current');
  });
}

// What we know of a conversation in the list; `labels` and `unread_count` are per agent
// and absent from events, so they are kept from the previous copy.
export function mergeConv(base, c) {
  if (!base) return c;
  if (c.updated_at && base.updated_at && ts(c.updated_at) < ts(base.updated_at)) {
    return base; // an older copy (a slow REST answer after a newer event)
  }
  var merged = Object.assign({}, base, c);
  if (c.labels === null || c.labels === undefined) merged.labels = base.labels;
  if (c.unread_count === null || c.unread_count === undefined) merged.unread_count = base.unread_count;
  return merged;
}
function matchesFilters(c, strict) {
  var f = S.filters;
  var statuses = (f.status === 'all' ? ALL_STATUSES : f.status || 'open').split(',');
  if (statuses.indexOf(c.status) < 0) return false;
  if (f.inbox && !idEq(c.inbox_id, f.inbox)) return false;
  if (f.team && !idEq(c.team_id, f.team)) return false;
  if (f.assignee === 'mine' && !idEq(c.assignee_id, session.me && session.me.id)) return false;
  if (f.assignee === 'unassigned' && c.assignee_id) return false;
  if (f.priority && c.priority !== f.priority) return false;
  var label = f.label.trim().toLowerCase();
  if (label) {
    if (!c.labels) return !strict;
    if (c.labels.indexOf(label) < 0) return false;
  }
  if (strict && f.q.trim()) return false; // only the server knows what a search matches
  return true;
}

export function applyConversation(c) {
  if (!c || !c.id) return;
  var i = rowIndex(c.id);
  var C = V && V.conv && idEq(V.conv.id, c.id) ? V.conv : null;
  if (C) {
    C.data = mergeConv(C.data, c);
    renderHeader(C);
    renderActions(C);
  }
  if (i >= 0) {
    var merged = mergeConv(S.rows[i], c);
    if (matchesFilters(merged, false)) S.rows[i] = merged;
    else S.rows.splice(i, 1);
  } else if (matchesFilters(c, true)) {
    var last = S.rows[S.rows.length - 1];
    if (!S.cursor || !last || listOrder(c, last) < 0) S.rows.push(mergeConv(C ? C.data : null, c));
  }
  S.rows.sort(listOrder);
  if (c.contact_id) fetchContact(c.contact_id);
  if (bySlaDue()) scheduleRefresh(); // only the server knows who is at risk
  renderListSoon();
}

// A conversation's SLA changed (`conversation.sla` event).
export function applySla(id, sla) {
  var C = V && V.conv && idEq(V.conv.id, id) ? V.conv : null;
  if (C && C.data) {
    C.data = Object.assign({}, C.data, { sla: sla });
    renderHeader(C);
  }
  var i = rowIndex(id);
  if (i >= 0) S.rows[i] = Object.assign({}, S.rows[i], { sla: sla });
  if (bySlaDue()) scheduleRefresh();
  renderListSoon();
}

export function setRowUnread(id, n) {
  var i = rowIndex(id);
  if (i < 0) return;
  if (S.rows[i].unread_count === n) return;
  S.rows[i] = Object.assign({}, S.rows[i], { unread_count: n });
  renderListSoon();
}
