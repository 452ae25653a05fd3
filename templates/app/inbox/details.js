// ---- The side panel -----------------------------------------------------------------------------

import { api, clear, fail, fmtTime, h, navigate, session, toast } from '../core.js';
import { PRIORITIES, S, V } from './state.js';
import {
  chanIcon, chanLabel, channelOf, current, idEq, inboxName, keepFocus, newestFirst, statusLabel,
  timeEl
} from './helpers.js';
import { agentName, displayName } from './directories.js';
import { applyConversation } from './list.js';
import { skeleton } from '../shared.js';
import { select } from './select.js';
import { presenceNote } from './pane.js';

function changeConversation(C, path, method, body, button) {
  if (button) button.disabled = true;
  return api(method, '/api/v1/conversations/' + encodeURIComponent(C.id) + path, body).then(function (c) {
    if (c && c.id) applyConversation(c);
    return c;
  }, function (e) {
    fail(e);
    if (current(C)) renderActions(C);
  }).then(function (c) {
    if (button) button.disabled = false;
    return c;
  });
}
export function resolve(C) { return changeConversation(C, '/status', 'POST', { status: 'resolved' }); }
export function assignMe(C) { return changeConversation(C, '/assign', 'POST', { assignee_id: 'me' }); }

function snoozeUntil(choice) {
  var d = new Date();
  if (choice === '1h') return new Date(d.getTime() + 3600e3);
  if (choice === '4h') return new Date(d.getTime() + 4 * 3600e3);
  if (choice === 'week') {
    d.setDate(d.getDate() + ((8 - d.getDay()) % 7 || 7));
    d.setHours(9, 0, 0, 0);
    return d;
  }
  d.setDate(d.getDate() + 1);
  d.setHours(9, 0, 0, 0);
  return d;
}

// A date as a datetime-local input reads it: the browser's local time, to the minute.
function localInput(d) {
  var pad = function (n) { return String(n).padStart(2, '0'); };
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
}

function labeled(text, control) {
  return h('div', { class: 'form-row' }, h('label', { for: control.id }, text), control);
}

