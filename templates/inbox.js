// Switchboard web inbox: the agents' three panes (conversation list, conversation, details).
// Built on core.js: SB.h for every node (user content only ever in text nodes), SB.api for
// the JSON API, SB.on for the agent websocket. No dependencies, no build step (ES2019).
(function () {
  'use strict';
  var SB = window.SB;
  if (!SB) return;
  var h = SB.h;

  var PAGE = 50;
  var CHANNELS = {
    api: { icon: '🔌', label: 'API' },
    telegram: { icon: '✈️', label: 'Telegram' },
    widget: { icon: '💬', label: 'Web chat' },
    whatsapp: { icon: '📱', label: 'WhatsApp' },
    email: { icon: '✉️', label: 'Email' }
  };
  var STATUS_LABELS = { open: 'Open', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved', closed: 'Closed' };
  var ALL_STATUSES = 'open,pending,snoozed,resolved,closed';
  var PRIORITIES = [['none', 'No priority'], ['low', 'Low'], ['medium', 'Medium'], ['high', 'High'], ['urgent', 'Urgent']];
  var TICKS = {
    queued: ['⏱', 'Queued'], sent: ['✓', 'Sent'], delivered: ['✓✓', 'Delivered'],
    read: ['✓✓', 'Read'], failed: ['⚠', 'Failed']
  };
  var RANK = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
  var SHORTCUTS = [
    ['j', 'Next conversation'], ['k', 'Previous conversation'], ['r', 'Reply'],
    ['n', 'Private note'], ['e', 'Resolve'], ['a', 'Assign to me'], ['/', 'Search'],
    ['?', 'Show or hide this help'], ['Esc', 'Leave a field, close a list or this help']
  ];

  // ---- State that outlives one render (core.js rebuilds the page on every navigation) --------

  var S = {
    filters: loadFilters(),
    rows: [], cursor: null, pages: 0, key: null,
    inboxes: {}, inboxesPromise: null,
    agents: {}, members: {}, allAgents: null,
    teams: null, teamList: [],
    contacts: {},
    snippets: {}, drafts: {}, labelsSeen: {}, viewers: {},
    presence: {} // agent id → online | away | offline, from `presence` events
  };
  var V = null; // the mounted view (DOM references and the open conversation)
  var viewingId = null; // the conversation the socket was told we view
  var uid = 0;

  function loadFilters() {
    var f = { assignee: 'all', inbox: '', status: 'open', priority: '', label: '', q: '' };
    try {
      var saved = JSON.parse(sessionStorage.getItem('sb.inbox.filters') || 'null');
      if (saved && typeof saved === 'object') {
        Object.keys(f).forEach(function (k) { if (typeof saved[k] === 'string') f[k] = saved[k]; });
      }
    } catch (e) { /* private mode: defaults */ }
    return f;
  }
  function saveFilters() {
    try { sessionStorage.setItem('sb.inbox.filters', JSON.stringify(S.filters)); } catch (e) { /* ignore */ }
  }

  // ---- Small helpers ---------------------------------------------------------------------------

  function idEq(a, b) { return a !== null && a !== undefined && b !== null && b !== undefined && String(a) === String(b); }
  function ts(iso) { var t = Date.parse(iso); return isNaN(t) ? 0 : t; }
  function newestFirst(a, b) {
    var d = ts(b.last_activity_at) - ts(a.last_activity_at);
    return d || Number(b.id) - Number(a.id);
  }
  function isAdmin() { return !!(SB.me && SB.me.role === 'admin'); }
  function nextId(prefix) { uid += 1; return prefix + '-' + uid; }
  function debounce(fn, ms) {
    var t = null;
    var wrapped = function () {
      var args = arguments;
      clearTimeout(t);
      t = setTimeout(function () { t = null; fn.apply(null, args); }, ms);
    };
    wrapped.cancel = function () { clearTimeout(t); t = null; };
    return wrapped;
  }
  function statusLabel(s) { return STATUS_LABELS[s] || s || ''; }
  function priorityLabel(p) {
    for (var i = 0; i < PRIORITIES.length; i++) if (PRIORITIES[i][0] === p) return PRIORITIES[i][1];
    return p;
  }
  function fmtSize(n) {
    if (!n && n !== 0) return '';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return Math.round(n / 102.4) / 10 + ' KB';
    return Math.round(n / 104857.6) / 10 + ' MB';
  }
  function channelOf(inboxId) {
    var inbox = S.inboxes[inboxId];
    return inbox ? inbox.channel_type : null;
  }
  function inboxName(inboxId) {
    var inbox = S.inboxes[inboxId];
    return inbox ? inbox.name : (inboxId ? 'Inbox ' + inboxId : 'No inbox');
  }
  function chanIcon(type) {
    var c = CHANNELS[type] || { icon: '•', label: type ? type : 'Channel' };
    return h('span', { class: 'chan chan-' + (type || 'unknown'), role: 'img', 'aria-label': c.label, title: c.label }, c.icon);
  }
  function chanLabel(type) { return (CHANNELS[type] || { label: type || 'Channel' }).label; }
  function timeEl(iso, cls) {
    if (!iso) return null;
    return h('time', { class: cls || null, datetime: iso, title: new Date(iso).toLocaleString() }, SB.fmtTime(iso));
  }
  function receiptsOf(inboxId) {
    var inbox = S.inboxes[inboxId];
    if (inbox && inbox.capabilities && typeof inbox.capabilities.receipts === 'boolean') return inbox.capabilities.receipts;
    return channelOf(inboxId) !== 'telegram';
  }
  function isField(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable) return true;
    if (tag !== 'INPUT') return false;
    return ['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'range', 'color'].indexOf(el.type) < 0;
  }
  function mounted() { return !!(V && V.root && document.body.contains(V.root)); }
  function current(C) { return !!(V && V.conv === C); }
  function phone() { return !!(window.matchMedia && window.matchMedia('(max-width: 700px)').matches); }

  // Rebuilds a container while keeping the focused control (by id) and what was typed in it.
  function keepFocus(container, build) {
    var active = document.activeElement;
    var keep = active && container.contains(active) && active.id ? active.id : null;
    var value = keep && 'value' in active && active.tagName === 'INPUT' ? active.value : null;
    build();
    if (!keep) return;
    var again = document.getElementById(keep);
    if (!again) return;
    if (value !== null) again.value = value;
    again.focus();
  }

  // Many pages of a list (agents, inboxes, teams): up to 5 × 200.
  function pageAll(path) {
    var out = [];
    function step(cursor, n) {
      var url = path + (path.indexOf('?') < 0 ? '?' : '&') + 'limit=200' +
        (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return SB.api('GET', url).then(function (page) {
        out = out.concat((page && page.data) || []);
        if (page && page.next_cursor && n < 5) return step(page.next_cursor, n + 1);
        return out;
      });
    }
    return step(null, 1);
  }

  // ---- Directories: inboxes, agents, teams, contacts --------------------------------------------

  function loadInboxes(force) {
    if (S.inboxesPromise && !force) return S.inboxesPromise;
    S.inboxesPromise = pageAll('/api/v1/inboxes').then(function (list) {
      list.forEach(function (i) { S.inboxes[i.id] = i; });
      return list;
    }, function (e) { S.inboxesPromise = null; throw e; });
    return S.inboxesPromise;
  }
  function ensureInbox(id) {
    if (!id || S.inboxes[id]) return Promise.resolve(S.inboxes[id] || null);
    return SB.api('GET', '/api/v1/inboxes/' + encodeURIComponent(id)).then(function (inbox) {
      S.inboxes[inbox.id] = inbox;
      return inbox;
    }, function () { return null; });
  }
  function rememberAgent(a) { if (a && a.id) S.agents[a.id] = a; }
  function agentName(id) {
    if (id === null || id === undefined) return '';
    if (SB.me && idEq(id, SB.me.id)) return SB.me.name;
    var a = S.agents[id];
    return a ? a.name : 'Agent ' + id;
  }
  // Admins may list every agent; others learn names from the inboxes they belong to.
  function loadAllAgents() {
    if (!isAdmin()) return Promise.resolve([]);
    if (!S.allAgents) {
      S.allAgents = pageAll('/api/v1/agents').then(function (list) {
        list.forEach(rememberAgent);
        return list;
      }, function () { return []; });
    }
    return S.allAgents;
  }
  function membersOf(inboxId) {
    if (!inboxId) return Promise.resolve([]);
    if (!S.members[inboxId]) {
      S.members[inboxId] = SB.api('GET', '/api/v1/inboxes/' + encodeURIComponent(inboxId) + '/members')
        .then(function (page) {
          var list = (page && page.data) || [];
          list.forEach(rememberAgent);
          return list;
        }, function () { return []; });
    }
    return S.members[inboxId];
  }
  function loadTeams() {
    if (!S.teams) {
      S.teams = pageAll('/api/v1/teams').then(function (list) { S.teamList = list; return list; },
        function () { return []; });
    }
    return S.teams;
  }

  // Contacts come one by one (GET /contacts/{id} also gives identities and conversations);
  // the list prefetches them through a small queue.
  var contactQueue = [];
  var contactActive = 0;
  function queued(task) {
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
  function fetchContact(id, fresh) {
    if (!id) return Promise.resolve(null);
    var entry = S.contacts[id] || (S.contacts[id] = { data: null, promise: null });
    if (entry.promise && !fresh) return entry.promise;
    var get = function () { return SB.api('GET', '/api/v1/contacts/' + encodeURIComponent(id)); };
    entry.promise = (fresh ? get() : queued(get)).then(function (data) {
      entry.data = data;
      contactLoaded(id);
      return data;
    }, function () { return entry.data; });
    return entry.promise;
  }
  function displayName(c) {
    if (!c) return 'Unknown contact';
    if (c.name) return c.name;
    if (c.email) return c.email;
    if (c.phone) return c.phone;
    var ids = c.identities || [];
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
  function convName(c) {
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

  // ---- Viewing (collision detection) -------------------------------------------------------------

  function setViewing(id, force) {
    id = id ? String(id) : null;
    if (!force && viewingId === id) return;
    viewingId = id;
    SB.send({ type: 'viewing', conversation_id: id });
  }
  // Leaving the inbox for another page (admin, profile): say we view nothing.
  function afterRoute() {
    if (V && !mounted()) {
      teardown();
      setViewing(null);
    }
  }
  var coreNavigate = SB.navigate;
  SB.navigate = function () {
    var result = coreNavigate.apply(SB, arguments);
    afterRoute();
    return result;
  };
  window.addEventListener('popstate', function () { setTimeout(afterRoute, 0); });

  function updateNavCurrent() {
    var link = document.querySelector('nav.topnav a[href="/"]');
    if (!link) return;
    if (location.pathname === '/') link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }

  // ---- The page -------------------------------------------------------------------------------

  function render(main, params) {
    teardown();
    main.classList.add('inbox-page');
    document.title = 'Inbox · Switchboard';
    V = buildView(main);
    registerEvents();
    renderList();
    refreshList(S.key !== filterKey());
    loadInboxes().then(function () {
      if (!mounted()) return;
      fillInboxSelect();
      renderListSoon();
    }, SB.fail);
    loadAllAgents().then(renderListSoon);
    if (params && params.id) openConversation(params.id);
    else { showNoConversation(); setViewing(null); }
  }

  function teardown() {
    if (!V) return;
    if (V.conv) closeConversationState(V.conv);
    if (V.timers) V.timers.forEach(function (fn) { fn(); });
    closeHelp(false);
    V = null;
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
    view.statusSelect.value = S.filters.status || 'open';
    view.prioritySelect = h('select', {
      id: 'filter-priority', 'data-testid': 'filter-priority', 'aria-label': 'Priority',
      onchange: function () { setFilter('priority', view.prioritySelect.value); }
    }, h('option', { value: '' }, 'Any priority'), PRIORITIES.map(function (p) {
      return h('option', { value: p[0] }, p[1]);
    }));
    view.prioritySelect.value = S.filters.priority;
    var datalistId = nextId('labels');
    view.labelList = h('datalist', { id: datalistId });
    view.labelInput = h('input', {
      type: 'text', id: 'filter-label', 'data-testid': 'filter-label', class: 'label-filter',
      placeholder: 'Label', 'aria-label': 'Label', list: datalistId, autocomplete: 'off',
      value: S.filters.label
    });
    var labelNow = debounce(function () { setFilter('label', view.labelInput.value.trim()); }, 400);
    view.timers.push(labelNow.cancel);
    view.labelInput.addEventListener('input', labelNow);
    view.labelInput.addEventListener('change', function () { labelNow.cancel(); setFilter('label', view.labelInput.value.trim()); });

    view.listEl = h('ul', { id: listId, class: 'conv-list', 'data-testid': 'conversation-list', 'aria-label': 'Conversations' });
    view.moreBtn = h('button', {
      type: 'button', class: 'load-more', 'data-testid': 'load-more', hidden: true,
      onclick: loadMore
    }, 'Load more');
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
        h('div', { class: 'filter-selects' }, view.inboxSelect, view.statusSelect, view.prioritySelect,
          view.labelInput, view.labelList)),
      h('nav', { class: 'list-scroll', 'aria-label': 'Conversation list' }, view.listEl, view.moreBtn));

    view.convPane = h('section', { class: 'pane conv-pane', 'aria-label': 'Conversation' });
    view.sideId = nextId('side');
    view.sidePane = h('aside', { id: view.sideId, class: 'pane side-pane', 'aria-label': 'Conversation details' });
    view.root = h('div', { class: 'inbox' + (S.sideHidden ? ' side-hidden' : '') }, view.listPane, view.convPane, view.sidePane);
    main.appendChild(view.root);
    fillInboxSelect(view);
    return view;
  }

  function fillInboxSelect(view) {
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
    if (V) {
      Object.keys(V.tabs).forEach(function (k) {
        V.tabs[k].setAttribute('aria-pressed', String(S.filters.assignee === k));
      });
    }
    refreshList(true);
  }

  // ---- The conversation list --------------------------------------------------------------------

  function filterKey() { return JSON.stringify(S.filters); }
  function listPath(cursor) {
    var f = S.filters;
    var q = ['limit=' + PAGE];
    if (f.assignee === 'mine') q.push('assignee=me');
    else if (f.assignee === 'unassigned') q.push('assignee=unassigned');
    if (f.inbox) q.push('inbox_id=' + encodeURIComponent(f.inbox));
    if (f.status) q.push('status=' + encodeURIComponent(f.status === 'all' ? ALL_STATUSES : f.status));
    if (f.priority) q.push('priority=' + encodeURIComponent(f.priority));
    if (f.label.trim()) q.push('label=' + encodeURIComponent(f.label.trim()));
    if (f.q.trim()) q.push('q=' + encodeURIComponent(f.q.trim()));
    if (cursor) q.push('cursor=' + encodeURIComponent(cursor));
    return '/api/v1/conversations?' + q.join('&');
  }

  var listToken = 0;
  function refreshList(replace) {
    var key = filterKey();
    var token = ++listToken;
    if (V) V.listEl.setAttribute('aria-busy', 'true');
    return SB.api('GET', listPath()).then(function (page) {
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
        var rest = S.rows.filter(function (c) { return !ids[c.id] && (!last || newestFirst(last, c) < 0); });
        S.rows = fresh.concat(rest);
      }
      noteRows(fresh);
      renderList();
    }).catch(function (e) {
      if (token === listToken) SB.fail(e);
    }).then(function () {
      if (V && token === listToken) V.listEl.removeAttribute('aria-busy');
    });
  }

  function loadMore() {
    if (!S.cursor || !V) return;
    var key = filterKey();
    var btn = V.moreBtn;
    btn.disabled = true;
    SB.api('GET', listPath(S.cursor)).then(function (page) {
      if (S.key !== key) return;
      var have = {};
      S.rows.forEach(function (c) { have[c.id] = true; });
      var more = ((page && page.data) || []).filter(function (c) { return !have[c.id]; });
      S.rows = S.rows.concat(more);
      S.cursor = page.next_cursor || null;
      S.pages += 1;
      noteRows(more);
      renderList();
    }, SB.fail).then(function () { btn.disabled = false; });
  }

  var refreshTimer = null;
  function scheduleRefresh() {
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
    if (V) {
      SB.clear(V.labelList);
      Object.keys(S.labelsSeen).sort().forEach(function (l) { V.labelList.appendChild(h('option', { value: l })); });
    }
  }

  var listFrame = null;
  function renderListSoon() {
    if (listFrame) return;
    listFrame = setTimeout(function () { listFrame = null; renderList(); }, 50);
  }

  function renderList() {
    if (!V) return;
    var ul = V.listEl;
    var active = document.activeElement;
    var focusedId = active && ul.contains(active) && active.dataset ? active.dataset.id : null;
    SB.clear(ul);
    if (!S.rows.length) {
      ul.appendChild(h('li', { class: 'empty' }, S.pages ? 'No conversations match these filters.' : 'Loading…'));
    }
    S.rows.forEach(function (c) { ul.appendChild(h('li', { class: 'conv-item' }, rowEl(c))); });
    V.moreBtn.hidden = !S.cursor;
    if (focusedId) {
      var again = ul.querySelector('[data-testid=conversation-row][data-id="' + cssId(focusedId) + '"]');
      if (again) again.focus();
    }
  }
  function cssId(id) { return String(id).replace(/[^0-9A-Za-z_-]/g, ''); }

  function snippetOf(c) {
    if (c.last_message && typeof c.last_message === 'object') return messagePreview(c.last_message);
    if (typeof c.last_message_preview === 'string') return c.last_message_preview;
    var s = S.snippets[c.id];
    return s ? s.text : '';
  }
  function messagePreview(m) {
    var text = (m.content || '').replace(/\s+/g, ' ').trim();
    if (!text && m.attachments && m.attachments.length) text = '📎 ' + m.attachments[0].file_name;
    if (m.private) text = 'Note: ' + text;
    else if (m.direction === 'outbound' && SB.me && idEq(m.sender_id, SB.me.id)) text = 'You: ' + text;
    return text.length > 140 ? text.slice(0, 140) + '…' : text;
  }

  function rowEl(c) {
    var selected = !!(V.conv && idEq(V.conv.id, c.id));
    var unread = c.unread_count || 0;
    if (selected) unread = 0;
    var snippet = snippetOf(c);
    var others = (S.viewers[c.id] || []).filter(function (a) { return !idEq(a, SB.me && SB.me.id); });
    var showStatus = S.filters.status !== 'open' || c.status !== 'open';
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
      others.length ? h('span', {
        class: 'row-viewers', role: 'img', 'aria-label': 'Viewed by ' + others.map(agentName).join(', ')
      }, '👁 ' + others.length) : null));
  }

  function rowIndex(id) {
    for (var i = 0; i < S.rows.length; i++) if (idEq(S.rows[i].id, id)) return i;
    return -1;
  }
  function markSelectedRow() {
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
  function mergeConv(base, c) {
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
    var statuses = f.status === 'all' ? ALL_STATUSES.split(',') : [f.status || 'open'];
    if (statuses.indexOf(c.status) < 0) return false;
    if (f.inbox && !idEq(c.inbox_id, f.inbox)) return false;
    if (f.assignee === 'mine' && !idEq(c.assignee_id, SB.me && SB.me.id)) return false;
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

  function applyConversation(c) {
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
      if (!S.cursor || !last || newestFirst(c, last) < 0) S.rows.push(mergeConv(C ? C.data : null, c));
    }
    S.rows.sort(newestFirst);
    if (c.contact_id) fetchContact(c.contact_id);
    renderListSoon();
  }

  function setRowUnread(id, n) {
    var i = rowIndex(id);
    if (i < 0) return;
    if (S.rows[i].unread_count === n) return;
    S.rows[i] = Object.assign({}, S.rows[i], { unread_count: n });
    renderListSoon();
  }

  // ---- Selecting and opening a conversation -------------------------------------------------------

  function select(id, focusRow) {
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

  function backToList() {
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

  function showNoConversation() {
    V.root.classList.remove('has-conversation', 'show-details');
    document.title = 'Inbox · Switchboard';
    SB.clear(V.convPane);
    SB.clear(V.sidePane);
    V.convPane.appendChild(h('div', { class: 'empty conv-empty' },
      h('p', null, 'Select a conversation from the list.'),
      h('p', { class: 'muted' }, 'Press ', h('kbd', null, '?'), ' for keyboard shortcuts.')));
  }

  function closeConversationState(C) {
    C.closed = true;
    Object.keys(C.typing).forEach(function (k) { clearTimeout(C.typing[k].timer); });
    clearTimeout(C.readTimer);
    clearTimeout(C.cannedTimer);
    if (C.sentTypingAt && Date.now() - C.sentTypingAt < 10000) sendTyping(C, false);
  }

  function openConversation(id) {
    id = String(id);
    if (V.conv && V.conv.id === id) return;
    if (V.conv) closeConversationState(V.conv);
    var draft = S.drafts[id] || {};
    var C = V.conv = {
      id: id, data: null, msgs: {}, els: {}, order: [], loaded: false,
      hasEarlier: false, typing: {}, mode: draft.mode || 'reply', uploads: (draft.uploads || []).slice(),
      uploading: 0, canned: null, candidates: [], sentTypingAt: 0
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
    var convReady = SB.api('GET', base).then(function (conv) {
      if (!current(C)) return null;
      C.data = mergeConv(C.data, conv);
      document.title = convName(C.data) + ' · Switchboard';
      renderHeader(C);
      renderActions(C);
      renderContact(C);
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
        });
      var contact = fetchContact(conv.contact_id, true);
      return Promise.all([names, contact]).then(function () { return conv; }, function () { return conv; });
    }, function (e) {
      if (!current(C)) return null;
      SB.clear(V.convPane);
      SB.clear(V.sidePane);
      V.convPane.appendChild(h('div', { class: 'empty conv-empty' },
        h('p', null, e && e.status === 404 ? 'This conversation does not exist or is not in your inboxes.' : 'The conversation could not be loaded.'),
        h('button', { type: 'button', onclick: backToList }, 'Back to the list')));
      if (!(e && e.status === 404)) SB.fail(e);
      return null;
    });
    var messagesReady = SB.api('GET', base + '/messages?limit=' + PAGE).then(function (page) {
      return (page && page.data) || [];
    }, function (e) {
      if (current(C) && !(e && e.status === 404)) SB.fail(e);
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
      V.messageList.removeAttribute('aria-busy');
    });
  }

  function reloadConversation() {
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

  // ---- The conversation pane ----------------------------------------------------------------------

  function buildConversation(C, draftText) {
    SB.clear(V.convPane);
    SB.clear(V.sidePane);
    V.header = h('header', { class: 'conv-header' });
    V.viewersEl = h('p', { class: 'viewers', 'data-testid': 'viewers', 'aria-live': 'polite' });
    V.earlierBtn = h('button', {
      type: 'button', class: 'load-earlier', 'data-testid': 'load-earlier', hidden: true,
      onclick: function () { loadEarlier(C); }
    }, 'Load earlier messages');
    V.messageList = h('div', {
      class: 'message-list', 'data-testid': 'message-list', role: 'log', 'aria-live': 'polite',
      'aria-relevant': 'additions', 'aria-label': 'Messages'
    });
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

  function toggleDetails(show) {
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

  function renderHeader(C) {
    if (!current(C) || !V.header) return;
    var c = C.data;
    var chan = c ? channelOf(c.inbox_id) : null;
    SB.clear(V.header);
    V.header.appendChild(h('button', {
      type: 'button', class: 'back', 'data-testid': 'back', 'aria-label': 'Back to conversations',
      onclick: backToList
    }, '←'));
    V.header.appendChild(h('div', { class: 'conv-title' },
      h('h2', { id: 'conv-title' }, c ? convName(c) : 'Loading…'),
      c ? h('p', { class: 'conv-sub' },
        chanIcon(chan), ' ', h('span', null, chanLabel(chan) + ' · ' + inboxName(c.inbox_id)),
        h('span', { class: 'badge status-' + c.status }, statusLabel(c.status)),
        c.priority && c.priority !== 'none' ? h('span', { class: 'badge prio-' + c.priority }, priorityLabel(c.priority)) : null)
        : null));
    V.header.appendChild(h('button', {
      type: 'button', class: 'details-toggle', 'aria-controls': V.sideId,
      'aria-expanded': String(detailsShown()), onclick: function () { toggleDetails(); }
    }, 'Details'));
    V.convPane.setAttribute('aria-labelledby', 'conv-title');
    V.convPane.removeAttribute('aria-label');
  }

  // " · online" after an agent's name once a presence event told us (the stored
  // availability is a preference, not whether the agent is connected).
  function presenceNote(a) {
    var status = S.presence[a.id];
    return status ? ' · ' + status : '';
  }

  var detailsTimer = null;
  function renderDetailsSoon() {
    if (detailsTimer) return;
    detailsTimer = setTimeout(function () {
      detailsTimer = null;
      if (mounted() && V.conv) renderActions(V.conv);
    }, 300);
  }

  function renderViewers(C) {
    if (!current(C)) return;
    var me = SB.me && SB.me.id;
    var others = (S.viewers[C.id] || []).filter(function (a) { return !idEq(a, me); });
    V.viewersEl.textContent = others.length ? 'Also viewing: ' + others.map(agentName).join(', ') : '';
    V.viewersEl.classList.toggle('on', others.length > 0);
  }

  function renderTyping(C) {
    if (!current(C)) return;
    var names = Object.keys(C.typing).map(function (k) { return C.typing[k].name; });
    var text = '';
    if (names.length === 1) text = names[0] + ' is typing…';
    else if (names.length > 1) text = names.join(', ') + ' are typing…';
    V.typingEl.textContent = text;
    V.typingEl.classList.toggle('on', !!text);
  }

  // ---- Messages -----------------------------------------------------------------------------------

  // Keeps a message, never moving its delivery status backwards (events and REST answers
  // may arrive in any order); a retry moves a failed reply back to queued.
  function storeMessage(C, m) {
    var old = C.msgs[m.id];
    if (old && old.status && m.status && RANK[m.status] < RANK[old.status] && old.status !== 'failed') {
      m = Object.assign({}, m, { status: old.status, error: old.error });
    }
    if (old && old.attachments && m.attachments) {
      // Thumbnails only appear; a stale copy must not hide them again.
      var thumbs = {};
      old.attachments.forEach(function (a) { if (a.thumbnail_url) thumbs[a.id] = a; });
      m = Object.assign({}, m, {
        attachments: m.attachments.map(function (a) {
          return !a.thumbnail_url && thumbs[a.id] ? Object.assign({}, a, {
            thumbnail_url: thumbs[a.id].thumbnail_url, thumbnail_large_url: thumbs[a.id].thumbnail_large_url
          }) : a;
        })
      });
    }
    C.msgs[m.id] = m;
    if (!old) {
      C.order.push(m.id);
      C.order.sort(function (a, b) { return C.msgs[a].seq - C.msgs[b].seq; });
    }
    return m;
  }

  function nearBottom() {
    var s = V.stream;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }
  function scrollToBottom() { if (V && V.stream) V.stream.scrollTop = V.stream.scrollHeight; }

  function renderMessages(C, keepScroll) {
    if (!current(C) || !V.messageList) return;
    var stick = keepScroll ? nearBottom() : true;
    var top = V.stream.scrollTop;
    SB.clear(V.messageList);
    C.els = {};
    if (C.loaded && !C.order.length) {
      V.messageList.appendChild(h('p', { class: 'empty' }, 'No messages yet.'));
    }
    C.order.forEach(function (id) {
      var el = messageEl(C, C.msgs[id]);
      C.els[id] = el;
      V.messageList.appendChild(el);
    });
    V.earlierBtn.hidden = !C.hasEarlier;
    if (stick) scrollToBottom(); else V.stream.scrollTop = top;
  }

  // Redraws messages whose look changed (names, channel, receipts became known) in place.
  function refreshMessages(C) {
    if (!current(C) || !C.loaded) return;
    C.order.forEach(function (id) {
      var old = C.els[id];
      if (!old || !old.parentNode) return;
      var el = messageEl(C, C.msgs[id]);
      if (!old.isEqualNode(el)) {
        old.parentNode.replaceChild(el, old);
        C.els[id] = el;
      }
    });
  }

  function upsertMessage(C, m) {
    if (!current(C)) return;
    var stick = nearBottom() || (m.sender_type === 'agent' && idEq(m.sender_id, SB.me && SB.me.id));
    m = storeMessage(C, m);
    if (!C.loaded) return;
    var el = messageEl(C, m);
    var old = C.els[m.id];
    C.els[m.id] = el;
    var empty = V.messageList.querySelector('.empty');
    if (empty) empty.parentNode.removeChild(empty);
    if (old && old.parentNode) {
      old.parentNode.replaceChild(el, old);
    } else {
      var at = C.order.indexOf(m.id);
      var next = null;
      for (var i = at + 1; i < C.order.length && !next; i++) next = C.els[C.order[i]] || null;
      V.messageList.insertBefore(el, next && next.parentNode === V.messageList ? next : null);
    }
    if (stick) scrollToBottom();
  }

  function loadEarlier(C) {
    if (!C.order.length) return;
    var lowest = C.msgs[C.order[0]].seq;
    V.earlierBtn.disabled = true;
    SB.api('GET', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages?limit=' + PAGE + '&before=' + lowest)
      .then(function (page) {
        if (!current(C)) return;
        var data = ((page && page.data) || []).filter(function (m) { return !C.msgs[m.id]; });
        var before = V.stream.scrollHeight;
        var top = V.stream.scrollTop;
        var first = V.messageList.firstChild;
        data.forEach(function (m) {
          m = storeMessage(C, m);
          var el = messageEl(C, m);
          C.els[m.id] = el;
          V.messageList.insertBefore(el, first);
        });
        C.hasEarlier = ((page && page.data) || []).length === PAGE && data.length > 0 && data[0].seq > 1;
        V.earlierBtn.hidden = !C.hasEarlier;
        V.stream.scrollTop = top + (V.stream.scrollHeight - before);
      }, SB.fail).then(function () { if (current(C)) V.earlierBtn.disabled = false; });
  }

  function senderName(C, m) {
    if (m.direction === 'inbound') return m.author || (C.data ? convName(C.data) : 'Customer');
    if (m.sender_type === 'agent') {
      if (!m.sender_id) return 'Agent';
      return idEq(m.sender_id, SB.me && SB.me.id) ? SB.me.name + ' (you)' : agentName(m.sender_id);
    }
    if (m.sender_type === 'bot') return 'Bot';
    if (m.sender_type === 'system') return 'System';
    return 'Customer';
  }

  function messageEl(C, m) {
    var inbound = m.direction === 'inbound';
    var note = !!m.private;
    var direction = inbound ? 'inbound' : 'outbound';
    var inboxId = m.inbox_id || (C.data && C.data.inbox_id);
    var chan = channelOf(inboxId);
    var system = !inbound && !note && m.sender_type === 'system';
    var cls = 'message ' + direction + (note ? ' note' : '') + (system ? ' system' : '') +
      (m.status === 'failed' ? ' failed' : '');
    var el = h('article', {
      class: cls, 'data-testid': 'message', 'data-id': m.id, 'data-direction': direction,
      'data-private': String(note), 'data-status': m.status || '', 'data-seq': m.seq
    });
    el.appendChild(h('header', { class: 'msg-meta' },
      h('span', { class: 'sender' }, senderName(C, m)),
      note ? h('span', { class: 'badge note-badge' }, 'Private note') : null,
      chanIcon(chan),
      timeEl(m.provider_at || m.created_at, 'msg-time'),
      m.edited_at ? editsEl(C, m) : null));
    if (m.content) el.appendChild(h('div', { class: 'content' }, m.content));
    if (m.attachments && m.attachments.length) {
      el.appendChild(h('div', { class: 'attachments' }, m.attachments.map(attachmentEl)));
    }
    var foot = h('footer', { class: 'msg-foot' });
    if (direction === 'outbound' && !note && m.status) foot.appendChild(tickEl(m, receiptsOf(inboxId)));
    if (m.status === 'failed') {
      foot.appendChild(h('span', { class: 'failure' },
        'Not delivered' + (m.error && m.error.reason ? ': ' + m.error.reason : '')));
      var retry = h('button', {
        type: 'button', class: 'small', 'data-testid': 'retry', 'aria-label': 'Retry sending this message',
        onclick: function () {
          retry.disabled = true;
          SB.api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages/' +
            encodeURIComponent(m.id) + '/retry').then(function (msg) {
            if (msg && msg.id) upsertMessage(C, msg);
          }, function (e) { retry.disabled = false; SB.fail(e); });
        }
      }, 'Retry');
      foot.appendChild(retry);
    } else if (m.status === 'queued' && m.error && m.error.reason) {
      foot.appendChild(h('span', { class: 'muted' }, 'Retrying: ' + m.error.reason));
    }
    if (foot.firstChild) el.appendChild(foot);
    return el;
  }

  function tickEl(m, receipts) {
    var shown = m.status;
    if (!receipts && (shown === 'delivered' || shown === 'read')) shown = 'sent';
    var t = TICKS[shown] || ['', shown];
    return h('span', {
      class: 'tick tick-' + shown, 'data-testid': 'tick', 'data-status': shown,
      role: 'img', 'aria-label': t[1], title: t[1]
    }, t[0]);
  }

  function attachmentEl(a) {
    if (a.thumbnail_url) {
      var w = a.width || 0;
      var hh = a.height || 0;
      var scale = w && hh ? Math.min(1, 200 / Math.max(w, hh)) : 0;
      return h('a', { class: 'att thumb', href: a.url, target: '_blank', rel: 'noopener', title: a.file_name },
        h('img', {
          src: a.thumbnail_url, alt: a.file_name, loading: 'lazy',
          width: scale ? Math.round(w * scale) : null, height: scale ? Math.round(hh * scale) : null
        }));
    }
    var pending = a.content_type && a.content_type.indexOf('image/') === 0;
    return h('a', { class: 'att file', href: a.url, target: '_blank', rel: 'noopener' },
      h('span', { 'aria-hidden': 'true' }, '📎 '), a.file_name,
      h('span', { class: 'muted' }, ' · ' + fmtSize(a.byte_size) + (pending ? ' · preview pending' : '')));
  }

  function editsEl(C, m) {
    var list = h('ol', { class: 'edit-history' });
    var loaded = false;
    var details = h('details', {
      class: 'edits',
      ontoggle: function () {
        if (!details.open || loaded) return;
        loaded = true;
        list.appendChild(h('li', { class: 'muted' }, 'Loading…'));
        SB.api('GET', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages/' + encodeURIComponent(m.id) + '/edits')
          .then(function (r) {
            SB.clear(list);
            var data = (r && r.data) || [];
            if (!data.length) list.appendChild(h('li', { class: 'muted' }, 'No earlier text.'));
            data.forEach(function (e) {
              list.appendChild(h('li', null, h('span', { class: 'content' }, e.content), ' ',
                h('span', { class: 'muted' }, '(replaced ' + SB.fmtTime(e.replaced_at) + ')')));
            });
          }, function (e) { loaded = false; SB.clear(list); SB.fail(e); });
      }
    }, h('summary', null, 'edited'), list);
    return details;
  }

  function markRead(C) {
    if (!current(C) || !C.loaded) return;
    if (document.hidden) { C.readPending = true; return; }
    C.readPending = false;
    clearTimeout(C.readTimer);
    C.readTimer = setTimeout(function () {
      if (!current(C)) return;
      SB.api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/read').then(function (r) {
        setRowUnread(C.id, (r && r.unread_count) || 0);
      }, function () { /* a read mark is best effort */ });
    }, 300);
  }
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && V && V.conv && V.conv.readPending) markRead(V.conv);
  });

  // ---- The composer -------------------------------------------------------------------------------

  function buildComposer(C, draftText) {
    var listId = nextId('canned');
    var fileId = nextId('file');
    var hintId = nextId('hint');
    V.composer = h('textarea', {
      class: 'composer-input', 'data-testid': 'composer', rows: '3', 'aria-describedby': hintId,
      'aria-autocomplete': 'list', 'aria-controls': listId, 'aria-expanded': 'false',
      'aria-keyshortcuts': 'r n'
    });
    V.composer.value = draftText;
    V.cannedList = h('ul', {
      id: listId, class: 'canned', role: 'listbox', 'data-testid': 'canned-suggestions',
      'aria-label': 'Canned responses', hidden: true
    });
    V.modeReply = h('button', {
      type: 'button', class: 'mode', 'data-testid': 'mode-reply', 'aria-keyshortcuts': 'r',
      onclick: function () { setMode(C, 'reply', true); }
    }, 'Reply');
    V.modeNote = h('button', {
      type: 'button', class: 'mode', 'data-testid': 'mode-note', 'aria-keyshortcuts': 'n',
      onclick: function () { setMode(C, 'note', true); }
    }, 'Private note');
    V.fileInput = h('input', {
      type: 'file', id: fileId, multiple: true, class: 'visually-hidden', 'data-testid': 'attach',
      'aria-label': 'Attach files',
      onchange: function () { upload(C, V.fileInput); }
    });
    V.uploadsEl = h('ul', { class: 'uploads', 'aria-label': 'Files to send' });
    V.sendBtn = h('button', { type: 'submit', class: 'primary send', 'data-testid': 'send' }, 'Send');
    V.form = h('form', {
      class: 'composer', 'aria-label': 'Write a message',
      onsubmit: function (e) { e.preventDefault(); send(C); }
    },
    h('div', { class: 'composer-modes', role: 'group', 'aria-label': 'Message type' }, V.modeReply, V.modeNote),
    V.cannedList,
    V.composer,
    V.uploadsEl,
    h('div', { class: 'composer-actions' },
      h('label', { class: 'button attach-label', for: fileId },
        h('span', { 'aria-hidden': 'true' }, '📎'), ' Attach', V.fileInput),
      h('span', { id: hintId, class: 'hint muted' }, 'Enter sends · Shift+Enter new line · / for canned responses'),
      V.sendBtn));

    V.composer.addEventListener('keydown', function (e) { composerKey(C, e); });
    V.composer.addEventListener('input', function () {
      saveDraft(C);
      typingPing(C);
      cannedLookup(C);
    });
    V.composer.addEventListener('click', function () { cannedLookup(C); });
    V.composer.addEventListener('blur', function () {
      setTimeout(function () { if (current(C) && document.activeElement !== V.composer) closeCanned(C); }, 150);
    });
    setMode(C, C.mode, false);
    renderUploads(C);
    return V.form;
  }

  function setMode(C, mode, focus) {
    if (!current(C)) return;
    C.mode = mode;
    var note = mode === 'note';
    V.modeReply.setAttribute('aria-pressed', String(!note));
    V.modeNote.setAttribute('aria-pressed', String(note));
    V.form.classList.toggle('note-mode', note);
    V.composer.setAttribute('aria-label', note ? 'Private note (only agents see it)' : 'Reply to the customer');
    V.composer.placeholder = note ? 'Write a private note for your team…' : 'Write a reply…';
    V.sendBtn.textContent = note ? 'Add note' : 'Send';
    saveDraft(C);
    if (focus) V.composer.focus();
  }

  function saveDraft(C) {
    if (!current(C)) return;
    S.drafts[C.id] = { text: V.composer.value, mode: C.mode, uploads: C.uploads.slice() };
  }

  function composerKey(C, e) {
    if (C.canned && !V.cannedList.hidden) {
      var n = C.canned.items.length;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        C.canned.active = (C.canned.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
        renderCanned(C);
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        e.preventDefault();
        pickCanned(C, C.canned.items[C.canned.active]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        closeCanned(C);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send(C);
    }
  }

  function typingPing(C) {
    if (C.mode !== 'reply' || !V.composer.value.trim()) return; // notes stay among agents
    var now = Date.now();
    if (now - C.sentTypingAt < 3000) return;
    C.sentTypingAt = now;
    sendTyping(C, true);
  }
  function sendTyping(C, on) {
    SB.api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/typing', { on: on })
      .catch(function () { /* typing is best effort */ });
    if (!on) C.sentTypingAt = 0;
  }

  function send(C) {
    if (!current(C) || C.sending) return;
    var content = V.composer.value;
    if (!content.trim() && !C.uploads.length) { V.composer.focus(); return; }
    if (C.uploading) { SB.toast('Wait for the files to finish uploading.', 'info'); return; }
    closeCanned(C);
    var body = { content: content, private: C.mode === 'note' };
    if (C.uploads.length) body.attachment_ids = C.uploads.map(function (a) { return a.id; });
    C.sending = true;
    V.sendBtn.disabled = true;
    var wasTyping = C.sentTypingAt && Date.now() - C.sentTypingAt < 10000;
    SB.api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages', body).then(function (m) {
      if (wasTyping) sendTyping(C, false);
      if (!current(C)) { delete S.drafts[C.id]; return; }
      V.composer.value = '';
      C.uploads = [];
      renderUploads(C);
      delete S.drafts[C.id];
      if (m && m.id) {
        upsertMessage(C, m);
        S.snippets[C.id] = { text: messagePreview(m) };
      }
      scrollToBottom();
      V.composer.focus();
    }, SB.fail).then(function () {
      C.sending = false;
      if (current(C)) V.sendBtn.disabled = false;
    });
  }

  function upload(C, input) {
    var files = Array.prototype.slice.call(input.files || []);
    input.value = '';
    if (!files.length) return;
    if (files.length + C.uploads.length > 10) { SB.toast('At most 10 files per message.', 'error'); return; }
    var form = new FormData();
    files.forEach(function (f) { form.append('file', f, f.name); });
    C.uploading += 1;
    renderUploads(C, files.map(function (f) { return f.name; }));
    SB.api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/attachments', form).then(function (r) {
      C.uploads = C.uploads.concat((r && r.data) || []);
      saveDraft(C);
    }, SB.fail).then(function () {
      C.uploading -= 1;
      renderUploads(C);
    });
  }

  function renderUploads(C, pendingNames) {
    if (!current(C)) return;
    SB.clear(V.uploadsEl);
    C.uploads.forEach(function (a) {
      V.uploadsEl.appendChild(h('li', { class: 'chip' },
        h('span', { 'aria-hidden': 'true' }, '📎 '), a.file_name,
        h('span', { class: 'muted' }, ' ' + fmtSize(a.byte_size)),
        h('button', {
          type: 'button', class: 'link chip-x', 'aria-label': 'Remove ' + a.file_name,
          onclick: function () {
            C.uploads = C.uploads.filter(function (u) { return u.id !== a.id; });
            saveDraft(C);
            renderUploads(C);
            V.composer.focus();
          }
        }, '✕')));
    });
    (pendingNames || []).forEach(function (name) {
      V.uploadsEl.appendChild(h('li', { class: 'chip pending' }, 'Uploading ' + name + '…'));
    });
    if (C.uploading && !pendingNames) V.uploadsEl.appendChild(h('li', { class: 'chip pending' }, 'Uploading…'));
    V.uploadsEl.hidden = !V.uploadsEl.firstChild;
  }

  // Canned responses: `/code` before the caret opens suggestions.
  function cannedLookup(C) {
    if (!current(C)) return;
    var ta = V.composer;
    var before = ta.value.slice(0, ta.selectionStart);
    var m = /(^|\s)\/([A-Za-z0-9_-]+)$/.exec(before);
    if (!m) { closeCanned(C); return; }
    var query = m[2];
    var start = before.length - query.length - 1;
    clearTimeout(C.cannedTimer);
    C.cannedTimer = setTimeout(function () {
      var token = (C.cannedToken || 0) + 1;
      C.cannedToken = token;
      SB.api('GET', '/api/v1/canned-responses?limit=8&q=' + encodeURIComponent(query)).then(function (page) {
        if (!current(C) || C.cannedToken !== token) return;
        var items = (page && page.data) || [];
        if (!items.length) { closeCanned(C); return; }
        C.canned = { items: items, active: 0, start: start, end: start + query.length + 1 };
        renderCanned(C);
      }, function () { closeCanned(C); });
    }, 150);
  }

  function renderCanned(C) {
    var list = V.cannedList;
    SB.clear(list);
    C.canned.items.forEach(function (item, i) {
      var id = list.id + '-' + i;
      var active = i === C.canned.active;
      list.appendChild(h('li', {
        id: id, role: 'option', class: 'canned-option' + (active ? ' active' : ''),
        'data-testid': 'canned-option', 'data-code': item.short_code, 'aria-selected': String(active),
        onmousedown: function (e) { e.preventDefault(); },
        onclick: function () { pickCanned(C, item); }
      }, h('strong', null, '/' + item.short_code), ' ',
      h('span', { class: 'canned-text' }, item.content.length > 120 ? item.content.slice(0, 120) + '…' : item.content)));
      if (active) V.composer.setAttribute('aria-activedescendant', id);
    });
    list.hidden = false;
    V.composer.setAttribute('aria-expanded', 'true');
    var activeEl = list.querySelector('.active');
    if (activeEl && activeEl.scrollIntoView) activeEl.scrollIntoView({ block: 'nearest' });
  }

  function closeCanned(C) {
    if (C) {
      clearTimeout(C.cannedTimer);
      C.cannedToken = (C.cannedToken || 0) + 1;
      C.canned = null;
    }
    if (!V || !V.cannedList) return;
    V.cannedList.hidden = true;
    SB.clear(V.cannedList);
    V.composer.setAttribute('aria-expanded', 'false');
    V.composer.removeAttribute('aria-activedescendant');
  }

  function pickCanned(C, item) {
    if (!C.canned || !item) return;
    var ta = V.composer;
    var start = C.canned.start;
    var end = Math.max(C.canned.end, ta.selectionStart);
    // The text may have moved since the lookup: find the /code again right before the caret.
    var before = ta.value.slice(0, ta.selectionStart);
    var m = /(^|\s)\/([A-Za-z0-9_-]+)$/.exec(before);
    if (m) { start = before.length - m[2].length - 1; end = ta.selectionStart; }
    ta.value = ta.value.slice(0, start) + item.content + ta.value.slice(end);
    var caret = start + item.content.length;
    ta.setSelectionRange(caret, caret);
    closeCanned(C);
    ta.focus();
    saveDraft(C);
  }

  // ---- The side panel -----------------------------------------------------------------------------

  function changeConversation(C, path, method, body, button) {
    if (button) button.disabled = true;
    return SB.api(method, '/api/v1/conversations/' + encodeURIComponent(C.id) + path, body).then(function (c) {
      if (c && c.id) applyConversation(c);
      return c;
    }, function (e) {
      SB.fail(e);
      if (current(C)) renderActions(C);
    }).then(function (c) {
      if (button) button.disabled = false;
      return c;
    });
  }
  function resolve(C) { return changeConversation(C, '/status', 'POST', { status: 'resolved' }); }
  function assignMe(C) { return changeConversation(C, '/assign', 'POST', { assignee_id: 'me' }); }

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

  function labeled(text, control) {
    return h('div', { class: 'form-row' }, h('label', { for: control.id }, text), control);
  }

  function renderActions(C) {
    if (!current(C) || !V.actions) return;
    var box = V.actions;
    keepFocus(box, function () {
      SB.clear(box);
      var c = C.data;
      if (!c) { box.appendChild(h('p', { class: 'muted' }, 'Loading…')); return; }
      box.appendChild(h('h3', null, 'Conversation'));
      box.appendChild(h('p', { class: 'status-line' }, 'Status: ',
        h('strong', { class: 'status-text status-' + c.status, 'data-testid': 'status' }, statusLabel(c.status)),
        c.status === 'snoozed' && c.snoozed_until ? h('span', { class: 'muted' }, ' until ' + SB.fmtTime(c.snoozed_until)) : null));

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
          h('option', { value: 'tomorrow' }, 'Tomorrow 9:00'), h('option', { value: 'week' }, 'Next Monday 9:00'));
        snoozeSel.value = S.snoozeChoice || '4h';
        snoozeSel.addEventListener('change', function () { S.snoozeChoice = snoozeSel.value; });
        var snoozeBtn = h('button', {
          type: 'button', id: 'act-snooze', 'data-testid': 'snooze',
          onclick: function () {
            changeConversation(C, '/status', 'POST',
              { status: 'snoozed', snoozed_until: snoozeUntil(snoozeSel.value).toISOString() }, snoozeBtn);
          }
        }, 'Snooze');
        box.appendChild(h('div', { class: 'snooze-row' }, snoozeSel, snoozeBtn));
      }

      // Assignee: me, unassigned, or an agent who can see the inbox.
      var me = SB.me || {};
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
          return h('li', { class: 'chip' }, l, h('button', {
            type: 'button', class: 'link chip-x', 'aria-label': 'Remove label ' + l,
            onclick: function () { save(labels.filter(function (x) { return x !== l; })); }
          }, '✕'));
        })),
      h('div', { class: 'inline' }, input, h('button', { type: 'button', class: 'small', onclick: add }, 'Add')));
  }

  var VERIFICATION = { unverified: 'Unverified', provider: 'Verified by the channel', hmac: 'Verified by the website' };

  function renderContact(C) {
    if (!current(C) || !V.contactBox) return;
    var box = V.contactBox;
    SB.clear(box);
    var c = C.data;
    var entry = c && S.contacts[c.contact_id];
    var data = entry && entry.data;
    if (!data) {
      box.appendChild(h('h3', null, 'Contact'));
      box.appendChild(h('p', { class: 'muted' }, c && !c.contact_id ? 'No contact.' : 'Loading…'));
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
        contact.language ? h('p', { class: 'muted' }, 'Language: ' + contact.language) : null)));

    box.appendChild(h('h4', null, 'Identities'));
    var ids = h('ul', { class: 'identities', 'data-testid': 'identities', 'aria-label': 'Identities' });
    (contact.identities || []).forEach(function (i) {
      var profile = i.profile && typeof i.profile === 'object' ? i.profile : {};
      var details = Object.keys(profile).filter(function (k) {
        return typeof profile[k] === 'string' || typeof profile[k] === 'number';
      }).map(function (k) { return k.replace(/_/g, ' ') + ': ' + profile[k]; });
      ids.appendChild(h('li', { class: 'identity', 'data-channel': i.channel_type },
        h('div', null, chanIcon(i.channel_type), ' ', h('span', { class: 'identifier' }, i.identifier)),
        h('div', { class: 'muted small' }, inboxName(i.inbox_id) + ' · ',
          h('span', { class: 'badge verif-' + i.verification }, VERIFICATION[i.verification] || i.verification)),
        details.length ? h('div', { class: 'muted small' }, details.join(' · ')) : null));
    });
    if (!ids.firstChild) ids.appendChild(h('li', { class: 'muted' }, 'None in your inboxes.'));
    box.appendChild(ids);

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

  function initials(name) {
    var parts = String(name || '?').replace(/^[@+]/, '').split(/\s+/).filter(Boolean);
    var out = parts.slice(0, 2).map(function (p) { return p.charAt(0); }).join('');
    return (out || '?').toUpperCase();
  }

  // ---- Realtime -----------------------------------------------------------------------------------

  function registerEvents() {
    SB.on('conversation.created', function (d) { if (d && d.conversation) { applyConversation(d.conversation); scheduleRefresh(); } });
    SB.on('conversation.updated', function (d) { if (d && d.conversation) { applyConversation(d.conversation); scheduleRefresh(); } });
    SB.on('message.created', function (d) { if (d && d.message) onMessage(d.message, true); });
    SB.on('message.updated', function (d) { if (d && d.message) onMessage(d.message, false); });
    SB.on('typing', onTyping);
    SB.on('viewers', onViewers);
    SB.on('presence', function (d) {
      if (!d || !d.agent_id) return;
      S.presence[d.agent_id] = d.status;
      // The assignee list shows who is around.
      if (mounted() && V.conv && V.conv.data) renderDetailsSoon();
    });
    SB.on('resync', function () {
      // Viewers are only known from events: after a gap, start from nobody.
      S.viewers = {};
      if (!mounted()) return;
      loadInboxes(true).then(function () { fillInboxSelect(); }, function () {});
      refreshList(true);
      reloadConversation();
    });
    // A new socket knows nothing of what we view (the server forgets on close).
    SB.on('hello', function () { if (viewingId) setViewing(viewingId, true); });
  }

  function onMessage(m, created) {
    if (!mounted()) return;
    var C = V.conv && idEq(V.conv.id, m.conversation_id) ? V.conv : null;
    if (C) {
      upsertMessage(C, m);
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
        if (ts(m.created_at) > ts(row.last_activity_at)) row.last_activity_at = m.created_at;
        if (m.direction === 'inbound' && !C) row.unread_count = (row.unread_count || 0) + 1;
        S.rows[i] = row;
        S.rows.sort(newestFirst);
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
    if (d.sender_type === 'agent' && idEq(d.sender_id, SB.me && SB.me.id)) return;
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
      var unknown = (d.agent_ids || []).some(function (a) { return !S.agents[a] && !idEq(a, SB.me && SB.me.id); });
      if (unknown && C.data) membersOf(C.data.inbox_id).then(function () { renderViewers(C); });
      renderViewers(C);
    }
    if (rowIndex(d.conversation_id) >= 0) renderListSoon();
  }

  // ---- Keyboard shortcuts and help ----------------------------------------------------------------

  var help = null; // {overlay, returnTo}

  function toggleHelp() { if (help) closeHelp(true); else openHelp(); }
  function openHelp() {
    if (!V || help) return;
    var returnTo = document.activeElement;
    var close = h('button', { type: 'button', class: 'primary', onclick: function () { closeHelp(true); } }, 'Close');
    var dialog = h('div', {
      class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'help-title',
      'data-testid': 'help-overlay', tabindex: '-1'
    },
    h('h2', { id: 'help-title' }, 'Keyboard shortcuts'),
    h('p', { class: 'muted' }, 'Shortcuts work when the focus is not in a text field.'),
    h('dl', { class: 'shortcuts' }, SHORTCUTS.map(function (s) {
      return [h('dt', null, h('kbd', null, s[0])), h('dd', null, s[1])];
    })),
    h('div', { class: 'row-actions' }, close));
    var overlay = h('div', {
      class: 'overlay',
      onclick: function (e) { if (e.target === overlay) closeHelp(true); }
    }, dialog);
    document.body.appendChild(overlay);
    help = { overlay: overlay, dialog: dialog, returnTo: returnTo };
    close.focus();
  }
  function closeHelp(restore) {
    if (!help) return;
    var h0 = help;
    help = null;
    if (h0.overlay.parentNode) h0.overlay.parentNode.removeChild(h0.overlay);
    if (restore && h0.returnTo && document.body.contains(h0.returnTo) && h0.returnTo.focus) h0.returnTo.focus();
  }

  function step(delta) {
    if (!S.rows.length) return;
    var i = V.conv ? rowIndex(V.conv.id) : -1;
    var next = i < 0 ? (delta > 0 ? 0 : S.rows.length - 1) : i + delta;
    if (next < 0 || next >= S.rows.length) return;
    select(S.rows[next].id, true);
  }

  document.addEventListener('keydown', function (e) {
    if (!mounted()) { if (help) closeHelp(false); return; }
    if (help) {
      if (e.key === 'Escape' || (e.key === '?' && !isField(e.target))) { e.preventDefault(); closeHelp(true); return; }
      if (e.key === 'Tab') {
        var focusable = help.dialog.querySelectorAll('button, [href], input, select, textarea');
        if (focusable.length) {
          var first = focusable[0];
          var last = focusable[focusable.length - 1];
          if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
          else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
          else if (!help.dialog.contains(document.activeElement)) { e.preventDefault(); first.focus(); }
        }
      }
      return;
    }
    var inField = isField(e.target);
    if (e.key === 'Escape') {
      if (inField) {
        e.target.blur();
        if (V.conv && V.stream && V.convPane.contains(e.target)) V.stream.focus();
        else if (V.listPane.contains(e.target)) {
          var row = V.listEl.querySelector('[data-testid=conversation-row].selected') || V.listEl.querySelector('[data-testid=conversation-row]');
          if (row) row.focus();
        }
      } else if (phone() && V.root.classList.contains('show-details')) {
        toggleDetails(false);
      }
      return;
    }
    if (inField || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var C = V.conv;
    switch (e.key) {
      case 'j': e.preventDefault(); step(1); break;
      case 'k': e.preventDefault(); step(-1); break;
      case 'r':
      case 'n':
        if (!C) return;
        e.preventDefault();
        setMode(C, e.key === 'n' ? 'note' : 'reply', true);
        break;
      case 'e':
        if (!C || !C.data) return;
        e.preventDefault();
        if (C.data.status !== 'resolved') resolve(C);
        break;
      case 'a':
        if (!C || !C.data) return;
        e.preventDefault();
        assignMe(C);
        break;
      case '/':
        e.preventDefault();
        if (phone() && C) backToList();
        V.search.focus();
        V.search.select();
        break;
      case '?':
        e.preventDefault();
        toggleHelp();
        break;
      default:
    }
  });

  // ---- Routes -------------------------------------------------------------------------------------

  SB.route('/', render);
  SB.route('/conversations/:id', render);
})();
