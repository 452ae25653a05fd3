// Switchboard web app: what every page shares. The pages (inbox/, admin/) register their
// routes with route(); this module signs in, calls the JSON API with the session cookie and
// the CSRF token, keeps the agent websocket (with resume) and builds DOM safely: every piece
// of user content goes through text nodes, never innerHTML.

// The signed-in agent ({id, name, email, role, ...}) and the CSRF token, once start() knows
// them. One object, shared by every module that imports it.
export var session = { me: null, csrf: null, reports: 'none' };

// ---- DOM ---------------------------------------------------------------------------------

// h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', childNode, [more])
export function h(tag, attrs) {
  var el = document.createElement(tag);
  var a = attrs || {};
  Object.keys(a).forEach(function (key) {
    var value = a[key];
    if (value === null || value === undefined || value === false) return;
    if (key.slice(0, 2) === 'on' && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'text') {
      el.textContent = String(value);
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'dataset') {
      Object.keys(value).forEach(function (k) { el.dataset[k] = value[k]; });
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  });
  for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
  return el;
}
function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
  el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
}
export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function fmtTime(iso) {
  if (!iso) return '';
  var d = new Date(iso);
  var today = new Date();
  var sameDay = d.toDateString() === today.toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' +
      d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// A short message at the bottom of the screen (role=status, so screen readers hear it).
export function toast(message, kind) {
  var box = document.getElementById('toasts');
  if (!box) return;
  var t = h('div', { class: 'toast ' + (kind || 'info'), role: 'status' }, message);
  box.appendChild(t);
  setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, 5000);
}

// ---- API ---------------------------------------------------------------------------------

// `field`: where in the request a 422 points (`settings.smtp`), when the answer names it.
export function ApiError(status, code, message, field) {
  this.status = status; this.code = code; this.message = message; this.field = field || null;
}

// api('POST', '/api/v1/...', body) → parsed JSON (null for 204); throws ApiError.
// `body` may be a FormData (uploads).
export function api(method, path, body) {
  var headers = { Accept: 'application/json' };
  var payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined && body !== null) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  return fetch(path, { method: method, headers: headers, body: payload, credentials: 'same-origin' })
    .then(function (r) {
      if (r.status === 401 && path !== '/api/v1/auth/login') {
        location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
        throw new ApiError(401, 'unauthorized', 'signed out');
      }
      if (r.status === 204) return null;
      return r.json().then(
        function (json) {
          if (!r.ok) {
            var e = (json && json.error) || {};
            throw new ApiError(r.status, e.code || 'error', e.message || r.statusText, e.field);
          }
          return json;
        },
        function () {
          if (!r.ok) throw new ApiError(r.status, 'error', r.statusText);
          return null;
        }
      );
    });
}

// Shows an API error to the agent (used in every catch).
export function fail(error) {
  var message = error && error.message ? error.message : String(error);
  toast(message, 'error');
}

// ---- The agent websocket -----------------------------------------------------------------

var handlers = {};
var socket = null;
var resume = null; // {epoch, seq}
var backoff = 500;
export var socketState = 'connecting';

// on('message.created', fn(data, frame)); 'resync' is emitted when the stream asks the
// page to reload its state; 'socket' when the connection state changes.
export function on(type, fn) { (handlers[type] = handlers[type] || []).push(fn); }
// A handler of the whole app (the bell), kept across navigation.
export function onGlobal(type, fn) { fn.sbGlobal = true; on(type, fn); }
function emit(type, data, frame) {
  (handlers[type] || []).forEach(function (fn) {
    try { fn(data, frame); } catch (e) { if (window.console) console.error(e); }
  });
}

export function send(frame) {
  if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
}

