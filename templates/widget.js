/*! Switchboard chat widget, served by the hub at /widget.js (protocol: the widget spec, issue #5).
 * Plain ES2019, no build step. Rules: content only via textContent/createElement (never innerHTML);
 * UI in a shadow root; nothing throws into the host page (callbacks go through guard()); works
 * without localStorage (`store` falls back to memory).
 */
(function () {
  'use strict';

  const W = window;
  const D = document;
  if (W.Switchboard && W.Switchboard._loaded) return; // the script was included twice

  // ---------------------------------------------------------------- bootstrap
  const script = D.currentScript || D.querySelector('script[data-key][src*="widget.js"]');
  const KEY = script && script.getAttribute('data-key');
  if (!KEY) return console.warn('[Switchboard] widget script without data-key');
  // Hub base URL: the script's origin plus any path prefix before /widget.js.
  const src = new URL(script.src, location.href);
  const cut = src.pathname.lastIndexOf('/widget.js');
  const BASE = src.origin + (cut >= 0 ? src.pathname.slice(0, cut) : src.pathname.replace(/\/[^/]*$/, ''));
  const WS_URL = BASE.replace(/^http/, 'ws') + '/widget/ws?key=' + encodeURIComponent(KEY);

  const warn = (...a) => console.warn('[Switchboard]', ...a);
  // Wrap a callback so an exception ends up in the console, not in the host page.
  const guard = (fn) => function () {
    try {
      const r = fn.apply(this, arguments);
      if (r && r.catch) r.catch(warn);
      return r;
    } catch (e) {
      warn(e);
    }
  };

  // Calls made before the script loaded (the snippet queued them in Switchboard.q), and calls
  // made while config/session are loading: run once the widget is up.
  const early = Array.from((W.Switchboard && W.Switchboard.q) || []);
  let booted = false;
  const api = function () {
    try {
      if (!booted) return void early.push(arguments);
      return Promise.resolve(run(arguments)).catch(warn);
    } catch (e) {
      warn(e);
    }
  };
  api._loaded = true;
  api.ready = false;
  W.Switchboard = api;

  // ---------------------------------------------------------------- storage
  // Keys are switchboard:{key}:{name}. If localStorage throws (now or later) we keep going in memory.
  const mem = Object.create(null);
  let ls = null;
  try {
    ls = W.localStorage;
    ls.setItem('switchboard:probe', '1');
    ls.removeItem('switchboard:probe');
  } catch {
    ls = null;
  }
  const skey = (name) => 'switchboard:' + KEY + ':' + name;
  const OUT = 'outbox:';
  let outbox = null; // readOutbox() cache; dropped on every write to the queue, here or in another tab
  const store = {
    get(name) {
      try {
        if (ls) return (mem[name] = ls.getItem(skey(name)));
      } catch {
        ls = null;
      }
      return name in mem ? mem[name] : null;
    },
    set(name, value) {
      mem[name] = value;
      if (name.indexOf(OUT) === 0) outbox = null;
      try {
        if (ls && value == null) ls.removeItem(skey(name));
        else if (ls) ls.setItem(skey(name), value);
      } catch {
        ls = null;
      }
    },
  };
  // The offline queue, shared by all tabs: one key per message, outbox:{client_id} = {client_id,
  // content, at} (tabs never overwrite each other's entries), listed oldest first.
  const readOutbox = () => outbox || (outbox = scanOutbox());
  const scanOutbox = () => {
    const names = new Set();
    try {
      if (ls) for (let i = 0; i < ls.length; i++) {
        const k = ls.key(i) || '';
        if (k.indexOf(skey(OUT)) === 0) names.add(k.slice(skey('').length));
      }
    } catch {
      ls = null;
    }
    if (!ls) for (const n in mem) if (n.indexOf(OUT) === 0) names.add(n);
    const q = [];
    for (const n of names) {
      try {
        const e = JSON.parse(store.get(n));
        if (e && typeof e.client_id === 'string' && typeof e.content === 'string') q.push(e);
      } catch {
        // not JSON: skipped
      }
    }
    return q.sort((a, b) => (+a.at || 0) - (+b.at || 0) || (a.client_id < b.client_id ? -1 : a.client_id > b.client_id ? 1 : 0));
  };
  const queue = (e) => store.set(OUT + e.client_id, JSON.stringify({ client_id: e.client_id, content: e.content, at: e.at }));
  const dropQueued = (cid) => cid && store.get(OUT + cid) != null && store.set(OUT + cid, null);
  // The queue used to be one array under `outbox` (tabs overwrote each other): move its entries out.
  function migrateOutbox() {
    let old = [];
    try {
      old = JSON.parse(store.get('outbox') || '[]');
    } catch {
      // not JSON: nothing to move
    }
    for (const e of Array.isArray(old) ? old : []) {
      if (e && typeof e.client_id === 'string' && typeof e.content === 'string' && store.get(OUT + e.client_id) == null) queue(e);
    }
    store.set('outbox', null);
  }

  // client_id: 8..64 chars of [A-Za-z0-9_-]. randomUUID only exists in secure contexts.
  function newId() {
    const c = W.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
    return btoa(String.fromCharCode.apply(null, b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // ---------------------------------------------------------------- HTTP
  // 429/503 mean "later", not "never": wait Retry-After seconds (default 5, at most 60) and try
  // again. A request for the visitor (auth) first waits for a session, and gives up when the
  // visitor was reset meanwhile. Network errors reject.
  async function http(method, path, body, auth) {
    if (body && !(body instanceof FormData)) body = JSON.stringify(body);
    const url = BASE + '/widget/api/' + path + '?key=' + encodeURIComponent(KEY);
    const ep = epoch;
    for (;;) {
      if (auth) await session();
      if (auth && ep !== epoch) return { status: 0, ok: false, body: null }; // for a visitor reset meanwhile
      const headers = {};
      if (auth && token) headers.Authorization = 'Bearer ' + token;
      if (typeof body === 'string') headers['Content-Type'] = 'application/json';
      const res = await fetch(url, { method, headers, body, mode: 'cors', credentials: 'omit' });
      const data = await res.json().catch(() => null); // errors are JSON; anything else → null
      const r = { status: res.status, ok: res.ok, body: data };
      if ((res.status !== 429 && res.status !== 503) || (auth && ep !== epoch)) return r;
      // A storage quota stands until the day's uploads age out: shown to the visitor, not retried.
      if (errCode(r) === 'storage_quota_exceeded') return r;
      // So does the transcript's hourly limit: the visitor is told, nothing is retried.
      if (path === 'transcript') return r;
      // Cross-origin, the header is only readable when the hub exposes it (Access-Control-Expose-Headers).
      const ra = res.headers.get('Retry-After');
      let secs = ra == null || ra === '' ? 5 : +ra;
      if (isNaN(secs)) secs = (Date.parse(ra) - Date.now()) / 1000 || 5; // an HTTP date
      warn(path + ': HTTP ' + res.status + ', retrying');
      await sleep(Math.min(Math.max(secs, 1), 60) * 1000);
    }
  }
  const errMsg = (r, fallback) => (r && r.body && r.body.error && r.body.error.message) || fallback;
  const errCode = (r) => r && r.body && r.body.error && r.body.error.code;
  const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

  // ---------------------------------------------------------------- state
  let cfg = null;
  let token = null;
  const msgs = new Map(); // message id -> MessageFrame stored on the server
  const failed = new Map(); // client_id -> {client_id, content, at, error}: refused by the server (this tab)
  const uploads = new Map(); // client_id -> {client_id, content, files, at, error}: multipart in flight/failed
  let wsSeq = 0; // highest seq of a `message` frame (or ready.last_seq) = where a reconnect resumes
  let gotReady = false; // false → next hello asks for the recent history (last_seq null)
  let convId = null; // conversation of the last `ready` (wsSeq counts in it)
  let resolved = false; // support resolved the conversation: ended, with "start a new conversation"
  let survey = null; // the satisfaction survey asked (a `csat` frame), answered or not
  let csatPick = 0; // the rating picked and not sent yet
  let csatEditing = false; // an answered survey opened again to change the answer
  let csatSending = false; // an answer is on its way (until the hub's `csat` or `error` frame)
  let csatFor = null; // the survey the form was last filled for
  let starting = false; // a new_conversation frame is on its way
  let epoch = 0; // bumped when this tab changes visitor (reset, another tab's new session)
  let sessionP = null; // the session request in flight
  let readUpTo = 0; // an agent read the visitor's messages up to this seq
  let sentDelivered = 0;
  let sentRead = 0;
  let ws = null;
  let isReady = false; // socket open and `ready` received
  let connecting = false;
  let offline = false; // simulateOffline(true)
  let backoff = 500;
  let retryTimer = 0;
  let readyTimer = 0;
  let receiptTimer = 0;
  let isOpen = false;
  let els = null; // UI elements, once built

  const maxChars = () => cfg.max_message_chars || 4000;
  const charCount = (s) => Array.from(s).length; // the hub counts characters, not UTF-16 units
  const visible = () => D.visibilityState === 'visible';
  const tooLong = () => showError('Your message is too long (max ' + maxChars() + ' characters).');

  // ---------------------------------------------------------------- session / identify
  // Resolves once there is a token (the stored one revalidated, or a new visitor's). One request
  // at a time; a reply that is stale (visitor reset here, or the stored token changed by another
  // tab meanwhile) is not used.
  function session() {
    if (token) return Promise.resolve();
    return (
      sessionP ||
      (sessionP = (async () => {
        try {
          while (!token) {
            const ep = epoch;
            const sent = store.get('token');
            const r = await http('POST', 'session', { token: sent });
            if (!r.ok || !r.body || !r.body.token) {
              const e = new Error('session: ' + errMsg(r, 'HTTP ' + r.status));
              e.status = r.status;
              throw e;
            }
            const now = store.get('token');
            if (token || ep !== epoch) continue; // reset, or another tab's token adopted, meanwhile
            if (now !== sent) {
              token = now; // another tab got a session meanwhile: use theirs (null: ask again)
              continue;
            }
            token = r.body.token;
            store.set('token', token);
          }
        } finally {
          sessionP = null;
        }
      })())
    );
  }

  // Forget the conversation shown (after identify or a new session the visitor may be someone
  // else, with other seqs); the next hello asks for the history again.
  function resetConversation() {
    msgs.clear();
    wsSeq = readUpTo = sentDelivered = sentRead = 0;
    gotReady = false;
    convId = null;
    resolved = starting = false;
    survey = null;
    render();
  }

  // This tab now shows another visitor (token set by the caller): drop everything of the old one.
  function forget() {
    epoch++;
    failed.clear();
    uploads.clear();
    resetConversation();
    hideTyping();
    closeSocket();
  }

  // Switchboard('reset') (the site's logout) and identity_changed: a new anonymous visitor, with
  // nothing of the old one kept (queue, pre-chat, unread state; also in the other tabs).
  function resetVisitor() {
    token = null;
    store.set('token', null);
    for (const e of readOutbox()) dropQueued(e.client_id);
    store.set('prechat', null);
    store.set('seen', null);
    forget();
    clearTimeout(retryTimer);
    retryTimer = 0;
  }

  // Another tab stored a new token (it got a new session after a reset or `unauthorized`).
  function adoptToken() {
    const t = store.get('token');
    if (!t || t === token) return;
    forget();
    token = t;
    reconnectNow();
  }

  async function identify(o, again) {
    const body = {};
    for (const k of ['identifier', 'email', 'name', 'identifier_hash']) {
      if (o && o[k] != null && o[k] !== '') body[k] = String(o[k]);
    }
    if (!Object.keys(body).length) return false;
    const r = await http('POST', 'identify', body, true);
    if (r.status === 409 && errCode(r) === 'identity_changed' && !again) {
      // This browser was someone else: start over as a new visitor, then identify that one.
      resetVisitor();
      try {
        return await identify(o, true);
      } finally {
        reconnectNow();
      }
    }
    if (!r.ok) {
      warn('identify failed:', errMsg(r, 'HTTP ' + r.status));
      return false;
    }
    store.set('prechat', '1'); // the site told us who this is: no pre-chat form
    // The hub may have moved the visitor to an existing contact: start over on a fresh socket.
    resetConversation();
    if (ws || connecting || retryTimer) reconnect();
    return true;
  }

  // ---------------------------------------------------------------- Where the visitor is
  // The pages of this browser session (sessionStorage: gone with the tab), the latest 20, and
  // the current one: agents see them beside the conversation (`context` frame).
  const PAGES = skey('pages');
  const clip = (text, n) => String(text || '').slice(0, n);
  // Addresses without their query and fragment: those can hold what only the visitor may
  // see (a reset token, an email, `#access_token`), and agents need the page, not its state.
  function pageAddress(href) {
    if (!href) return '';
    try {
      const u = new URL(href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin + u.pathname : '';
    } catch {
      return '';
    }
  }
  function notePage() {
    let pages = [];
    try {
      pages = JSON.parse(W.sessionStorage.getItem(PAGES) || '[]');
      if (!Array.isArray(pages)) pages = [];
    } catch {
      pages = [];
    }
    const here = clip(pageAddress(location.href), 500);
    if (!pages.length || pages[pages.length - 1].url !== here) {
      pages.push({ url: here, title: clip(D.title, 200), at: new Date().toISOString() });
    }
    pages = pages.slice(-20);
    try {
      W.sessionStorage.setItem(PAGES, JSON.stringify(pages));
    } catch {
      /* private mode: this page only */
    }
    return pages;
  }
  let visited = [];
  function contextFrame() {
    let zone = null;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch {
      zone = null;
    }
    return {
      type: 'context', url: clip(pageAddress(location.href), 2000), title: clip(D.title, 300),
      referrer: clip(pageAddress(D.referrer), 2000) || null, time_zone: zone, language: navigator.language || null,
      pages: visited
    };
  }
  function pageChanged() {
    visited = notePage();
    send(contextFrame());
  }

  // ---------------------------------------------------------------- WebSocket
  function send(frame) {
    if (!ws || !isReady || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  // Open the socket (after a session when there is no token). Never rejects.
  const connect = () => openSocket().catch(warn);
  async function openSocket() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (ws || connecting || offline || !cfg) return;
    connecting = true;
    try {
      await session();
    } catch (e) {
      warn(e.message);
      connecting = false;
      return scheduleReconnect();
    }
    connecting = false;
    if (ws || offline) return;
    let sock;
    try {
      sock = ws = new WebSocket(WS_URL);
    } catch (e) {
      warn(e);
      return scheduleReconnect();
    }
    sock.onopen = guard(() => {
      if (ws !== sock) return;
      // Resume after wsSeq of conversation convId. Without a known conversation (none at the last
      // `ready`, or forgotten) ask for the recent history instead.
      const resume = gotReady && convId != null;
      sock.send(JSON.stringify({ type: 'hello', token, last_seq: resume ? wsSeq : null, conversation_id: resume ? convId : null }));
      // A socket that opens but never gets `ready` is as good as closed.
      readyTimer = setTimeout(guard(() => ws === sock && !isReady && (closeSocket(), scheduleReconnect())), 10000);
    });
    sock.onmessage = guard((ev) => {
      if (ws !== sock) return;
      const f = JSON.parse(ev.data); // a bad frame throws into guard()
      if (f && typeof f === 'object') onFrame(f);
    });
    // Any close (network, hub restart, 1013 "reconnect and resume", …) reconnects with backoff,
    // resuming where this socket stopped.
    sock.onclose = guard(() => {
      if (ws !== sock) return; // a socket we dropped on purpose
      ws = null;
      isReady = false;
      setConn();
      scheduleReconnect();
    });
  }

  function closeSocket() {
    const s = ws;
    ws = null;
    isReady = false;
    clearTimeout(readyTimer);
    if (s) s.close();
    setConn();
  }

  function reconnect() {
    closeSocket();
    connect();
  }

  // Backoff 500 ms doubling to 15 s; reset by `ready`.
  function scheduleReconnect() {
    clearTimeout(retryTimer);
    setConn();
    if (offline) return;
    retryTimer = setTimeout(guard(connect), backoff);
    backoff = Math.min(backoff * 2, 15000);
  }

  // Reconnect right away (network back, tab visible again).
  function reconnectNow() {
    if (ws || connecting || offline || !cfg) return;
    backoff = 500;
    connect();
  }

  function simulateOffline(on) {
    offline = on;
    if (on) {
      clearTimeout(retryTimer);
      retryTimer = 0;
      closeSocket();
    } else {
      reconnectNow();
    }
    setConn();
  }

  function onFrame(f) {
    switch (f.type) {
      case 'ready': {
        clearTimeout(readyTimer);
        // Another conversation than the one wsSeq counts in (a new one started, or identify moved
        // the visitor): its seqs start over and the hub sends its recent history next. The
        // greeting and this browser's pending bubbles stay.
        // None now where there was one: the visitor started a new conversation (the old one
        // was closed); the next message opens it.
        const cid = f.conversation_id == null ? null : String(f.conversation_id);
        if (cid !== convId && (cid != null || convId != null)) {
          msgs.clear();
          wsSeq = readUpTo = sentDelivered = sentRead = 0;
          convId = cid;
          resolved = false;
          survey = null;
        }
        starting = false;
        survey = null; // the open one, if any, follows `ready`
        csatSending = false;
        if (f.last_seq > wsSeq) wsSeq = f.last_seq;
        isReady = true;
        gotReady = true;
        backoff = 500;
        if (typeof f.agents_online === 'boolean') cfg.agents_online = f.agents_online;
        setConn();
        // Where the visitor is first, so their messages carry it.
        send(contextFrame());
        // (Re)send the whole offline queue, oldest first; client_id makes resending idempotent.
        for (const e of readOutbox()) send({ type: 'message', client_id: e.client_id, content: e.content });
        receipts();
        render();
        break;
      }
      case 'message':
        addMessage(f.message, true);
        break;
      case 'ack':
        // Also when duplicate: it is the same stored message. Not a resume point: the hub sends
        // every message before the ack as `message` frames, only those move wsSeq.
        dropQueued(f.client_id);
        addMessage(f.message, false);
        break;
      case 'typing':
        agentTyping(f);
        break;
      case 'status':
        if (f.status === 'read' && f.up_to > readUpTo) {
          readUpTo = f.up_to;
          render();
        }
        break;
      case 'presence':
        cfg.agents_online = !!f.agents_online;
        render();
        break;
      case 'csat':
        // Asked, or answered (here or in another tab): the answer shows as thanks.
        if (csatFor !== f.survey_id) {
          // Another survey (not the same one again after a reconnect): a fresh form.
          if (els) els.csatText.value = '';
          csatEditing = false;
          csatFor = f.survey_id;
        }
        if (f.rating != null) csatEditing = false;
        if (csatSending && els) els.csatText.value = '';
        csatSending = false;
        if (els) els.csatNote.textContent = '';
        survey = f;
        csatPick = 0;
        render();
        break;
      case 'conversation':
        // The hub sends the state of the socket's conversation; the first one of a visitor
        // who had none yet (their first message started it) is adopted.
        if (convId == null || String(f.conversation_id) === convId) {
          convId = String(f.conversation_id);
          resolved = !!f.resolved;
          if (!resolved) survey = null; // reopened: that resolution's survey is over
          starting = false;
          render();
        }
        break;
      case 'error':
        onServerError(f);
        break;
    }
  }

  function onServerError(f) {
    const cid = f.client_id;
    // A refusal about no message (a new_conversation or a survey answer): its button works
    // again and a refused answer says why where it was given.
    if (!cid && (starting || csatSending)) {
      if (csatSending && els) els.csatNote.textContent = f.message || 'Your answer was not taken.';
      starting = csatSending = false;
      render();
    }
    if (f.code === 'unauthorized') {
      // Token no longer valid: drop it (unless another tab already replaced it) and start over.
      if (store.get('token') === token) store.set('token', null);
      token = null;
      resetConversation();
      closeSocket();
      return scheduleReconnect();
    }
    if (cid && f.code === 'rate_limited') {
      // Stays queued; try that one again in 5 s.
      showError(f.message || 'You are sending messages too fast.');
      const retry = () => {
        const e = readOutbox().find((x) => x.client_id === cid);
        if (e) send({ type: 'message', client_id: cid, content: e.content });
      };
      return void setTimeout(guard(retry), 5000);
    }
    if (cid && (f.code === 'too_long' || f.code === 'empty' || f.code === 'invalid_frame')) {
      const e = readOutbox().find((x) => x.client_id === cid);
      dropQueued(cid);
      if (e) failed.set(cid, { client_id: cid, content: e.content, at: e.at, after: topSeq(), error: f.message || f.code });
      else showError(f.message || f.code);
      return render();
    }
    warn('server error:', f.code, f.message);
  }

  function addMessage(m, viaSocket) {
    if (!m || m.id == null) return;
    m.id = String(m.id);
    msgs.set(m.id, m); // a frame for a known id replaces it
    // Only the socket's own stream moves the resume point: a message that came back over HTTP
    // may be newer than messages the socket has not delivered yet.
    if (viaSocket && m.seq > wsSeq) wsSeq = m.seq;
    if (m.client_id) {
      dropQueued(m.client_id);
      failed.delete(m.client_id);
      uploads.delete(m.client_id);
    }
    if (m.from === 'agent' || m.from === 'bot') hideTyping();
    if (m.from !== 'visitor') {
      clearTimeout(receiptTimer); // one receipt for a burst (e.g. the history)
      receiptTimer = setTimeout(guard(receipts), 200);
    }
    render();
  }

  // The agent messages seen up to this seq: `seen` is "conversation:seq", shared by the tabs; one
  // of another conversation (seqs start over there) counts as none.
  const seenSeq = () => {
    const v = String(store.get('seen') || '').split(':');
    return v.length < 2 || !v[0] || v[0] === convId ? +v.pop() || 0 : 0;
  };

  // delivered: every agent message received; read: panel open and page visible. Only when they grow.
  function receipts() {
    let top = 0;
    let agentTop = 0;
    for (const m of msgs.values()) {
      if (m.seq > top) top = m.seq;
      if (m.from !== 'visitor' && m.seq > agentTop) agentTop = m.seq;
    }
    const seen = isOpen && visible();
    if (agentTop > sentDelivered && send({ type: 'delivered', up_to: top })) sentDelivered = top;
    if (seen && agentTop > sentRead && send({ type: 'read', up_to: top })) sentRead = top;
    if (seen && agentTop > seenSeq()) {
      store.set('seen', (convId || '') + ':' + agentTop); // drives the unread badge, also in other tabs
      render();
    }
  }

  // ---------------------------------------------------------------- typing
  let typingTimer = 0;
  function agentTyping(f) {
    clearTimeout(typingTimer);
    if (!f.on) return hideTyping();
    els.typing.textContent = (f.author || 'Someone') + ' is typing…';
    els.typing.hidden = false;
    typingTimer = setTimeout(guard(hideTyping), 5000);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    if (els) els.typing.hidden = true;
  }

  // The visitor's own typing: on:true at most every 2 s, on:false 3 s after the last key or on send.
  let typingSentAt = 0;
  let typingOn = false;
  let typingStop = 0;
  function visitorTyping() {
    const now = Date.now();
    if (now - typingSentAt >= 2000 && send({ type: 'typing', on: true })) {
      typingSentAt = now;
      typingOn = true;
    }
    clearTimeout(typingStop);
    typingStop = setTimeout(guard(stopTyping), 3000);
  }
  function stopTyping() {
    clearTimeout(typingStop);
    if (typingOn) send({ type: 'typing', on: false });
    typingOn = false;
    typingSentAt = 0;
  }

  // ---------------------------------------------------------------- sending
  function sendText() {
    const text = els.input.value.trim();
    if (!text) return;
    if (charCount(text) > maxChars()) return tooLong();
    const e = { client_id: newId(), content: text, at: Date.now() };
    queue(e); // queued first: survives a reload or a dead socket
    els.input.value = '';
    composerChanged();
    stopTyping();
    render(true);
    send({ type: 'message', client_id: e.client_id, content: e.content });
  }

  async function sendFiles(list) {
    const limit = cfg.max_file_bytes;
    const files = [];
    for (const f of list) {
      if (limit && f.size > limit) showError('“' + f.name + '” is too large (max ' + fmtSize(limit) + ').');
      else files.push(f);
    }
    if (!files.length) return;
    const text = els.input.value.trim();
    if (charCount(text) > maxChars()) return tooLong();
    els.input.value = '';
    composerChanged();
    stopTyping();
    const ep = epoch;
    // The hub takes up to 10 files per message; the text goes with the first one.
    for (let i = 0; i < files.length; i += 10) {
      const batch = files.slice(i, i + 10);
      const u = {
        client_id: newId(),
        content: i ? '' : text,
        files: batch.map((f) => ({ file_name: f.name, byte_size: f.size })),
        at: Date.now(),
        error: null,
      };
      uploads.set(u.client_id, u);
      render(true);
      const fd = new FormData();
      fd.append('client_id', u.client_id);
      fd.append('content', u.content);
      for (const f of batch) fd.append('file', f, f.name);
      const r = await http('POST', 'messages', fd, true).catch(() => null); // null: network error
      if (ep !== epoch) return; // the visitor was reset meanwhile: their uploads are gone
      if (r && (r.status === 200 || r.status === 201) && r.body && r.body.message) {
        uploads.delete(u.client_id);
        addMessage(r.body.message, false);
      } else {
        u.error = errMsg(r, 'The upload failed.');
        u.after = topSeq();
        showError(u.error);
        render();
      }
    }
  }

  // ---------------------------------------------------------------- UI helpers
  const SVG = 'http://www.w3.org/2000/svg';
  const ICONS = {
    chat: 'M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z',
    close: 'M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z',
    attach:
      'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z',
    send: 'M2.01 21 23 12 2.01 3 2 10l15 2-15 2z',
    mail: 'M20 4H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 4-8 5-8-5V6l8 5 8-5v2z',
  };
  function icon(name) {
    const s = D.createElementNS(SVG, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    const p = D.createElementNS(SVG, 'path');
    p.setAttribute('d', ICONS[name]);
    s.appendChild(p);
    return s;
  }

  // h('div', {class: 'x', text: 'safe text', onclick: fn}, child, 'text child', …)
  function h(tag, attrs, ...kids) {
    const el = D.createElement(tag);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), guard(v));
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids) if (c != null) el.append(c); // strings become text nodes
    return el;
  }

  const safeUrl = (u) => (typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null);
  function fmtSize(n) {
    if (!(n >= 0)) return '';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return Math.round(n / 1024) + ' KB';
    return (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + ' MB';
  }
  function fmtTime(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  // Black or white text on the configured colour, whichever contrasts more (WCAG luminance).
  function textOn(hex) {
    const n = parseInt(hex.slice(1), 16);
    const lin = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    const L = 0.2126 * lin((n >> 16) & 255) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
    return (L + 0.05) / 0.05 > 1.05 / (L + 0.05) ? '#000' : '#fff';
  }
  function colour() {
    let c = String(cfg.colour || '');
    if (/^#[0-9a-f]{3}$/i.test(c)) c = '#' + c[1] + c[1] + c[2] + c[2] + c[3] + c[3];
    return /^#[0-9a-f]{6}$/i.test(c) ? c : '#1f6feb';
  }

  let errTimer = 0;
  function showError(text) {
    if (!els) return warn(text);
    els.error.textContent = text;
    els.error.hidden = false;
    clearTimeout(errTimer);
    errTimer = setTimeout(guard(() => (els.error.hidden = true)), 8000);
  }

  // ---------------------------------------------------------------- build the UI
  const CSS = (c, fg, left) => `
:host{all:initial}
*{box-sizing:border-box}
[hidden]{display:none!important}
.w{--c:${c};--fg:${fg};--a:${fg === '#fff' ? c : '#1d2128'};font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2128;
  position:fixed;bottom:20px;${left ? 'left' : 'right'}:20px;z-index:2147483000;text-align:left}
button,textarea,input{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
svg{width:24px;height:24px;fill:currentColor;display:block}
.launcher{width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:var(--fg);
  display:grid;place-items:center;box-shadow:0 4px 14px rgba(0,0,0,.25);position:relative}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;
  background:#d93025;color:#fff;font-size:12px;line-height:20px;text-align:center;font-weight:600}
.panel{position:fixed;bottom:88px;${left ? 'left' : 'right'}:20px;width:370px;max-width:calc(100vw - 40px);
  height:min(620px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border-radius:14px;
  box-shadow:0 10px 40px rgba(0,0,0,.25);overflow:hidden}
.head{display:flex;align-items:center;gap:10px;padding:12px 12px 12px 16px;background:var(--c);color:var(--fg)}
.avatar{width:36px;height:36px;border-radius:50%;flex:none;object-fit:cover;display:grid;place-items:center;
  font-weight:700;background:rgba(255,255,255,.25);border:1px solid rgba(0,0,0,.1)}
.who{flex:1;min-width:0}
.title{font-weight:700;font-size:15px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{font-size:12.5px}
.dot{display:inline-block;width:8px;height:8px;border-radius:50%;background:#2ea043;margin-right:5px;border:1px solid #fff}
.x{border:0;background:none;color:inherit;padding:6px;border-radius:6px}
.conn{font-size:12.5px;text-align:center;padding:4px;background:#fff4d6;color:#5c4400}
.list{flex:1;overflow-y:auto;padding:14px 12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}
.msg{max-width:82%;padding:8px 11px;border-radius:14px;background:#fff;border:1px solid #e2e5ea;align-self:flex-start;
  overflow-wrap:anywhere}
.msg.visitor{align-self:flex-end;background:var(--c);color:var(--fg);border-color:transparent}
.msg.system{align-self:center;background:none;border:0;color:#5f6672;font-size:12.5px;font-style:italic;text-align:center}
.msg[data-state=pending]{border-style:dashed;border-color:var(--fg)}
.msg[data-state=failed]{background:#fdecea;color:#8c1d18;border-color:#f5c2bd}
.author{font-size:12px;font-weight:600;color:#5f6672;margin-bottom:2px}
.text{white-space:pre-wrap}
.msg a{color:inherit}
.att{display:block;margin-top:6px}
.att svg{display:inline;width:15px;height:15px;vertical-align:-3px}
.att img{display:block;max-width:100%;height:auto;max-height:220px;border-radius:8px;background:#0001}
.meta{font-size:11px;text-align:right;margin-top:3px}
.typing{font-size:12.5px;color:#5f6672;padding:2px 14px 4px;background:#f6f7f9;font-style:italic}
.err{font-size:13px;color:#8c1d18;background:#fdecea;padding:6px 12px}
.composer{display:flex;align-items:flex-end;gap:4px;padding:8px;border-top:1px solid #e2e5ea;background:#fff}
.composer textarea{flex:1;resize:none;border:1px solid #c9ced6;border-radius:10px;padding:8px 10px;max-height:120px;
  min-height:38px;background:#fff;color:#1d2128}
.ib{border:0;background:none;padding:7px;border-radius:8px;color:#5f6672}
.send{color:var(--a)} /* the colour itself when it reads on white */
.send:disabled{opacity:.4;cursor:default}
.count{font-size:11.5px;color:#5f6672;text-align:right;padding:0 12px 6px;background:#fff}
.count.over{color:#b3261e;font-weight:600}
.pre .row{display:flex;gap:8px}
.pre .row button{flex:1}
.pre button.plain{background:#e9ecf1;color:#1d2128}
.pre .note{margin:0;font-size:13px;font-weight:400;color:#1d2128}
.pre .note:empty{display:none}
.x[hidden]{display:none}
.csat{padding:12px 16px;border-top:1px solid #e2e5ea;background:#fff;display:grid;gap:8px;font-size:13.5px;color:#1d2128}
.csat .q{margin:0;font-weight:600}
.csat form{display:grid;gap:8px}
.csat .scale{display:flex;gap:6px}
.csat .rate{flex:1;border:1px solid #c9ced6;border-radius:8px;background:#fff;color:#1d2128;padding:8px 0;font-size:15px;cursor:pointer}
.csat .rate[aria-pressed=true]{background:var(--c);color:var(--fg);border-color:var(--c)}
.csat textarea{border:1px solid #c9ced6;border-radius:8px;padding:8px 10px;font:inherit;resize:vertical}
.csat button[type=submit]{border:0;border-radius:8px;padding:9px;background:var(--c);color:var(--fg);font-weight:600}
.csat button[type=submit]:disabled{opacity:.6}
.csat .note{margin:0;font-size:13px;color:#8c1d18}
.csat .note:empty{display:none}
.csat .thanks{display:grid;gap:6px}
.csat .thanks p{margin:0}
.csat button.plain{border:0;border-radius:8px;padding:7px;background:#e9ecf1;color:#1d2128}
.ended{padding:12px 16px;border-top:1px solid #e2e5ea;background:#f6f8fa;display:grid;gap:8px;text-align:center;font-size:13.5px;color:#1d2128}
.ended p{margin:0}
.ended button{border:0;border-radius:8px;padding:9px;background:var(--c);color:var(--fg);font-weight:600;cursor:pointer}
.ended button:disabled{opacity:.7;cursor:default}
.pre{padding:14px 16px;border-top:1px solid #e2e5ea;background:#fff;display:grid;gap:8px}
.pre p{margin:0;font-weight:600}
.pre label{display:grid;gap:3px;font-size:13px}
.pre input{border:1px solid #c9ced6;border-radius:8px;padding:8px 10px;background:#fff;color:#1d2128}
.pre button{border:0;border-radius:8px;padding:9px;background:var(--c);color:var(--fg);font-weight:600}
@media (max-width:480px){
  .panel{top:0;left:0;right:0;bottom:0;width:100%;max-width:none;height:100%;border-radius:0}
  .w.open .launcher{display:none}
}`;

  function build() {
    const p = cfg.prechat || {};
    const host = h('div', { id: 'switchboard-widget' });
    const root = host.attachShadow({ mode: 'open' });
    const style = D.createElement('style');
    const c = colour();
    style.textContent = CSS(c, textOn(c), cfg.position === 'left');
    root.appendChild(style);

    const e = (els = {});
    const title = String(cfg.title || 'Chat');
    const avatarUrl = safeUrl(cfg.avatar_url);
    const initial = h('span', { class: 'avatar', 'aria-hidden': 'true', text: Array.from(title)[0] || '?' });
    e.badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    e.launcher = h(
      'button',
      { type: 'button', class: 'launcher', 'data-testid': 'launcher', 'aria-label': 'Open chat', 'aria-expanded': 'false', onclick: () => (isOpen ? close(true) : open()) },
      icon('chat'),
      e.badge
    );
    e.online = h('span', {}, h('span', { class: 'dot' }), 'Online');
    e.away = h('span', { 'data-testid': 'away', text: cfg.away_message || 'Away' });
    e.conn = h('div', { class: 'conn', 'data-testid': 'connection', 'data-state': 'reconnecting', role: 'status', text: 'Connecting…' });
    e.list = h('div', { class: 'list', 'data-testid': 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0' });
    e.typing = h('div', { class: 'typing', 'data-testid': 'typing', 'aria-live': 'polite', hidden: true });
    e.error = h('div', { class: 'err', 'data-testid': 'error', role: 'alert', hidden: true });
    e.restart = h('button', { type: 'button', 'data-testid': 'new-conversation', text: 'Start a new conversation', onclick: () => {
      if (starting || !send({ type: 'new_conversation' })) return;
      starting = true;
      render();
    } });
    // "Email me this conversation" (when the inbox offers it and there is a conversation).
    e.mailBtn = h('button', { type: 'button', class: 'x', 'data-testid': 'transcript', 'aria-label': 'Email me this conversation',
      title: 'Email me this conversation', 'aria-expanded': 'false', hidden: true, onclick: () => toggleTranscript() }, icon('mail'));
    e.mailTo = h('input', { type: 'email', name: 'email', autocomplete: 'email', 'data-testid': 'transcript-email' });
    e.mailNote = h('p', { class: 'note', 'data-testid': 'transcript-note', role: 'status' });
    e.mailForm = h(
      'form',
      { class: 'pre', 'data-testid': 'transcript-form', novalidate: true, hidden: true, onsubmit: submitTranscript },
      h('label', {}, 'Email me this conversation', e.mailTo),
      h('div', { class: 'row' },
        h('button', { type: 'submit', 'data-testid': 'transcript-send', text: 'Send' }),
        h('button', { type: 'button', class: 'plain', text: 'Cancel', onclick: () => toggleTranscript(false) })),
      e.mailNote
    );
    // The satisfaction survey: a rating (five buttons or two thumbs), words if they like.
    e.csatQ = h('p', { class: 'q', id: 'sb-csat-q' });
    e.csatScale = h('div', { class: 'scale', role: 'group', 'aria-labelledby': 'sb-csat-q' });
    e.csatText = h('textarea', { rows: '2', maxlength: '1000', 'data-testid': 'csat-comment', 'aria-label': 'Tell us more (optional)', placeholder: 'Tell us more (optional)' });
    e.csatSend = h('button', { type: 'submit', 'data-testid': 'csat-send', text: 'Send', disabled: true });
    e.csatNote = h('p', { class: 'note', role: 'status', 'data-testid': 'csat-note' });
    e.csatForm = h('form', { novalidate: true, onsubmit: submitCsat }, e.csatScale, e.csatText, e.csatSend, e.csatNote);
    e.csatThanks = h('div', { class: 'thanks', 'data-testid': 'csat-thanks' },
      h('p', { 'data-testid': 'csat-answer' }),
      h('button', { type: 'button', class: 'plain', 'data-testid': 'csat-change', text: 'Change my answer', onclick: () => {
        csatEditing = true;
        csatPick = survey ? survey.rating || 0 : 0;
        els.csatText.value = (survey && survey.comment) || '';
        render();
      } }));
    e.csat = h('div', { class: 'csat', 'data-testid': 'csat', hidden: true }, e.csatQ, e.csatForm, e.csatThanks);
    e.ended = h('div', { class: 'ended', 'data-testid': 'resolved', role: 'status', hidden: true },
      h('p', { text: 'This conversation has been resolved. Thank you for reaching out!' }), e.restart);

    // Pre-chat form: only the fields not "off"; we validate ourselves (novalidate) for clear messages.
    const field = (name, type, mode) =>
      mode && mode !== 'off'
        ? (e['p' + name] = h('input', { type, name, autocomplete: name, 'data-testid': 'prechat-' + name, 'aria-required': mode === 'required' ? 'true' : null }))
        : null;
    const nameIn = field('name', 'text', p.name);
    const emailIn = field('email', 'email', p.email);
    e.prechat = h(
      'form',
      { class: 'pre', 'data-testid': 'prechat', novalidate: true, hidden: true, onsubmit: submitPrechat },
      h('p', { text: 'Before we start, tell us who you are.' }),
      nameIn && h('label', {}, 'Name' + (p.name === 'required' ? ' *' : ''), nameIn),
      emailIn && h('label', {}, 'Email' + (p.email === 'required' ? ' *' : ''), emailIn),
      h('button', { type: 'submit', 'data-testid': 'prechat-submit', text: 'Start chat' })
    );

    e.input = h('textarea', { rows: '1', 'data-testid': 'composer', 'aria-label': 'Message', placeholder: 'Write a message…', onkeydown: composerKey, oninput: () => (composerChanged(), visitorTyping()) });
    e.file = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input', tabindex: '-1', onchange: () => {
      const files = Array.from(e.file.files || []);
      e.file.value = '';
      return sendFiles(files);
    } });
    e.send = h('button', { type: 'submit', class: 'ib send', 'data-testid': 'send', 'aria-label': 'Send', disabled: true }, icon('send'));
    e.composer = h(
      'form',
      { class: 'composer', onsubmit: (ev) => (ev.preventDefault(), sendText()) },
      h('button', { type: 'button', class: 'ib', 'data-testid': 'attach', 'aria-label': 'Attach files', onclick: () => e.file.click() }, icon('attach')),
      e.input,
      e.send,
      e.file
    );
    e.count = h('div', { class: 'count', 'aria-live': 'polite', hidden: true });

    e.panel = h(
      'div',
      { class: 'panel', 'data-testid': 'panel', role: 'dialog', 'aria-label': title, hidden: true, onkeydown: (ev) => ev.key === 'Escape' && close(true) },
      h(
        'div',
        { class: 'head' },
        avatarUrl ? h('img', { class: 'avatar', src: avatarUrl, alt: '', onerror: (ev) => ev.target.replaceWith(initial) }) : initial,
        h('div', { class: 'who' }, h('div', { class: 'title', text: title }), h('div', { class: 'sub' }, e.online, e.away)),
        e.mailBtn,
        h('button', { type: 'button', class: 'x', 'data-testid': 'close', 'aria-label': 'Close chat', onclick: () => close(true) }, icon('close'))
      ),
      e.conn,
      e.list,
      e.typing,
      e.error,
      e.mailForm,
      e.csat,
      e.ended,
      e.prechat,
      e.composer,
      e.count
    );
    e.wrap = h('div', { class: 'w' }, e.panel, e.launcher);
    root.appendChild(e.wrap);
    D.body.appendChild(host);
    setConn();
    render();
  }

  function open() {
    if (isOpen) return;
    isOpen = true;
    els.panel.hidden = false;
    els.wrap.classList.add('open');
    els.launcher.setAttribute('aria-expanded', 'true');
    els.launcher.setAttribute('aria-label', 'Close chat');
    render(true);
    const f = needPrechat() ? els.pname || els.pemail : els.input;
    if (f) f.focus();
    receipts();
  }

  function close(focusLauncher) {
    if (!isOpen) return;
    isOpen = false;
    els.panel.hidden = true;
    els.wrap.classList.remove('open');
    els.launcher.setAttribute('aria-expanded', 'false');
    els.launcher.setAttribute('aria-label', 'Open chat');
    if (focusLauncher) els.launcher.focus();
  }

  function composerKey(ev) {
    // Enter sends, Shift+Enter is a newline; leave Enter alone while an IME is composing.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendText();
    }
  }

  // Counter near the limit, send button state, textarea grows with its content.
  function composerChanged() {
    const t = els.input;
    const n = charCount(t.value);
    const max = maxChars();
    els.send.disabled = !t.value.trim() || n > max;
    els.count.hidden = n < max * 0.8;
    els.count.textContent = n + ' / ' + max;
    els.count.classList.toggle('over', n > max);
    t.style.height = 'auto';
    t.style.height = Math.min(t.scrollHeight + 2, 120) + 'px';
  }

  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  async function submitPrechat(ev) {
    ev.preventDefault();
    const p = cfg.prechat || {};
    const name = els.pname ? els.pname.value.trim() : '';
    const email = els.pemail ? els.pemail.value.trim() : '';
    let bad = null;
    if (p.name === 'required' && !name) bad = [els.pname, 'Please enter your name.'];
    else if (p.email === 'required' && !email) bad = [els.pemail, 'Please enter your email address.'];
    else if (email && !EMAIL.test(email)) bad = [els.pemail, 'Please enter a valid email address.'];
    for (const i of [els.pname, els.pemail]) if (i) i.removeAttribute('aria-invalid');
    if (bad) {
      bad[0].setAttribute('aria-invalid', 'true');
      bad[0].focus();
      return showError(bad[1]);
    }
    const body = {};
    if (name) body.name = name;
    if (email) body.email = email;
    if (name || email) {
      const btn = els.prechat.querySelector('button');
      btn.disabled = true;
      const r = await http('POST', 'identify', body, true).catch(() => null);
      btn.disabled = false;
      if (!r || !r.ok) return showError(errMsg(r, 'Could not save your details, please try again.'));
    }
    store.set('prechat', '1');
    els.error.hidden = true;
    render();
    els.input.focus();
  }

  // ---------------------------------------------------------------- satisfaction survey
  const FIVE = ['Very unhappy', 'Unhappy', 'Neutral', 'Happy', 'Very happy'];
  function renderCsat() {
    const e = els;
    // Only while the conversation is ended: a reopened one is not asked about.
    e.csat.hidden = !survey || !resolved;
    if (e.csat.hidden) return;
    const answered = survey.rating != null && !csatEditing;
    e.csatQ.textContent = answered ? 'Thank you for your feedback!' : String(survey.question || '');
    e.csatForm.hidden = answered;
    e.csatThanks.hidden = !answered;
    if (answered) {
      const r = survey.rating;
      const said = survey.scale === 'thumbs' ? (r >= 5 ? 'You gave a thumbs up' : 'You gave a thumbs down') : 'You rated ' + r + ' of 5 (' + FIVE[r - 1] + ')';
      e.csatThanks.firstChild.textContent = said + (survey.comment ? ': “' + survey.comment + '”' : '.');
      return;
    }
    const choices = survey.scale === 'thumbs' ? [[1, '👎', 'Thumbs down'], [5, '👍', 'Thumbs up']] : FIVE.map((w, i) => [i + 1, String(i + 1), (i + 1) + ' of 5: ' + w]);
    // The buttons are made once per survey (a pick only presses one, so focus stays).
    const key = survey.survey_id + ':' + survey.scale;
    if (e.csatScale.dataset.key !== key) {
      e.csatScale.dataset.key = key;
      e.csatScale.replaceChildren(...choices.map(([value, text, label]) => h('button', {
        type: 'button', class: 'rate', 'data-testid': 'csat-rate', 'data-rating': String(value),
        'aria-label': label, 'aria-pressed': 'false', text,
        onclick: () => { csatPick = value; render(); },
      })));
    }
    for (const b of e.csatScale.children) b.setAttribute('aria-pressed', String(+b.dataset.rating === csatPick));
    e.csatSend.disabled = !csatPick || !isReady || csatSending;
  }

  function submitCsat(ev) {
    ev.preventDefault();
    if (!survey || !csatPick) return;
    if (csatSending) return;
    const comment = els.csatText.value.trim();
    els.csatNote.textContent = '';
    // The words stay in the box until the hub takes the answer (a refusal keeps them).
    if (send({ type: 'csat', survey_id: survey.survey_id, rating: csatPick, comment: comment || null })) {
      csatSending = true;
      render();
    } else els.csatNote.textContent = 'Not connected; please try again in a moment.';
  }

  // ---------------------------------------------------------------- transcript
  function toggleTranscript(on) {
    const show = on === undefined ? els.mailForm.hidden : on;
    els.mailForm.hidden = !show;
    els.mailBtn.setAttribute('aria-expanded', show ? 'true' : 'false');
    if (!show) return els.mailBtn.focus();
    els.mailNote.textContent = '';
    if (!els.mailTo.value) els.mailTo.value = store.get('transcript_email') || '';
    els.mailTo.focus();
  }

  async function submitTranscript(ev) {
    ev.preventDefault();
    const email = els.mailTo.value.trim();
    els.mailTo.removeAttribute('aria-invalid');
    if (!EMAIL.test(email)) {
      els.mailTo.setAttribute('aria-invalid', 'true');
      els.mailNote.textContent = 'Please enter a valid email address.';
      return els.mailTo.focus();
    }
    const btn = els.mailForm.querySelector('[data-testid=transcript-send]');
    btn.disabled = true;
    els.mailNote.textContent = 'Sending…';
    const r = await http('POST', 'transcript', { email }, true).catch(() => null);
    btn.disabled = false;
    if (!r || !r.ok) {
      els.mailNote.textContent =
        r && r.status === 429 ? 'You asked for several copies already; please try again in an hour.' : errMsg(r, 'The email could not be sent; please try again.');
      return;
    }
    store.set('transcript_email', email);
    els.mailNote.textContent = 'Sent to ' + email + '.';
  }

  // Pre-chat form before the first message, unless all fields are off or it was done already.
  // With verification "required" the hub refuses name/email alone: the site identifies instead.
  function needPrechat() {
    const p = cfg.prechat || {};
    if ((p.name || 'off') === 'off' && (p.email || 'off') === 'off') return false;
    if (cfg.verification === 'required') return false;
    if (store.get('prechat')) return false;
    for (const m of msgs.values()) if (m.from === 'visitor') return false;
    return !readOutbox().length && !uploads.size;
  }

  function setConn() {
    if (!els) return;
    const state = isReady ? 'connected' : offline || navigator.onLine === false ? 'offline' : 'reconnecting';
    els.conn.setAttribute('data-state', state);
    els.conn.textContent =
      state === 'offline' ? 'Offline: messages will be sent when you are back online.' : gotReady ? 'Reconnecting…' : 'Connecting…';
    els.conn.hidden = state === 'connected';
  }

  // ---------------------------------------------------------------- rendering the conversation
  // The list is derived from state: the greeting, stored messages by seq, and this browser's
  // queued/uploading bubbles at the end. Failed bubbles stay where they happened (after the
  // message that was newest then). Bubbles are keyed (visitor ones by client_id, so the stored
  // message replaces its pending bubble in place) and rebuilt only when their data changed.
  const bubbles = new Map(); // key -> {sig, el}

  const topSeq = () => Math.max(0, ...Array.from(msgs.values(), (m) => m.seq || 0));

  function items() {
    const rows = []; // [sort key, time, item]
    const cids = new Set();
    for (const m of msgs.values()) {
      const from = ['visitor', 'agent', 'bot', 'system'].indexOf(m.from) >= 0 ? m.from : 'agent';
      const read = from === 'visitor' && (m.seq <= readUpTo || m.status === 'read');
      if (m.client_id) cids.add(m.client_id);
      rows.push([m.seq, 0, {
        k: m.client_id ? 'c:' + m.client_id : 'm:' + m.id,
        from,
        state: read ? 'read' : 'stored',
        seq: m.seq,
        cid: from === 'visitor' ? m.client_id : null,
        author: from === 'visitor' ? null : m.author,
        content: m.content,
        atts: m.attachments,
        meta: fmtTime(m.created_at) + (from === 'visitor' ? (read ? ' ✓✓' : ' ✓') : ''),
      }]);
    }
    const local = (key, at, cid, state, content, meta, files) =>
      cids.has(cid) || rows.push([key, at, { k: 'c:' + cid, from: 'visitor', state, cid, content, files, meta }]);
    for (const e of readOutbox()) local(Infinity, e.at, e.client_id, 'pending', e.content, 'Sending…');
    for (const u of uploads.values()) {
      if (u.error) local(u.after + 0.5, u.at, u.client_id, 'failed', u.content, 'Not sent: ' + u.error, u.files);
      else local(Infinity, u.at, u.client_id, 'pending', u.content, 'Uploading…', u.files);
    }
    for (const f of failed.values()) local(f.after + 0.5, f.at, f.client_id, 'failed', f.content, 'Not sent: ' + f.error);
    rows.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const out = rows.map((r) => r[2]);
    if (cfg.greeting) out.unshift({ k: 'g', from: 'greeting', content: String(cfg.greeting) });
    return out;
  }

  function bubble(it) {
    const el = h('div', {
      class: 'msg ' + it.from,
      'data-testid': 'message',
      'data-from': it.from,
      'data-state': it.state,
      'data-seq': it.seq,
      'data-client-id': it.cid,
    });
    if (it.author && it.from !== 'system') el.append(h('div', { class: 'author', text: it.author }));
    if (it.content) el.append(h('div', { class: 'text', text: it.content }));
    for (const a of it.atts || []) {
      const url = safeUrl(a.url);
      const thumb = safeUrl(a.thumbnail_url) || url;
      const name = String(a.file_name || 'file');
      if (!url) continue;
      if (/^image\//.test(a.content_type || '') && thumb) {
        const img = h('img', { src: thumb, alt: name, loading: 'lazy', width: a.width, height: a.height });
        img.addEventListener('load', guard(stickToBottom));
        el.append(h('a', { class: 'att', href: url, target: '_blank', rel: 'noopener noreferrer' }, img));
      } else {
        el.append(h('a', { class: 'att', href: url, target: '_blank', rel: 'noopener noreferrer' }, icon('attach'), name + ' (' + fmtSize(a.byte_size) + ')'));
      }
    }
    for (const f of it.files || []) el.append(h('div', { class: 'att' }, icon('attach'), f.file_name + ' (' + fmtSize(f.byte_size) + ')'));
    if (it.meta) el.append(h('div', { class: 'meta', text: it.meta }));
    return el;
  }

  let atBottom = true;
  function stickToBottom() {
    if (atBottom) els.list.scrollTop = els.list.scrollHeight;
  }

  function render(scroll) {
    if (!els) return;
    const list = els.list;
    atBottom = scroll || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    const keep = new Set();
    let i = 0;
    for (const it of items()) {
      const sig = JSON.stringify(it);
      let b = bubbles.get(it.k);
      if (!b || b.sig !== sig) {
        if (b) b.el.remove();
        b = { sig, el: bubble(it) };
        bubbles.set(it.k, b);
      }
      keep.add(it.k);
      const at = list.children[i];
      if (at !== b.el) list.insertBefore(b.el, at || null);
      i++;
    }
    while (list.children.length > i) list.lastChild.remove();
    for (const k of bubbles.keys()) if (!keep.has(k)) bubbles.delete(k);
    stickToBottom();

    // Header presence, pre-chat vs composer, unread badge.
    const on = cfg.agents_online !== false;
    els.online.hidden = !on;
    els.away.hidden = on;
    const pre = needPrechat();
    els.prechat.hidden = !pre;
    renderCsat();
    els.ended.hidden = !resolved;
    els.mailBtn.hidden = !cfg.transcript || (!convId && !msgs.size);
    els.restart.disabled = starting;
    els.composer.hidden = pre || resolved;
    const seen = seenSeq();
    let unread = 0;
    for (const m of msgs.values()) if (m.from !== 'visitor' && m.from !== 'system' && m.seq > seen) unread++;
    els.badge.hidden = isOpen || !unread;
    els.badge.textContent = unread > 9 ? '9+' : String(unread);
  }

  // ---------------------------------------------------------------- commands
  function run([cmd, arg]) {
    if (cmd === 'open') return open();
    if (cmd === 'close') return close(false);
    if (cmd === 'identify') return identify(arg);
    if (cmd === 'simulateOffline') return simulateOffline(!!arg);
    if (cmd === 'reset') return resetVisitor(), reconnectNow(); // the site's logout
    warn('unknown command', cmd);
  }

  // ---------------------------------------------------------------- start
  async function boot() {
    migrateOutbox();
    // Config and session; 4xx (unknown key, origin not allowed) stops here, network/5xx retries
    // (429/503 are retried inside http()).
    for (let delay = 1000; ; delay = Math.min(delay * 2, 30000)) {
      let status = 0;
      try {
        const r = await http('GET', 'config');
        status = r.status;
        if (r.status === 404) return warn('unknown or disabled widget key "' + KEY + '"');
        if (!r.ok || !r.body) throw new Error('config: ' + errMsg(r, 'HTTP ' + r.status));
        cfg = r.body;
        await session();
        break;
      } catch (e) {
        status = e.status || status;
        if (status >= 400 && status < 500) return warn(e.message);
        warn(e.message, '- retrying');
        await sleep(delay);
      }
    }
    if (!D.body) await new Promise((ok) => D.addEventListener('DOMContentLoaded', ok));
    build();

    visited = notePage();
    // A single-page site moves between pages without loading this script again.
    W.addEventListener('popstate', guard(pageChanged));
    W.addEventListener('hashchange', guard(pageChanged));
    // history.pushState tells nobody: look at the address every 2 s (cheap, and the host
    // page's own history functions stay untouched).
    let lastAddress = pageAddress(location.href);
    setInterval(guard(() => {
      const now = pageAddress(location.href);
      if (now !== lastAddress) { lastAddress = now; pageChanged(); }
    }), 2000);
    W.addEventListener('online', guard(reconnectNow));
    W.addEventListener('offline', guard(setConn));
    D.addEventListener('visibilitychange', guard(() => visible() && (reconnectNow(), receipts())));
    // Another tab changed the queue (ack, new message), the pre-chat state, what was seen, or the
    // token (it got a new session: this tab follows it). key null: localStorage was cleared.
    W.addEventListener('storage', guard((ev) => {
      if (ev.key != null && ev.key.indexOf(skey('')) !== 0) return;
      if (ev.key == null || ev.key.indexOf(skey(OUT)) === 0) outbox = null;
      if (ev.key === skey('outbox') && ev.newValue) migrateOutbox(); // a tab still on the old script
      if (ev.key === skey('token')) adoptToken();
      render();
    }));

    // Commands queued so far (identify before connecting, so the first socket is the right one).
    booted = true;
    while (early.length) {
      try {
        await run(early.shift());
      } catch (e) {
        warn(e);
      }
    }
    connect();
    api.ready = true;
    W.dispatchEvent(new Event('switchboard:ready'));
  }

  boot().catch(warn);
})();
