// ---- The page -------------------------------------------------------------------------------

import { fail, h } from '../core.js';
import { nextId } from '../shared.js';
import { PRIORITIES, S, SORTS, V, saveFilters, setView } from './state.js';
import { chanLabel, debounce, mounted, statusLabel } from './helpers.js';
import { loadAllAgents, loadInboxes, loadLabels, loadTeams } from './directories.js';
import { setAllFilters, viewsControl } from './views.js';
import { setViewing } from './viewing.js';
import { filterKey, loadMore, refreshList, renderList, renderListSoon } from './list.js';
import { closeConversationState, openConversation, showNoConversation } from './select.js';
import { registerEvents } from './realtime.js';
import { closeHelp, toggleHelp } from './keyboard.js';

export function render(main, params) {
  teardown();
  main.classList.add('inbox-page');
  document.title = 'Inbox · Switchboard';
  setView(buildView(main));
  registerEvents();
  renderList();
  refreshList(S.key !== filterKey());
  // None known yet (or none before): ask again, an admin may just have created the first.
  loadInboxes(!Object.keys(S.inboxes).length).then(function () {
    if (!mounted()) return;
    fillInboxSelect();
    renderListSoon();
    // With no inbox at all, the empty pane becomes the first-run guide.
    if (!V.conv) showNoConversation();
  }, fail);
  loadAllAgents().then(renderListSoon);
  loadTeams().then(function () { if (mounted()) { fillTeamSelect(); renderListSoon(); } });
  loadLabels().then(function () { if (mounted()) { fillLabelList(); renderListSoon(); } });
  if (params && params.id) openConversation(params.id);
  else { showNoConversation(); setViewing(null); }
}

export function teardown() {
  if (!V) return;
  if (V.conv) closeConversationState(V.conv);
  if (V.timers) V.timers.forEach(function (fn) { fn(); });
  closeHelp(false);
  setView(null);
}

