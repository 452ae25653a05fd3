// ---- Selecting and opening a conversation -------------------------------------------------------

import { api, clear, fail, h } from '../core.js';
import { PAGE, S, V } from './state.js';
import { current, phone } from './helpers.js';
import {
  convName, ensureInbox, fetchContact, loadAllAgents, loadTeams, membersOf
} from './directories.js';
import { setViewing, updateNavCurrent } from './viewing.js';
import {
  cssId, markSelectedRow, mergeConv, messagePreview, renderListSoon, setRowUnread
} from './list.js';
import { buildConversation, renderHeader, renderTyping, renderViewers } from './pane.js';
import { loadActivity, markRead, renderMessages, scrollToBottom, storeMessage } from './messages.js';
import { sendTyping } from './composer.js';
import { renderActions, renderContact } from './details.js';
import { renderWindow } from './window.js';
import { welcomePane } from './welcome.js';

export function select(id, focusRow) {
  if (!V) return;
  var path = '/conversations/' + encodeURIComponent(id);
  if (location.pathname !== path) history.pushState({}, '', path);
  updateNavCurrent();
  openConversation(id);
  markSelectedRow();
  if (focusRow) {
    var row = V.listEl.querySelector('[data-testid=conversation-row][data-id="' + cssId(id) + '"]');
    if (row) {
      row.focus();
      if (row.scrollIntoView) row.scrollIntoView({ block: 'nearest' });
    }
  }
}

export function backToList() {
  if (!V) return;
  if (location.pathname !== '/') history.pushState({}, '', '/');
  updateNavCurrent();
  if (V.conv) closeConversationState(V.conv);
  V.conv = null;
  setViewing(null);
  showNoConversation();
  markSelectedRow();
  renderListSoon();
  var row = V.listEl.querySelector('[data-testid=conversation-row]');
  if (row) row.focus(); else V.search.focus();
}

export function showNoConversation() {
  V.root.classList.remove('has-conversation', 'show-details');
  document.title = 'Inbox · Switchboard';
  clear(V.convPane);
  clear(V.sidePane);
  var noInbox = S.inboxesLoaded && !Object.keys(S.inboxes).length;
  V.root.classList.toggle('no-inbox', noInbox);
  if (noInbox) {
    V.convPane.appendChild(welcomePane());
    return;
  }
  V.convPane.appendChild(h('div', { class: 'empty conv-empty' },
    h('p', null, 'Select a conversation from the list.'),
    h('p', { class: 'muted' }, 'Press ', h('kbd', null, '?'), ' for keyboard shortcuts.')));
}

export function closeConversationState(C) {
  C.closed = true;
  Object.keys(C.typing).forEach(function (k) { clearTimeout(C.typing[k].timer); });
  clearTimeout(C.readTimer);
  clearTimeout(C.cannedTimer);
  clearTimeout(C.windowTimer);
  if (C.sentTypingAt && Date.now() - C.sentTypingAt < 10000) sendTyping(C, false);
}

export function openConversation(id) {
  id = String(id);
  if (V.conv && V.conv.id === id) return;
  if (V.conv) closeConversationState(V.conv);
  var draft = S.drafts[id] || {};
  var C = V.conv = {
    id: id, data: null, msgs: {}, els: {}, order: [], loaded: false, events: {},
    hasEarlier: false, typing: {}, mode: draft.mode || 'reply', uploads: (draft.uploads || []).slice(),
    uploading: 0, canned: null, candidates: [], sentTypingAt: 0,
    windowTimer: null, picking: false, picker: null
  };
  V.root.classList.add('has-conversation');
  if (phone()) V.root.classList.remove('show-details');
  buildConversation(C, draft.text || '');
  setViewing(id);
  markSelectedRow();
  setRowUnread(id, 0);
  loadConversation(C);
}

// The conversation, its newest messages and the names they need (inbox, agents, contact)
// load together; the stream is drawn once, so the live region does not read it twice.
function loadConversation(C) {
  var base = '/api/v1/conversations/' + encodeURIComponent(C.id);
  V.messageList.setAttribute('aria-busy', 'true');
  var convReady = api('GET', base).then(function (conv) {
    if (!current(C)) return null;
    C.data = mergeConv(C.data, conv);
    document.title = convName(C.data) + ' · Switchboard';
    renderHeader(C);
    renderActions(C);
    renderContact(C);
    renderWindow(C);
    var names = Promise.all([ensureInbox(conv.inbox_id), membersOf(conv.inbox_id), loadAllAgents(), loadTeams()])
      .then(function (r) {
        if (!current(C)) return;
        var seen = {};
        C.candidates = [];
        r[1].concat(r[2].filter(function (a) { return a.role === 'admin'; })).forEach(function (a) {
          if (a.active === false || seen[a.id]) return;
          seen[a.id] = true;
          C.candidates.push(a);
        });
        renderHeader(C);
        renderActions(C);
        renderViewers(C);
        renderTyping(C);
        renderWindow(C); // the inbox's capabilities are known now
      });
    var contact = fetchContact(conv.contact_id, true);
    return Promise.all([names, contact]).then(function () { return conv; }, function () { return conv; });
  }, function (e) {
    if (!current(C)) return null;
    clear(V.convPane);
    clear(V.sidePane);
    V.convPane.appendChild(h('div', { class: 'empty conv-empty' },
      h('p', null, e && e.status === 404 ? 'This conversation does not exist or is not in your inboxes.' : 'The conversation could not be loaded.'),
      h('button', { type: 'button', onclick: backToList }, 'Back to the list')));
    if (!(e && e.status === 404)) fail(e);
    return null;
  });
  var messagesReady = api('GET', base + '/messages?limit=' + PAGE).then(function (page) {
    return (page && page.data) || [];
  }, function (e) {
    if (current(C) && !(e && e.status === 404)) fail(e);
    return null;
  });
  Promise.all([convReady, messagesReady]).then(function (r) {
    if (!current(C) || !r[0] || !r[1]) return;
    var data = r[1];
    data.forEach(function (m) { storeMessage(C, m); });
    C.hasEarlier = data.length === PAGE && data[0].seq > 1;
    C.loaded = true;
    var last = C.order.length ? C.msgs[C.order[C.order.length - 1]] : null;
    if (last && !S.snippets[C.id]) S.snippets[C.id] = { text: messagePreview(last), id: last.id };
    renderMessages(C, false);
    scrollToBottom();
    markRead(C);
    loadActivity(C);
    V.messageList.removeAttribute('aria-busy');
  });
}

export function reloadConversation() {
  if (!V || !V.conv) return;
  var C = V.conv;
  C.msgs = {};
  C.els = {};
  C.order = [];
  C.loaded = false;
  Object.keys(C.typing).forEach(function (k) { clearTimeout(C.typing[k].timer); });
  C.typing = {};
  renderTyping(C);
  loadConversation(C);
}
