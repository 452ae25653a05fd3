// Helpers that the inbox and the admin pages both use (one copy, imported by both).

import { api, h, session } from './core.js';

export function isAdmin() { return !!(session.me && session.me.role === 'admin'); }

// Unique element ids for label/aria references ("canned-3").
var uid = 0;
export function nextId(prefix) { uid += 1; return prefix + '-' + uid; }

// Every page of a list (`{data, next_cursor}`), 200 at a time and at most `maxPages` pages
// (25, i.e. 5,000 entries, when not given): for the short lists the pages pick from (agents,
// inboxes, teams).
export function fetchAll(path, maxPages) {
  var most = maxPages || 25;
  var out = [];
  var sep = path.indexOf('?') < 0 ? '?' : '&';
  function step(cursor, n) {
    var url = path + sep + 'limit=200' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
    return api('GET', url).then(function (page) {
      out = out.concat((page && page.data) || []);
      if (page && page.next_cursor && n < most) return step(page.next_cursor, n + 1);
      return out;
    });
  }
  return step(null, 1);
}

// A placeholder in the shape of what is loading (grey bars, shimmering unless the system asks
// for less motion): `shapes` are bar widths in %, one bar per line. Screen readers hear
// `label` once (role=status), not the bars.
export function skeleton(label, shapes, extraClass) {
  return h('div', { class: 'skeleton' + (extraClass ? ' ' + extraClass : ''), role: 'status', 'data-testid': 'skeleton' },
    h('span', { class: 'visually-hidden' }, label),
    (shapes || [90, 70, 80]).map(function (w) {
      var bar = h('span', { class: 'skeleton-bar', 'aria-hidden': 'true' });
      bar.style.width = w + '%';
      return bar;
    }));
}