function buildView(main) {
  var view = { timers: [] };
  var listId = nextId('conv-list');
  view.search = h('input', {
    type: 'search', id: 'inbox-search', class: 'search', 'data-testid': 'search',
    placeholder: 'Search conversations', 'aria-label': 'Search conversations',
    'aria-keyshortcuts': '/', autocomplete: 'off', value: S.filters.q
  });
  var searchNow = debounce(function () { setFilter('q', view.search.value); }, 300);
  view.timers.push(searchNow.cancel);
  view.search.addEventListener('input', searchNow);
  view.search.addEventListener('keydown', function (e) {
    if (e.key === 'Enter') { e.preventDefault(); searchNow.cancel(); setFilter('q', view.search.value); }
  });

  view.tabs = {};
  var tab = function (value, label) {
    var b = h('button', {
      type: 'button', class: 'tab', 'data-testid': 'filter-' + value,
      'aria-pressed': String(S.filters.assignee === value),
      onclick: function () { setFilter('assignee', value); }
    }, label);
    view.tabs[value] = b;
    return b;
  };

  view.inboxSelect = h('select', {
    id: 'filter-inbox', 'data-testid': 'filter-inbox', 'aria-label': 'Inbox',
    onchange: function () { setFilter('inbox', view.inboxSelect.value); }
  }, h('option', { value: '' }, 'All inboxes'));
  view.statusSelect = h('select', {
    id: 'filter-status', 'data-testid': 'filter-status', 'aria-label': 'Status',
    onchange: function () { setFilter('status', view.statusSelect.value); }
  }, ['open', 'pending', 'snoozed', 'resolved'].map(function (s) {
    return h('option', { value: s }, statusLabel(s));
  }), h('option', { value: 'all' }, 'All statuses'));
  fillStatusSelect(view);
  view.prioritySelect = h('select', {
    id: 'filter-priority', 'data-testid': 'filter-priority', 'aria-label': 'Priority',
    onchange: function () { setFilter('priority', view.prioritySelect.value); }
  }, h('option', { value: '' }, 'Any priority'), PRIORITIES.map(function (p) {
    return h('option', { value: p[0] }, p[1]);
  }));
  view.prioritySelect.value = S.filters.priority;
  view.slaSelect = h('select', {
    id: 'filter-sla', 'data-testid': 'filter-sla', 'aria-label': 'SLA',
    onchange: function () { setFilter('sla', view.slaSelect.value); }
  }, h('option', { value: '' }, 'Any SLA'), h('option', { value: 'at_risk' }, 'Breaching soon'));
  view.slaSelect.value = S.filters.sla || '';
  view.teamSelect = h('select', {
    id: 'filter-team', 'data-testid': 'filter-team', 'aria-label': 'Team',
    onchange: function () { setFilter('team', view.teamSelect.value); }
  }, h('option', { value: '' }, 'Any team'));
  view.sortSelect = h('select', {
    id: 'filter-sort', 'data-testid': 'filter-sort', 'aria-label': 'Sort',
    title: 'Sort (Breaching soon sorts by SLA due time)',
    onchange: function () { setFilter('sort', view.sortSelect.value); }
  }, SORTS.map(function (o) { return h('option', { value: o[0] }, 'Sort: ' + o[1]); }));
  view.sortSelect.value = S.filters.sort || 'newest';
  view.views = viewsControl(function (filters) {
    setAllFilters(filters);
    refreshList(true);
  });
  // Every control shows the filters (after a view set them all at once).
  view.syncFilters = function () {
    if (view.search.value !== S.filters.q) view.search.value = S.filters.q;
    fillInboxSelect(view);
    fillTeamSelect(view);
    fillStatusSelect(view);
    view.prioritySelect.value = S.filters.priority;
    view.slaSelect.value = S.filters.sla || '';
    view.sortSelect.value = S.filters.sort || 'newest';
    view.sortSelect.disabled = !!S.filters.sla;
    if (view.labelInput.value.trim() !== S.filters.label) view.labelInput.value = S.filters.label;
    Object.keys(view.tabs).forEach(function (k) {
      view.tabs[k].setAttribute('aria-pressed', String(S.filters.assignee === k));
    });
    view.views.sync();
  };
  view.sortSelect.disabled = !!S.filters.sla;
  var datalistId = nextId('labels');
  view.labelList = h('datalist', { id: datalistId });
  view.labelInput = h('input', {
    type: 'text', id: 'filter-label', 'data-testid': 'filter-label', class: 'label-filter',
    placeholder: 'Label', 'aria-label': 'Label', list: datalistId, autocomplete: 'off',
    value: S.filters.label
  });
  var labelNow = debounce(function () { setFilter('label', view.labelInput.value.trim()); }, 400);
  view.timers.push(labelNow.cancel);
  // SLA badges count down.
  var slaTick = setInterval(renderListSoon, 30000);
  view.timers.push(function () { clearInterval(slaTick); });
  view.labelInput.addEventListener('input', labelNow);
  view.labelInput.addEventListener('change', function () { labelNow.cancel(); setFilter('label', view.labelInput.value.trim()); });

  view.listEl = h('ul', { id: listId, class: 'conv-list', 'data-testid': 'conversation-list', 'aria-label': 'Conversations' });
  view.moreBtn = h('button', {
    type: 'button', class: 'load-more', 'data-testid': 'load-more', hidden: true,
    onclick: loadMore
  }, 'Load more');
  view.bulkBar = h('div', { class: 'bulk-bar', role: 'region', 'aria-label': 'Bulk actions', 'data-testid': 'bulk-bar', hidden: true });
  view.listPane = h('section', { class: 'pane list-pane', 'aria-labelledby': 'list-title' },
    h('div', { class: 'list-head' },
      h('h2', { id: 'list-title', class: 'pane-title' }, 'Conversations'),
      h('button', {
        type: 'button', class: 'link help-btn', 'aria-label': 'Keyboard shortcuts', 'aria-keyshortcuts': '?',
        onclick: function () { toggleHelp(); }
      }, '?')),
    h('div', { class: 'filters' },
      h('div', { class: 'tabs', role: 'group', 'aria-label': 'Assignee' },
        tab('mine', 'Mine'), tab('unassigned', 'Unassigned'), tab('all', 'All')),
      view.search,
      h('div', { class: 'filter-selects' }, view.inboxSelect, view.teamSelect, view.statusSelect, view.prioritySelect,
        view.slaSelect, view.sortSelect, view.labelInput, view.labelList),
      view.views.el, view.views.form),
    view.bulkBar,
    h('nav', { class: 'list-scroll', 'aria-label': 'Conversation list' }, view.listEl, view.moreBtn));

  view.convPane = h('section', { class: 'pane conv-pane', 'aria-label': 'Conversation' });
  view.sideId = nextId('side');
  view.sidePane = h('aside', { id: view.sideId, class: 'pane side-pane', 'aria-label': 'Conversation details' });
  // Screen readers hear each new message here once (who, where, what), wherever focus is.
  view.announcer = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-testid': 'announcer' });
  view.root = h('div', { class: 'inbox' + (S.sideHidden ? ' side-hidden' : '') },
    view.listPane, view.convPane, view.sidePane, view.announcer);
  main.appendChild(view.root);
  fillInboxSelect(view);
  fillTeamSelect(view);
  return view;
}

