// ---- The conversation pane ----------------------------------------------------------------------

import { clear, h, session } from '../core.js';
import { skeleton } from '../shared.js';
import { S, V } from './state.js';
import {
  chanIcon, chanLabel, channelOf, current, idEq, inboxName, mounted, phone, priorityLabel,
  slaBadge, statusLabel
} from './helpers.js';
import { agentName, convName } from './directories.js';
import { backToList } from './select.js';
import { loadEarlier, renderMessages } from './messages.js';
import { buildComposer } from './composer.js';
import { renderActions, renderContact } from './details.js';

export function buildConversation(C, draftText) {
  clear(V.convPane);
  clear(V.sidePane);
  V.header = h('header', { class: 'conv-header' });
  V.viewersEl = h('p', { class: 'viewers', 'data-testid': 'viewers', 'aria-live': 'polite' });
  V.earlierBtn = h('button', {
    type: 'button', class: 'load-earlier', 'data-testid': 'load-earlier', hidden: true,
    onclick: function () { loadEarlier(C); }
  }, 'Load earlier messages');
  // Not a live region itself: the list is redrawn on changes, which would read it all out
  // again; the inbox's announcer (page.js) says each new message once.
  V.messageList = h('div', { class: 'message-list', 'data-testid': 'message-list', role: 'group', 'aria-label': 'Messages' });
  V.stream = h('div', { class: 'stream', tabindex: '0', 'aria-label': 'Message history' }, V.earlierBtn, V.messageList);
  V.typingEl = h('p', { class: 'typing', 'data-testid': 'typing', 'aria-live': 'polite' });
  V.convPane.appendChild(V.header);
  V.convPane.appendChild(V.viewersEl);
  V.convPane.appendChild(V.stream);
  V.convPane.appendChild(V.typingEl);
  V.convPane.appendChild(buildComposer(C, draftText));

  V.actions = h('section', { class: 'side-section actions', 'aria-label': 'Conversation actions' });
  V.contactBox = h('section', { class: 'side-section contact', 'data-testid': 'contact-panel', 'aria-label': 'Contact' });
  V.sidePane.appendChild(h('div', { class: 'side-head' },
    h('h2', { class: 'pane-title' }, 'Details'),
    h('button', {
      type: 'button', class: 'link close-details', 'aria-label': 'Close details',
      onclick: function () { toggleDetails(false); }
    }, '✕')));
  V.sidePane.appendChild(V.actions);
  V.sidePane.appendChild(V.contactBox);
  renderHeader(C);
  renderMessages(C, false);
  renderViewers(C);
  renderTyping(C);
  renderActions(C);
  renderContact(C);
}

export function toggleDetails(show) {
  if (!V) return;
  var narrow = phone();
  if (narrow) {
    var on = show === undefined ? !V.root.classList.contains('show-details') : show;
    V.root.classList.toggle('show-details', on);
  } else {
    var hidden = show === undefined ? !V.root.classList.contains('side-hidden') : !show;
    S.sideHidden = hidden;
    V.root.classList.toggle('side-hidden', hidden);
  }
  if (V.conv) renderHeader(V.conv);
  if (V.root.classList.contains('show-details') && narrow) {
    var first = V.sidePane.querySelector('button, select, input, a');
    if (first) first.focus();
  }
}
function detailsShown() {
  if (!V) return false;
  return phone() ? V.root.classList.contains('show-details') : !V.root.classList.contains('side-hidden');
}

export function renderHeader(C) {
  if (!current(C) || !V.header) return;
  var c = C.data;
  var chan = c ? channelOf(c.inbox_id) : null;
  clear(V.header);
  V.header.appendChild(h('button', {
    type: 'button', class: 'back', 'data-testid': 'back', 'aria-label': 'Back to conversations',
    onclick: backToList
  }, '←'));
  V.header.appendChild(h('div', { class: 'conv-title' },
    h('h2', { id: 'conv-title' }, c ? convName(c) : skeleton('Loading the conversation…', [40])),
    c && c.subject && c.subject !== convName(c)
      ? h('p', { class: 'conv-subject', 'data-testid': 'conv-subject' }, c.subject) : null,
    c ? h('p', { class: 'conv-sub' },
      chanIcon(chan), ' ', h('span', null, chanLabel(chan) + ' · ' + inboxName(c.inbox_id)),
      h('span', { class: 'badge status-' + c.status }, statusLabel(c.status)),
      c.priority && c.priority !== 'none' ? h('span', { class: 'badge prio-' + c.priority }, priorityLabel(c.priority)) : null,
      slaBadge(c.sla))
      : null));
  V.header.appendChild(h('button', {
    type: 'button', class: 'details-toggle', 'aria-controls': V.sideId,
    'aria-expanded': String(detailsShown()), onclick: function () { toggleDetails(); }
  }, 'Details'));
  V.convPane.setAttribute('aria-labelledby', 'conv-title');
  V.convPane.removeAttribute('aria-label');
}

// " · online" (busy, away, offline) after an agent's name: the latest presence event, else
// the live status the members list came with.
export function presenceNote(a) {
  var status = S.presence[a.id] || a.status;
  return status ? ' · ' + status : '';
}

var detailsTimer = null;
export function renderDetailsSoon() {
  if (detailsTimer) return;
  detailsTimer = setTimeout(function () {
    detailsTimer = null;
    if (mounted() && V.conv) renderActions(V.conv);
  }, 300);
}

export function renderViewers(C) {
  if (!current(C)) return;
  var me = session.me && session.me.id;
  var others = (S.viewers[C.id] || []).filter(function (a) { return !idEq(a, me); });
  V.viewersEl.textContent = others.length ? 'Also viewing: ' + others.map(agentName).join(', ') : '';
  V.viewersEl.classList.toggle('on', others.length > 0);
}

export function renderTyping(C) {
  if (!current(C)) return;
  var names = Object.keys(C.typing).map(function (k) { return C.typing[k].name; });
  var text = '';
  if (names.length === 1) text = names[0] + ' is typing…';
  else if (names.length > 1) text = names.join(', ') + ' are typing…';
  V.typingEl.textContent = text;
  V.typingEl.classList.toggle('on', !!text);
}