export function renderActions(C) {
  if (!current(C) || !V.actions) return;
  var box = V.actions;
  keepFocus(box, function () {
    clear(box);
    var c = C.data;
    if (!c) { box.appendChild(skeleton('Loading the conversation…', [50, 90, 90, 70])); return; }
    box.appendChild(h('h3', null, 'Conversation'));
    box.appendChild(h('p', { class: 'status-line' }, 'Status: ',
      h('strong', { class: 'status-text status-' + c.status, 'data-testid': 'status' }, statusLabel(c.status)),
      c.status === 'snoozed' && c.snoozed_until ? h('span', { class: 'muted' }, ' until ' + fmtTime(c.snoozed_until)) : null));

    var actions = h('div', { class: 'row-actions' });
    var resolvable = c.status !== 'resolved' && c.status !== 'closed';
    if (resolvable) {
      var resolveBtn = h('button', {
        type: 'button', id: 'act-resolve', class: 'primary', 'data-testid': 'resolve', 'aria-keyshortcuts': 'e',
        onclick: function () { changeConversation(C, '/status', 'POST', { status: 'resolved' }, resolveBtn); }
      }, 'Resolve');
      actions.appendChild(resolveBtn);
    }
    if (c.status !== 'open') {
      var reopenBtn = h('button', {
        type: 'button', id: 'act-reopen', 'data-testid': 'reopen',
        onclick: function () { changeConversation(C, '/status', 'POST', { status: 'open' }, reopenBtn); }
      }, 'Reopen');
      actions.appendChild(reopenBtn);
    }
    box.appendChild(actions);
    if (resolvable) {
      var snoozeSel = h('select', { id: 'act-snooze-for', 'aria-label': 'Snooze for', 'data-testid': 'snooze-for' },
        h('option', { value: '1h' }, '1 hour'), h('option', { value: '4h' }, '4 hours'),
        h('option', { value: 'tomorrow' }, 'Tomorrow 9:00'), h('option', { value: 'week' }, 'Next Monday 9:00'),
        h('option', { value: 'custom' }, 'Pick a date and time…'));
      snoozeSel.value = S.snoozeChoice || '4h';
      // A date and time of the agent's choosing (their browser's zone), shown for "Pick…".
      var snoozeAt = h('input', {
        type: 'datetime-local', id: 'act-snooze-at', 'data-testid': 'snooze-at', 'aria-label': 'Snooze until',
        min: localInput(new Date(Date.now() + 60e3)), hidden: snoozeSel.value !== 'custom'
      });
      snoozeAt.value = S.snoozeAt || localInput(snoozeUntil('tomorrow'));
      snoozeAt.addEventListener('change', function () { S.snoozeAt = snoozeAt.value; });
      snoozeSel.addEventListener('change', function () {
        S.snoozeChoice = snoozeSel.value;
        snoozeAt.hidden = snoozeSel.value !== 'custom';
        if (!snoozeAt.hidden) snoozeAt.focus();
      });
      var snoozeBtn = h('button', {
        type: 'button', id: 'act-snooze', 'data-testid': 'snooze',
        onclick: function () {
          var until = snoozeSel.value === 'custom' ? new Date(snoozeAt.value) : snoozeUntil(snoozeSel.value);
          if (isNaN(until.getTime()) || until.getTime() <= Date.now()) {
            toast('Pick a date and time in the future to snooze until.', 'error');
            snoozeAt.focus();
            return;
          }
          changeConversation(C, '/status', 'POST', { status: 'snoozed', snoozed_until: until.toISOString() }, snoozeBtn);
        }
      }, 'Snooze');
      box.appendChild(h('div', { class: 'snooze-row' }, snoozeSel, snoozeAt, snoozeBtn));
    }

    // Assignee: me, unassigned, or an agent who can see the inbox.
    var me = session.me || {};
    var assignee = h('select', {
      id: 'act-assignee', 'data-testid': 'assignee',
      onchange: function () {
        changeConversation(C, '/assign', 'POST', { assignee_id: assignee.value || null });
      }
    }, h('option', { value: '' }, 'Unassigned'), h('option', { value: me.id }, 'Me (' + me.name + ')'));
    var listed = {};
    listed[me.id] = true;
    C.candidates.slice().sort(function (a, b) { return a.name.localeCompare(b.name); }).forEach(function (a) {
      if (listed[a.id]) return;
      listed[a.id] = true;
      assignee.appendChild(h('option', { value: a.id }, a.name + presenceNote(a)));
    });
    if (c.assignee_id && !listed[c.assignee_id]) assignee.appendChild(h('option', { value: c.assignee_id }, agentName(c.assignee_id)));
    assignee.value = c.assignee_id || '';
    box.appendChild(labeled('Assignee', assignee));
    box.appendChild(h('div', { class: 'row-actions' }, h('button', {
      type: 'button', id: 'act-assign-me', 'data-testid': 'assign-me', 'aria-keyshortcuts': 'a',
      disabled: idEq(c.assignee_id, me.id),
      onclick: function () { assignMe(C); }
    }, 'Assign to me')));

    var team = h('select', {
      id: 'act-team', 'data-testid': 'team',
      onchange: function () { changeConversation(C, '/assign', 'POST', { team_id: team.value || null }); }
    }, h('option', { value: '' }, 'No team'));
    var teamListed = {};
    S.teamList.forEach(function (t) { teamListed[t.id] = true; team.appendChild(h('option', { value: t.id }, t.name)); });
    if (c.team_id && !teamListed[c.team_id]) team.appendChild(h('option', { value: c.team_id }, 'Team ' + c.team_id));
    team.value = c.team_id || '';
    box.appendChild(labeled('Team', team));

    var prio = h('select', {
      id: 'act-priority', 'data-testid': 'priority',
      onchange: function () { changeConversation(C, '/priority', 'POST', { priority: prio.value }); }
    }, PRIORITIES.map(function (p) { return h('option', { value: p[0] }, p[1]); }));
    prio.value = c.priority || 'none';
    box.appendChild(labeled('Priority', prio));

    box.appendChild(labelsEl(C));
  });
}