// The statuses a view may hold beyond the picker's own (an API-made "open,pending").
function fillStatusSelect(view) {
  var sel = view.statusSelect;
  var want = S.filters.status || 'open';
  var extra = sel.querySelector('option[data-extra]');
  if (extra) sel.removeChild(extra);
  var known = Array.prototype.some.call(sel.options, function (o) { return o.value === want; });
  if (!known) {
    sel.appendChild(h('option', { value: want, 'data-extra': 'true' }, want.split(',').map(statusLabel).join(', ')));
  }
  sel.value = want;
}

function fillTeamSelect(view) {
  view = view || V;
  if (!view) return;
  var sel = view.teamSelect;
  var keep = S.filters.team;
  while (sel.options.length > 1) sel.remove(1);
  S.teamList.slice().sort(function (a, b) { return a.name.localeCompare(b.name); }).forEach(function (t) {
    sel.appendChild(h('option', { value: t.id }, t.name));
  });
  if (keep && !S.teamList.some(function (t) { return String(t.id) === String(keep); })) {
    sel.appendChild(h('option', { value: keep }, 'Team ' + keep));
  }
  sel.value = keep;
}

// Label suggestions: the admin's labels and those seen on rows.
export function fillLabelList() {
  if (!V) return;
  var names = {};
  Object.keys(S.labelColors).forEach(function (l) { names[l] = true; });
  Object.keys(S.labelsSeen).forEach(function (l) { names[l] = true; });
  while (V.labelList.firstChild) V.labelList.removeChild(V.labelList.firstChild);
  Object.keys(names).sort().forEach(function (l) { V.labelList.appendChild(h('option', { value: l })); });
}

export function fillInboxSelect(view) {
  view = view || V;
  if (!view) return;
  var sel = view.inboxSelect;
  var keep = S.filters.inbox;
  while (sel.options.length > 1) sel.remove(1);
  Object.keys(S.inboxes).map(function (k) { return S.inboxes[k]; })
    .sort(function (a, b) { return a.name.localeCompare(b.name); })
    .forEach(function (i) {
      sel.appendChild(h('option', { value: i.id }, chanLabel(i.channel_type) + ' · ' + i.name));
    });
  if (keep && !S.inboxes[keep]) sel.appendChild(h('option', { value: keep }, 'Inbox ' + keep));
  sel.value = keep;
}

function setFilter(name, value) {
  if (S.filters[name] === value) return;
  S.filters[name] = value;
  saveFilters();
  if (V) V.syncFilters();
  refreshList(true);
}
