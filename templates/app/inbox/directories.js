// ---- Directories: inboxes, agents, teams, contacts --------------------------------------------

import { api, session } from '../core.js';
import { fetchAll, isAdmin } from '../shared.js';
import { S, V } from './state.js';
import { idEq, mounted } from './helpers.js';
import { renderListSoon } from './list.js';
import { renderHeader } from './pane.js';
import { refreshMessages } from './messages.js';
import { renderContact } from './details.js';

// Many pages of a list (agents, inboxes, teams): up to 5 × 200.
function pageAll(path) { return fetchAll(path, 5); }

export function loadInboxes(force) {
  if (S.inboxesPromise && !force) return S.inboxesPromise;
  S.inboxesPromise = pageAll('/api/v1/inboxes').then(function (list) {
    list.forEach(function (i) { S.inboxes[i.id] = i; });
    S.inboxesLoaded = true;
    return list;
  }, function (e) { S.inboxesPromise = null; throw e; });
  return S.inboxesPromise;
}
export function ensureInbox(id) {
  if (!id || S.inboxes[id]) return Promise.resolve(S.inboxes[id] || null);
  return api('GET', '/api/v1/inboxes/' + encodeURIComponent(id)).then(function (inbox) {
    S.inboxes[inbox.id] = inbox;
    return inbox;
  }, function () { return null; });
}
export function rememberAgent(a) { if (a && a.id) S.agents[a.id] = a; }
export function agentName(id) {
  if (id === null || id === undefined) return '';
  if (session.me && idEq(id, session.me.id)) return session.me.name;
  var a = S.agents[id];
  return a ? a.name : 'Agent ' + id;
}
// Admins may list every agent; others learn names from the inboxes they belong to.
export function loadAllAgents() {
  if (!isAdmin()) return Promise.resolve([]);
  if (!S.allAgents) {
    S.allAgents = pageAll('/api/v1/agents').then(function (list) {
      list.forEach(rememberAgent);
      return list;
    }, function () { return []; });
  }
  return S.allAgents;
}
export function membersOf(inboxId) {
  if (!inboxId) return Promise.resolve([]);
  if (!S.members[inboxId]) {
    S.members[inboxId] = api('GET', '/api/v1/inboxes/' + encodeURIComponent(inboxId) + '/members')
      .then(function (page) {
        var list = (page && page.data) || [];
        list.forEach(rememberAgent);
        return list;
      }, function () { return []; });
  }
  return S.members[inboxId];
}
export function loadTeams() {
  if (!S.teams) {
    S.teams = pageAll('/api/v1/teams').then(function (list) { S.teamList = list; return list; },
      function () { return []; });
  }
  return S.teams;
}

export function teamName(id) {
  for (var i = 0; i < S.teamList.length; i++) if (idEq(S.teamList[i].id, id)) return S.teamList[i].name;
  return null;
}
// Label colours, chosen by admins; a label without one (made by use) is grey.
export function loadLabels(force) {
  if (!S.labels || force) {
    S.labels = pageAll('/api/v1/labels').then(function (list) {
      var colors = {};
      list.forEach(function (l) { colors[l.name] = l.color; });
      S.labelColors = colors;
      return list;
    }, function () { S.labels = null; return []; });
  }
  return S.labels;
}
export function loadViews(force) {
  if (!S.views || force) {
    S.views = api('GET', '/api/v1/me/views').then(function (page) { return (page && page.data) || []; },
      function () { S.views = null; return []; });
  }
  return S.views;
}

// Contacts come one by one (GET /contacts/{id} also gives identities and conversations);
// the list prefetches them through a small queue.
var contactQueue = [];
var contactActive = 0;
export function queued(task) {
  return new Promise(function (resolve, reject) {
    contactQueue.push(function () {
      contactActive += 1;
      task().then(resolve, reject).then(function () {
        contactActive -= 1;
        pump();
      });
    });
    pump();
  });
}
function pump() {
  while (contactActive < 4 && contactQueue.length) contactQueue.shift()();
}
export function fetchContact(id, fresh) {
  if (!id) return Promise.resolve(null);
  var entry = S.contacts[id] || (S.contacts[id] = { data: null, promise: null });
  if (entry.promise && !fresh) return entry.promise;
  var get = function () { return api('GET', '/api/v1/contacts/' + encodeURIComponent(id)); };
  entry.promise = (fresh ? get() : queued(get)).then(function (data) {
    entry.data = data;
    contactLoaded(id);
    return data;
  }, function () { return entry.data; });
  return entry.promise;
}
export function displayName(c) {
  if (!c) return 'Unknown contact';
  if (c.name) return c.name;
  if (c.email) return c.email;
  if (c.phone) return c.phone;
  var ids = c.identities || [];
  // A web visitor who gave no name: the name the hub made up for them ("Blue Falcon").
  for (var v = 0; v < ids.length; v++) {
    var visitor = ids[v].profile && ids[v].profile.visitor;
    if (visitor && typeof visitor.name === 'string' && visitor.name) return visitor.name;
  }
  for (var i = 0; i < ids.length; i++) {
    var p = ids[i].profile || {};
    if (p.username) return '@' + p.username;
    if (p.first_name) return p.first_name + (p.last_name ? ' ' + p.last_name : '');
    if (ids[i].identifier) return ids[i].identifier;
  }
  return 'Contact ' + c.id;
}
function contactName(id) {
  var entry = S.contacts[id];
  if (entry && entry.data && entry.data.contact) return displayName(entry.data.contact);
  return id ? 'Contact ' + id : 'Unknown contact';
}
export function convName(c) {
  if (!c) return '';
  if (c.contact && typeof c.contact === 'object') return displayName(c.contact);
  if (c.contact_name) return c.contact_name;
  var entry = S.contacts[c.contact_id];
  if (entry && entry.data && entry.data.contact) return displayName(entry.data.contact);
  if (c.subject) return c.subject;
  return contactName(c.contact_id);
}
function contactLoaded(id) {
  if (!mounted()) return;
  renderListSoon();
  var C = V.conv;
  if (C && C.data && idEq(C.data.contact_id, id)) {
    renderHeader(C);
    renderContact(C);
    refreshMessages(C);
  }
}
