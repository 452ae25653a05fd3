// ---- Contacts: the list ------------------------------------------------------------------------
// Every customer the agent may see (an identity in one of their inboxes; admins all): search,
// sort, "Show more" paging. The search and sort live in the address (?q=&sort=), so a reload or
// a shared link shows the same list.

import { api, clear, h } from '../core.js';
import { skeleton } from '../shared.js';
import { alertBox, alive, link, showError, timeEl } from '../admin/ui.js';
import { avatar, chanIcon, debounce } from '../inbox/helpers.js';
import { displayName } from '../inbox/directories.js';

export var SORTS = [['newest', 'Newest first'], ['oldest', 'Oldest first'], ['name', 'Name A–Z']];
var PAGE = 50;

// /contacts
export function contactsPage(main) {
  document.title = 'Contacts · Switchboard';
  var params = new URLSearchParams(location.search);
  var state = { q: params.get('q') || '', sort: params.get('sort') || 'newest', cursor: null, token: 0 };
  if (!SORTS.some(function (s) { return s[0] === state.sort; })) state.sort = 'newest';

  var search = h('input', {
    type: 'search', id: 'contacts-search', value: state.q, placeholder: 'Name, email, phone or handle',
    autocomplete: 'off', maxlength: '200', 'data-testid': 'contacts-search'
  });
  var sort = h('select', { id: 'contacts-sort', 'data-testid': 'contacts-sort' },
    SORTS.map(function (s) { return h('option', { value: s[0] }, s[1]); }));
  sort.value = state.sort;
  var alert = alertBox('page-error');
  var count = h('p', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'contacts-count' });
  var list = h('ul', { class: 'contact-list', 'data-testid': 'contact-list', 'aria-label': 'Contacts' });
  var more = h('button', { type: 'button', class: 'load-more', hidden: true, 'data-testid': 'contacts-more' }, 'Show more contacts');
  var empty = h('div', { class: 'empty-state', hidden: true, 'data-testid': 'contacts-empty' });

  main.appendChild(h('div', { class: 'page contacts-page' },
    h('h1', { tabindex: '-1' }, 'Contacts'),
    h('p', { class: 'muted intro' }, 'The people who wrote to your inboxes, on every channel.'),
    h('div', { class: 'filters contacts-filters', role: 'search' },
      h('label', { for: 'contacts-search', class: 'visually-hidden' }, 'Search contacts'), search,
      h('label', { for: 'contacts-sort' }, 'Sort'), sort),
    alert, count, list, empty, more));

  function remember() {
    var p = new URLSearchParams();
    if (state.q) p.set('q', state.q);
    if (state.sort !== 'newest') p.set('sort', state.sort);
    var query = p.toString();
    history.replaceState(history.state, '', '/contacts' + (query ? '?' + query : ''));
  }

  function row(c) {
    var name = displayName(c);
    var reach = [c.email, c.phone].filter(Boolean).join(' · ');
    var n = c.conversations_count || 0;
    return h('li', { class: 'contact-row', 'data-testid': 'contact-row', 'data-id': c.id },
      avatar(name, 'row-avatar'),
      h('div', { class: 'contact-main' },
        link('/contacts/' + encodeURIComponent(c.id), name, { class: 'contact-name', 'data-testid': 'contact-link' }),
        reach ? h('span', { class: 'muted small' }, reach) : null),
      h('span', { class: 'contact-channels', 'aria-label': 'Channels' },
        (c.channels || []).map(function (t) { return chanIcon(t); })),
      h('span', { class: 'muted small contact-count' }, n + (n === 1 ? ' conversation' : ' conversations')),
      h('span', { class: 'muted small contact-last' }, c.last_activity_at ? ['Last ', timeEl(c.last_activity_at)] : 'No activity'));
  }

  function load(append) {
    var token = ++state.token;
    var url = '/api/v1/contacts?limit=' + PAGE + '&sort=' + encodeURIComponent(state.sort) +
      (state.q ? '&q=' + encodeURIComponent(state.q) : '') +
      (append && state.cursor ? '&cursor=' + encodeURIComponent(state.cursor) : '');
    if (!append) {
      clear(list).appendChild(h('li', { class: 'contact-row' }, skeleton('Loading contacts…', [60, 40, 70])));
      empty.hidden = true;
      more.hidden = true;
    }
    alert.textContent = '';
    return api('GET', url).then(function (page) {
      if (!alive(main) || token !== state.token) return;
      if (!append) clear(list);
      (page.data || []).forEach(function (c) { list.appendChild(row(c)); });
      state.cursor = page.next_cursor || null;
      more.hidden = !state.cursor;
      var shown = list.children.length;
      count.textContent = shown ? shown + (state.cursor ? '+' : '') + (shown === 1 ? ' contact' : ' contacts') : '';
      clear(empty);
      if (!shown) {
        empty.appendChild(state.q
          ? h('p', null, 'No contact matches "' + state.q + '". ',
            h('button', { type: 'button', class: 'link', 'data-testid': 'contacts-clear', onclick: function () { search.value = ''; changed(); } }, 'Clear search'))
          : h('p', null, 'No contacts yet. A contact appears when a customer writes to one of your inboxes.'));
      }
      empty.hidden = shown !== 0;
    }, function (err) {
      if (!alive(main) || token !== state.token) return;
      if (!append) clear(list);
      showError(alert, err);
    });
  }

  function changed() {
    state.q = search.value.trim();
    state.sort = sort.value;
    state.cursor = null;
    remember();
    load(false);
  }
  search.addEventListener('input', debounce(changed, 250));
  sort.addEventListener('change', changed);
  more.addEventListener('click', function () {
    more.disabled = true;
    load(true).then(function () { more.disabled = false; });
  });
  load(false);
}