function labelsEl(C) {
  var labels = (C.data.labels || []).slice();
  var save = function (next) {
    changeConversation(C, '/labels', 'PUT', { labels: next }).then(function (c) {
      if (c && c.labels) c.labels.forEach(function (l) { S.labelsSeen[l] = true; });
    });
  };
  var input = h('input', {
    type: 'text', id: 'act-label-input', 'data-testid': 'label-input', placeholder: 'Add a label',
    autocomplete: 'off', list: V.labelList ? V.labelList.id : null
  });
  var add = function () {
    var name = input.value.trim().toLowerCase();
    if (!name) return;
    input.value = '';
    if (labels.indexOf(name) >= 0) return;
    save(labels.concat([name]));
  };
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ',') { e.preventDefault(); add(); }
  });
  return h('div', { class: 'form-row labels-row' },
    h('label', { for: 'act-label-input' }, 'Labels'),
    h('ul', { class: 'chips', 'data-testid': 'labels', 'aria-label': 'Labels' },
      labels.length ? null : h('li', { class: 'muted' }, 'None'),
      labels.map(function (l) {
        var dot = h('span', { class: 'label-dot', 'aria-hidden': 'true' });
        dot.style.backgroundColor = S.labelColors[l] || '#888888';
        return h('li', { class: 'chip' }, dot, l, h('button', {
          type: 'button', class: 'link chip-x', 'aria-label': 'Remove label ' + l,
          onclick: function () { save(labels.filter(function (x) { return x !== l; })); }
        }, '✕'));
      })),
    h('div', { class: 'inline' }, input, h('button', { type: 'button', class: 'small', onclick: add }, 'Add')));
}

var VERIFICATION = { unverified: 'Unverified', provider: 'Verified by the channel', hmac: 'Verified by the website' };

export function renderContact(C) {
  if (!current(C) || !V.contactBox) return;
  var box = V.contactBox;
  clear(box);
  var c = C.data;
  var entry = c && S.contacts[c.contact_id];
  var data = entry && entry.data;
  if (!data) {
    box.appendChild(h('h3', null, 'Contact'));
    box.appendChild(c && !c.contact_id ? h('p', { class: 'muted' }, 'No contact.') : skeleton('Loading the contact…', [70, 50, 80]));
    box.appendChild(h('ul', { class: 'identities', 'data-testid': 'identities', 'aria-label': 'Identities' }));
    box.appendChild(h('ol', { class: 'timeline', 'data-testid': 'timeline', 'aria-label': 'Conversations of this contact' }));
    return;
  }
  var contact = data.contact || {};
  var name = displayName(contact);
  box.appendChild(h('div', { class: 'contact-head' },
    h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(name)),
    h('div', null, h('h3', null, name),
      contact.email ? h('p', { class: 'muted' }, contact.email) : null,
      contact.phone ? h('p', { class: 'muted' }, contact.phone) : null,
      contact.language ? h('p', { class: 'muted' }, 'Language: ' + contact.language) : null,
      h('a', {
        href: '/contacts/' + encodeURIComponent(contact.id), class: 'small', 'data-testid': 'open-contact',
        onclick: function (e) {
          if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
          e.preventDefault();
          navigate('/contacts/' + encodeURIComponent(contact.id));
        }
      }, 'Contact page: notes, attributes, edit'))));

  box.appendChild(h('h4', null, 'Identities'));
  var ids = h('ul', { class: 'identities', 'data-testid': 'identities', 'aria-label': 'Identities' });
  var visitors = [];
  (contact.identities || []).forEach(function (i) {
    var profile = i.profile && typeof i.profile === 'object' ? i.profile : {};
    if (profile.visitor && typeof profile.visitor === 'object') visitors.push(profile.visitor);
    var details = Object.keys(profile).filter(function (k) {
      return typeof profile[k] === 'string' || typeof profile[k] === 'number';
    }).map(function (k) { return k.replace(/_/g, ' ') + ': ' + profile[k]; });
    ids.appendChild(h('li', { class: 'identity', 'data-channel': i.channel_type },
      h('div', null, chanIcon(i.channel_type), ' ', h('span', { class: 'identifier' }, i.identifier)),
      h('div', { class: 'muted small' }, inboxName(i.inbox_id) + ' · ',
        h('span', { class: 'badge verif-' + i.verification }, VERIFICATION[i.verification] || i.verification)),
      details.length ? h('div', { class: 'muted small' }, details.join(' · ')) : null,
      i.blocked_at ? h('div', { class: 'blocked small', 'data-testid': 'blocked' },
        h('span', { class: 'badge blocked-badge' }, 'Blocked this channel'), ' since ',
        timeEl(i.blocked_at, 'muted'), ' · replies cannot reach them') : null));
  });
  if (!ids.firstChild) ids.appendChild(h('li', { class: 'muted' }, 'None in your inboxes.'));
  box.appendChild(ids);
  visitors.forEach(function (v) { box.appendChild(visitorEl(v)); });

  box.appendChild(h('h4', null, 'Conversations'));
  var timeline = h('ol', { class: 'timeline', 'data-testid': 'timeline', 'aria-label': 'Conversations of this contact' });
  (data.conversations || []).slice().sort(newestFirst).forEach(function (t) {
    var here = idEq(t.id, C.id);
    var chan = channelOf(t.inbox_id);
    timeline.appendChild(h('li', { class: here ? 'current' : null },
      h('a', {
        href: '/conversations/' + encodeURIComponent(t.id), 'data-id': t.id,
        'aria-current': here ? 'page' : null,
        onclick: function (e) {
          if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
          e.preventDefault();
          if (!here) select(t.id);
        }
      }, chanIcon(chan), ' ', h('span', null, chanLabel(chan) + ' · ' + inboxName(t.inbox_id)), ' ',
      h('span', { class: 'badge status-' + t.status }, statusLabel(t.status)), ' ',
      timeEl(t.last_activity_at, 'muted'))));
  });
  if (!timeline.firstChild) timeline.appendChild(h('li', { class: 'muted' }, 'No conversations.'));
  box.appendChild(timeline);
}

