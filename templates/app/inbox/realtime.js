// ---- Realtime -----------------------------------------------------------------------------------

import { on, session } from '../core.js';
import { S, V } from './state.js';
import { idEq, mounted, ts } from './helpers.js';
import { agentName, convName, fetchContact, loadInboxes, membersOf, rememberAgent } from './directories.js';
import { setViewing, viewingId } from './viewing.js';
import { fillInboxSelect } from './page.js';
import {
  applyConversation, applySla, listOrder, messagePreview, refreshList, renderListSoon, rowIndex, scheduleRefresh
} from './list.js';
import { reloadConversation } from './select.js';
import { renderDetailsSoon, renderTyping, renderViewers } from './pane.js';
import { loadActivity, markRead, upsertMessage } from './messages.js';
import { noteMessage } from './window.js';

export function registerEvents() {
  on('conversation.created', function (d) { if (d && d.conversation) { applyConversation(d.conversation); scheduleRefresh(); } });
  on('conversation.updated', function (d) {
    if (!d || !d.conversation) return;
    applyConversation(d.conversation);
    scheduleRefresh();
    if (V && V.conv && idEq(V.conv.id, d.conversation.id)) loadActivity(V.conv);
  });
  on('message.created', function (d) { if (d && d.message) onMessage(d.message, true); });
  on('message.updated', function (d) { if (d && d.message) onMessage(d.message, false); });
  on('conversation.sla', function (d) { if (d && d.conversation_id) applySla(d.conversation_id, d.sla || null); });
  on('typing', onTyping);
  // A web visitor moved to another page: their card shows it (for a contact on screen).
  on('contact.updated', function (d) {
    if (d && d.contact_id && S.contacts[d.contact_id]) fetchContact(d.contact_id, true);
  });
  on('contact.reachability', function (d) {
    // A customer blocked (or unblocked) the channel: the contact card says so.
    var entry = d && S.contacts[d.contact_id];
    var identities = entry && entry.data && entry.data.contact && entry.data.contact.identities;
    (identities || []).forEach(function (i) {
      if (idEq(i.inbox_id, d.inbox_id)) i.blocked_at = d.blocked ? new Date().toISOString() : null;
    });
    if (identities && mounted() && V.conv && V.conv.data) renderDetailsSoon();
  });
  on('viewers', onViewers);
  on('presence', function (d) {
    if (!d || !d.agent_id) return;
    S.presence[d.agent_id] = d.status;
    // The assignee list shows who is around.
    if (mounted() && V.conv && V.conv.data) renderDetailsSoon();
  });
  on('resync', function () {
    // Viewers are only known from events: after a gap, start from nobody.
    S.viewers = {};
    if (!mounted()) return;
    loadInboxes(true).then(function () { fillInboxSelect(); }, function () {});
    refreshList(true);
    reloadConversation();
  });
  // A new socket knows nothing of what we view (the server forgets on close).
  on('hello', function () { if (viewingId) setViewing(viewingId, true); });
}

// Says a new message out loud (the announcer is a polite live region): emptied first, so
// the same words twice are read twice.
var announceTimer = null;
function announce(m, open) {
  if (m.private || m.automatic || (m.sender_type === 'agent' && idEq(m.sender_id, session.me && session.me.id))) return;
  var i = rowIndex(m.conversation_id);
  var who = m.direction === 'inbound' ? (i >= 0 ? convName(S.rows[i]) : 'a customer') : agentName(m.sender_id);
  var words = 'New message from ' + who + (open ? '' : ' in another conversation') + ': ' + messagePreview(m);
  V.announcer.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(function () { if (mounted()) V.announcer.textContent = words; }, 100);
}

function onMessage(m, created) {
  if (!mounted()) return;
  var C = V.conv && idEq(V.conv.id, m.conversation_id) ? V.conv : null;
  if (created) announce(m, !!C);
  if (C) {
    C.events[m.id] = (C.events[m.id] || 0) + 1;
    var before = C.msgs[m.id];
    upsertMessage(C, m);
    noteMessage(C, m, before, created);
    if (created && m.direction === 'inbound') {
      // The customer's message arrived: they stopped typing it.
      Object.keys(C.typing).forEach(function (k) {
        if (k.indexOf('contact:') === 0) { clearTimeout(C.typing[k].timer); delete C.typing[k]; }
      });
      renderTyping(C);
      markRead(C);
    }
  }
  var i = rowIndex(m.conversation_id);
  if (created) {
    S.snippets[m.conversation_id] = { text: messagePreview(m), id: m.id };
    if (i >= 0) {
      var row = Object.assign({}, S.rows[i]);
      // An automatic mail (an out-of-office reply) takes its place in the thread without
      // moving the conversation up, as the hub does.
      if (!m.automatic && ts(m.created_at) > ts(row.last_activity_at)) row.last_activity_at = m.created_at;
      if (m.direction === 'inbound' && !C) row.unread_count = (row.unread_count || 0) + 1;
      // Who waits, as the hub keeps it: a customer's message starts a wait, a public reply
      // ends it (the conversation event that follows brings the hub's own value).
      if (m.direction === 'inbound' && !m.automatic && !row.waiting_since) row.waiting_since = m.created_at;
      if (m.direction === 'outbound') row.waiting_since = null;
      S.rows[i] = row;
      S.rows.sort(listOrder);
    }
    scheduleRefresh();
  } else if (S.snippets[m.conversation_id] && S.snippets[m.conversation_id].id === m.id) {
    S.snippets[m.conversation_id] = { text: messagePreview(m), id: m.id };
  }
  if (i >= 0) renderListSoon();
}

function onTyping(d) {
  if (!d || !mounted() || !V.conv || !idEq(V.conv.id, d.conversation_id)) return;
  var C = V.conv;
  if (d.sender_type === 'agent' && idEq(d.sender_id, session.me && session.me.id)) return;
  var key = d.sender_type + ':' + d.sender_id;
  if (C.typing[key]) clearTimeout(C.typing[key].timer);
  if (d.on) {
    C.typing[key] = {
      name: d.sender_type === 'contact' ? 'Customer' : agentName(d.sender_id),
      timer: setTimeout(function () { delete C.typing[key]; renderTyping(C); }, 8000)
    };
  } else {
    delete C.typing[key];
  }
  renderTyping(C);
}

function onViewers(d) {
  if (!d || !d.conversation_id) return;
  // The frame names the viewers: agents who may not list colleagues still see names.
  (d.agents || []).forEach(function (a) { if (a && a.id && !S.agents[a.id]) rememberAgent(a); });
  S.viewers[d.conversation_id] = d.agent_ids || [];
  if (!mounted()) return;
  if (V.conv && idEq(V.conv.id, d.conversation_id)) {
    var C = V.conv;
    var unknown = (d.agent_ids || []).some(function (a) { return !S.agents[a] && !idEq(a, session.me && session.me.id); });
    if (unknown && C.data) membersOf(C.data.inbox_id).then(function () { renderViewers(C); });
    renderViewers(C);
  }
  if (rowIndex(d.conversation_id) >= 0) renderListSoon();
}
