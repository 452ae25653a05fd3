// ---- Page frame and the admin sub-navigation ---------------------------------------------------

import { clear, h } from '../core.js';
import { isAdmin, skeleton } from '../shared.js';
import { alertBox, link } from './ui.js';

var SECTIONS = [
  ['/admin/inboxes', 'Inboxes', true],
  ['/admin/agents', 'Agents', true],
  ['/admin/teams', 'Teams', true],
  ['/admin/labels', 'Labels', true],
  ['/admin/attributes', 'Contact attributes', true],
  ['/admin/sla', 'Service levels', true],
  ['/admin/canned', 'Canned responses', false],
  ['/admin/audit', 'Audit log', true]
];

function subnav() {
  var path = location.pathname;
  var items = SECTIONS.filter(function (s) { return isAdmin() || !s[2]; }).map(function (s) {
    var current = path === s[0] || path.indexOf(s[0] + '/') === 0;
    return h('li', {}, link(s[0], s[1], { 'aria-current': current ? 'page' : null }));
  });
  return h('nav', { class: 'subnav', 'aria-label': 'Admin sections', 'data-testid': 'admin-nav' }, h('ul', {}, items));
}

// The frame of an admin page: sub-navigation, heading, a page-level alert; returns the parts.
export function adminPage(main, title, intro) {
  document.title = title + ' · Switchboard';
  var heading = h('h1', { tabindex: '-1' }, title);
  var alert = alertBox('page-error');
  var body = h('div', { class: 'page-body' });
  main.appendChild(h('div', { class: 'page admin' },
    subnav(),
    heading,
    intro ? h('p', { class: 'muted intro' }, intro) : null,
    alert,
    body));
  return { heading: heading, alert: alert, body: body };
}

export function loading(el) { clear(el).appendChild(skeleton('Loading…', [60, 90, 75, 85])); }