// A link to a page of the visitor's site: http(s) only, text as text, opened apart.
function pageLink(url, title) {
  var text = title || url;
  if (!/^https?:\/\//i.test(url || '')) return h('span', null, text || '');
  return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow', title: url }, text);
}

// Where a web visitor is and how they came (their widget's `context`), for the agent.
function visitorEl(v) {
  var rows = [];
  var row = function (label, value, testid) {
    if (value === null || value === undefined || value === '') return;
    rows.push(h('dt', null, label), h('dd', { 'data-testid': testid }, value));
  };
  row('Page', v.page_url ? pageLink(v.page_url, v.page_title) : null, 'visitor-page');
  row('Came from', v.referrer ? pageLink(v.referrer) : null, 'visitor-referrer');
  var browser = [v.browser, v.os].filter(Boolean).join(' on ');
  row('Browser', browser, 'visitor-browser');
  var zone = v.time_zone;
  if (zone) {
    try {
      zone += ' (their time ' + new Date().toLocaleTimeString([], { timeZone: v.time_zone, hour: '2-digit', minute: '2-digit' }) + ')';
    } catch (e) { /* a zone this browser does not know: the name alone */ }
  }
  row('Time zone', zone, 'visitor-time-zone');
  row('Language', v.language, 'visitor-language');
  var pages = Array.isArray(v.pages) ? v.pages.slice(-10).reverse() : [];
  return h('section', { class: 'visitor', 'data-testid': 'visitor', 'aria-label': 'Web visitor' },
    h('h4', null, 'Web visitor'),
    h('dl', { class: 'facts small' }, rows),
    pages.length ? h('details', { class: 'visitor-pages' },
      h('summary', null, 'Pages this visit (' + (v.pages.length) + ')'),
      h('ol', { 'data-testid': 'visitor-pages' }, pages.map(function (p) {
        return h('li', null, pageLink(p.url, p.title), p.at ? [' ', timeEl(p.at, 'muted')] : null);
      }))) : null);
}

function initials(name) {
  var parts = String(name || '?').replace(/^[@+]/, '').split(/\s+/).filter(Boolean);
  var out = parts.slice(0, 2).map(function (p) { return p.charAt(0); }).join('');
  return (out || '?').toUpperCase();
}