function connect() {
  var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/ws';
  if (resume) url += '?epoch=' + encodeURIComponent(resume.epoch) + '&since=' + resume.seq;
  socket = new WebSocket(url);
  socket.onmessage = function (event) {
    var frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (frame.type === 'hello') {
      backoff = 500;
      failures = 0;
      var d = frame.data || {};
      if (d.start === 'resumed' && resume) {
        // The missed events follow: the resume point moves with them, not to the end
        // (a drop half-way through the backlog must not skip the rest).
        resume.epoch = d.epoch;
      } else {
        resume = { epoch: d.epoch, seq: d.seq };
      }
      setState('connected');
      // Not resumed (the first connect, a hub restart, too far behind): what the page
      // loaded before this point may miss events, so pages reload their data.
      if (d.start !== 'resumed') emit('resync', d, frame);
      emit('hello', d, frame);
      return;
    }
    if (frame.type === 'resync') { emit('resync', frame.data || {}, frame); return; }
    if (typeof frame.seq === 'number' && resume) resume.seq = frame.seq;
    emit(frame.type, frame.data, frame);
  };
  socket.onclose = function () {
    setState('reconnecting');
    failures += 1;
    // Signed out (session ended elsewhere)? The API's 401 handling takes the page to /login.
    if (failures >= 2) api('GET', '/api/v1/me').catch(function () {});
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
}
var failures = 0;
function setState(state) {
  socketState = state;
  document.documentElement.dataset.socket = state;
  emit('socket', state);
}

// ---- Layout and routing ------------------------------------------------------------------

var routes = [];
// route('/conversations/:id', function (main, params) { ... }, {admin: true})
export function route(pattern, render, options) {
  var names = [];
  var re = new RegExp('^' + pattern.replace(/:(\w+)/g, function (_, n) { names.push(n); return '([^/]+)'; }) + '/?$');
  routes.push({ re: re, names: names, render: render, options: options || {} });
}

// Called after every navigate() (the inbox lets go of its page when another one opens).
var afterNavigation = [];
export function afterNavigate(fn) { afterNavigation.push(fn); }

export function navigate(path, replace) {
  if (replace) history.replaceState({}, '', path); else history.pushState({}, '', path);
  render();
  // Screen readers continue at the new page, not at the top of the document.
  var main = document.getElementById('main');
  if (main) main.focus();
  afterNavigation.forEach(function (fn) { fn(); });
}

// Builders of extra items in the top bar (the bell registers one).
export var navExtras = [];

function nav() {
  // `within`: the path prefixes the tab stands for (Admin: every admin page; Inbox: every
  // conversation too).
  var link = function (href, label, key, within) {
    var path = location.pathname;
    var current = path === href || (href !== '/' && path.indexOf(href) === 0) ||
      (within || []).some(function (prefix) { return path === prefix || path.indexOf(prefix + '/') === 0; });
    return h('a', {
      href: href, 'aria-current': current ? 'page' : null, 'aria-keyshortcuts': key || null,
      onclick: function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return;
        e.preventDefault(); navigate(href);
      }
    }, label);
  };
  var admin = session.me && session.me.role === 'admin';
  return h('nav', { class: 'topnav', 'aria-label': 'Main' },
    h('span', { class: 'brand' }, 'Switchboard'),
    link('/', 'Inbox', null, ['/conversations']),
    link('/contacts', 'Contacts'),
    session.reports !== 'none' ? link('/reports', 'Reports') : null,
    admin ? link('/admin/inboxes', 'Admin', null, ['/admin']) : null,
    h('span', { class: 'spacer' }),
    h('span', { class: 'socket-state', 'data-testid': 'socket-state', 'aria-live': 'polite' }),
    navExtras.map(function (build) { return build(); }),
    link('/profile', session.me ? session.me.name : 'Profile'),
    h('button', {
      class: 'link', type: 'button', 'data-testid': 'logout',
      onclick: function () {
        api('POST', '/api/v1/auth/logout').then(function () { location.href = '/login'; }, fail);
      }
    }, 'Sign out'));
}

function render() {
  var root = document.getElementById('app');
  clear(root);
  root.appendChild(nav());
  var main = h('main', { id: 'main', tabindex: '-1' });
  root.appendChild(main);
  root.appendChild(h('div', { id: 'toasts', 'aria-live': 'polite' }));
  var path = location.pathname;
  for (var i = 0; i < routes.length; i++) {
    var m = routes[i].re.exec(path);
    if (!m) continue;
    var params = {};
    var bad = false;
    routes[i].names.forEach(function (n, j) {
      try { params[n] = decodeURIComponent(m[j + 1]); } catch (e) { bad = true; }
    });
    if (bad) break;
    if (routes[i].options.admin && session.me.role !== 'admin') {
      main.appendChild(h('p', { class: 'empty' }, 'This page is for admins.'));
      return;
    }
    handlers = keepGlobal(handlers);
    routes[i].render(main, params);
    return;
  }
  main.appendChild(h('p', { class: 'empty' }, 'Nothing here. ', h('a', { href: '/' }, 'Back to the inbox')));
}
// Page handlers are dropped on navigation; the layout's own ones (onGlobal) stay.
var globalTypes = { socket: true };
function keepGlobal(all) {
  var kept = {};
  Object.keys(all).forEach(function (t) {
    var fns = all[t].filter(function (fn) { return globalTypes[t] || fn.sbGlobal; });
    if (fns.length) kept[t] = fns;
  });
  return kept;
}

// Signs in (GET /me), draws the page of the address and opens the socket. The entry module
// (main.js) calls it once every page module has registered its routes.
export function start() {
  api('GET', '/api/v1/me').then(function (me) {
    session.me = me.agent;
    session.csrf = me.csrf_token;
    session.reports = me.reports || 'none';
    on('socket', function (state) {
      var el = document.querySelector('[data-testid=socket-state]');
      if (el) el.textContent = state === 'connected' ? '' : 'Reconnecting…';
    });
    render();
    connect();
    window.addEventListener('popstate', render);
  }, function (e) { if (e && e.status !== 401) fail(e); });
}
