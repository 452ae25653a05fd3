// Switchboard web app: the agent's profile and the admin pages (inboxes, agents, teams, canned
// responses, audit log). Everything is built with SB.h and text nodes: user content, secrets
// and snippets never go through innerHTML. Every call goes through SB.api (CSRF, errors).
(function () {
  'use strict';
  if (!window.SB) return;
  var SB = window.SB;
  var h = SB.h;

  // ---- Small helpers -------------------------------------------------------------------------

  function enc(id) { return encodeURIComponent(String(id)); }
  function isAdmin() { return !!(SB.me && SB.me.role === 'admin'); }
  function alive(main) { return document.body.contains(main); }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  var uid = 0;
  function nextId(prefix) { uid += 1; return prefix + '-' + uid; }

  // Every page of a list (`{data, next_cursor}`), for the short lists admins pick from.
  function fetchAll(path) {
    var out = [];
    var sep = path.indexOf('?') === -1 ? '?' : '&';
    function page(cursor) {
      var url = path + sep + 'limit=200' + (cursor ? '&cursor=' + enc(cursor) : '');
      return SB.api('GET', url).then(function (res) {
        out = out.concat((res && res.data) || []);
        if (res && res.next_cursor && out.length < 5000) return page(res.next_cursor);
        return out;
      });
    }
    return page(null);
  }

  function link(href, label, attrs) {
    var a = attrs || {};
    a.href = href;
    a.onclick = function (e) {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
      e.preventDefault();
      SB.navigate(href);
    };
    return h('a', a, label);
  }

  // Runs `work()` (a promise) with the button disabled, so a double click sends once.
  function busy(button, work) {
    if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
    var done = function () {
      if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
    };
    var p;
    try { p = Promise.resolve(work()); } catch (e) { p = Promise.reject(e); }
    return p.then(function (v) { done(); return v; }, function (e) { done(); throw e; });
  }

  // An error line next to a form (role=alert: read out when it changes).
  function alertBox(testid) {
    return h('p', { class: 'error', role: 'alert', 'data-testid': testid || null });
  }

  // Shows an API error in `box`; a 422 names its field ("settings.callback_url: ..."), which
  // is then marked invalid and focused when the form has a control with that data-field.
  function showError(box, error, form) {
    var message = error && error.message ? error.message : String(error);
    if (box) box.textContent = message; else SB.fail(error);
    if (!form) return;
    each(form.querySelectorAll('[aria-invalid]'), function (el) { el.removeAttribute('aria-invalid'); });
    var m = /^([A-Za-z_][\w.[\]]*): /.exec(message);
    if (m && error && error.status === 422) {
      var target = form.querySelector('[data-field="' + m[1] + '"]');
      if (target) { target.setAttribute('aria-invalid', 'true'); target.focus(); }
    }
  }

  function clearError(box, form) {
    if (box) box.textContent = '';
    if (form) each(form.querySelectorAll('[aria-invalid]'), function (el) { el.removeAttribute('aria-invalid'); });
  }

  // A labelled form row: <div class=form-row><label for=id>…</label>control<p hint></div>.
  function formRow(labelText, control, hint) {
    if (!control.id) control.id = nextId('f');
    var hintEl = null;
    if (hint) {
      hintEl = h('p', { class: 'muted hint', id: control.id + '-hint' }, hint);
      var described = control.getAttribute('aria-describedby');
      control.setAttribute('aria-describedby', (described ? described + ' ' : '') + hintEl.id);
    }
    return h('div', { class: 'form-row' }, h('label', { for: control.id }, labelText), control, hintEl);
  }

  // <select> with options [[value, label]]; the value is set after the options exist.
  function select(attrs, options, value) {
    var el = h('select', attrs, options.map(function (o) { return h('option', { value: o[0] }, o[1]); }));
    if (value !== undefined && value !== null) el.value = value;
    return el;
  }

  function checkboxRow(labelText, input, hint) {
    if (!input.id) input.id = nextId('c');
    var hintEl = hint ? h('p', { class: 'muted hint', id: input.id + '-hint' }, hint) : null;
    if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
    return h('div', { class: 'form-row checkbox' }, input, ' ', h('label', { for: input.id }, labelText), hintEl);
  }

  // Copies the text of `source` (clipboard API when available, else a selection + execCommand).
  function copyButton(source, what) {
    var button = h('button', {
      type: 'button', class: 'copy', 'aria-label': 'Copy ' + (what || 'to the clipboard'),
      onclick: function () {
        var text = source.textContent;
        var ok = function () {
          button.textContent = 'Copied';
          SB.toast('Copied to the clipboard.');
          setTimeout(function () { button.textContent = 'Copy'; }, 2000);
        };
        var fallback = function () {
          try {
            var range = document.createRange();
            range.selectNodeContents(source);
            var sel = window.getSelection();
            sel.removeAllRanges();
            sel.addRange(range);
            if (document.execCommand && document.execCommand('copy')) ok();
            else SB.toast('Selected: press Ctrl+C (⌘C) to copy.');
          } catch (e) { SB.toast('Select the text and copy it.'); }
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(ok, fallback);
        } else {
          fallback();
        }
      }
    }, 'Copy');
    return button;
  }

  // A value shown once (secret, token, password): code in a .secret box, a copy button, a note.
  function secretBox(labelText, value, testid, note) {
    var code = h('code', { class: 'secret', 'data-testid': testid }, value);
    var labelId = nextId('s');
    return h('div', { class: 'secret-box', role: 'group', 'aria-labelledby': labelId },
      h('p', { class: 'label', id: labelId }, labelText),
      h('p', { class: 'secret-value' }, code, ' ', copyButton(code, labelText.toLowerCase())),
      note ? h('p', { class: 'muted note' }, note) : null);
  }

  // A <pre> block to copy (the widget's embed snippet).
  function snippetBox(labelText, text, testid, note) {
    var pre = h('pre', { class: 'secret snippet', 'data-testid': testid, tabindex: '0' });
    pre.textContent = text;
    var labelId = nextId('p');
    pre.setAttribute('aria-labelledby', labelId);
    return h('div', { class: 'snippet-box' },
      h('p', { class: 'label', id: labelId }, labelText),
      pre,
      h('p', {}, copyButton(pre, 'the snippet')),
      note ? h('p', { class: 'muted note' }, note) : null);
  }

  function table(caption, headers) {
    var tbody = h('tbody');
    var t = h('table', { class: 'grid' },
      caption ? h('caption', { class: 'muted' }, caption) : null,
      h('thead', {}, h('tr', {}, headers.map(function (label) { return h('th', { scope: 'col' }, label); }))),
      tbody);
    return { table: t, tbody: tbody };
  }

  function timeEl(iso) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    var full = iso;
    try { full = new Date(iso).toLocaleString(); } catch (e) { /* keep the ISO text */ }
    return h('time', { datetime: iso, title: full }, SB.fmtTime(iso));
  }

  function badge(text, kind) { return h('span', { class: 'badge' + (kind ? ' ' + kind : '') }, text); }

  function yes(message) { return window.confirm(message); }

  // An expandable detail row under `tr` (edit forms, members); toggled by its button.
  function detailToggle(tr, colspan, label, build) {
    var detail = null;
    var button = h('button', { type: 'button', 'aria-expanded': 'false' }, label);
    button.addEventListener('click', function () {
      if (detail) {
        detail.parentNode.removeChild(detail);
        detail = null;
        button.setAttribute('aria-expanded', 'false');
        return;
      }
      var cell = h('td', { colspan: String(colspan) });
      detail = h('tr', { class: 'detail' }, cell);
      if (!cell.id) cell.id = nextId('d');
      button.setAttribute('aria-controls', cell.id);
      tr.parentNode.insertBefore(detail, tr.nextSibling);
      button.setAttribute('aria-expanded', 'true');
      build(cell, function close() {
        if (detail && detail.parentNode) detail.parentNode.removeChild(detail);
        detail = null;
        button.setAttribute('aria-expanded', 'false');
        button.focus();
      });
      var first = cell.querySelector('input, select, textarea, button');
      if (first) first.focus();
    });
    return button;
  }

  // ---- Page frame and the admin sub-navigation ---------------------------------------------------

  var SECTIONS = [
    ['/admin/inboxes', 'Inboxes', true],
    ['/admin/agents', 'Agents', true],
    ['/admin/teams', 'Teams', true],
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
  function adminPage(main, title, intro) {
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

  function loading(el) { SB.clear(el).appendChild(h('p', { class: 'muted', role: 'status' }, 'Loading…')); }

  // ---- Profile ---------------------------------------------------------------------------------

  SB.route('/profile', function (main) {
    var me = SB.me || {};
    document.title = 'Profile · Switchboard';
    var page = h('div', { class: 'page profile' });
    main.appendChild(page);
    page.appendChild(h('h1', {}, 'Your profile'));

    page.appendChild(h('section', { class: 'card', 'aria-labelledby': 'profile-account' },
      h('h2', { id: 'profile-account' }, 'Account'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Name'), h('dd', { 'data-testid': 'profile-name' }, me.name || ''),
        h('dt', {}, 'Email'), h('dd', { 'data-testid': 'profile-email' }, me.email || ''),
        h('dt', {}, 'Role'), h('dd', { 'data-testid': 'profile-role' }, me.role === 'admin' ? 'Admin' : 'Agent'),
        h('dt', {}, 'Capacity'), h('dd', {}, me.capacity === null || me.capacity === undefined
          ? 'No limit' : String(me.capacity) + ' open conversations')),
      h('p', {}, link('/admin/canned', 'Manage canned responses'),
        isAdmin() ? [' · ', link('/admin/inboxes', 'Admin settings')] : null)));

    page.appendChild(passwordSection());
    page.appendChild(tokensSection(main));
  });

  function passwordSection() {
    var current = h('input', {
      type: 'password', id: 'profile-password-current', autocomplete: 'current-password', required: true,
      'data-testid': 'profile-password-current', 'data-field': 'current_password'
    });
    var fresh = h('input', {
      type: 'password', id: 'profile-password-new', autocomplete: 'new-password', required: true,
      minlength: '10', maxlength: '1024', 'data-testid': 'profile-password-new', 'data-field': 'new_password'
    });
    var submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'profile-password-submit' }, 'Change password');
    var error = alertBox('profile-password-error');
    var done = h('p', { class: 'success', role: 'status', 'data-testid': 'profile-password-done' });
    var form = h('form', { novalidate: true, 'aria-labelledby': 'profile-password' },
      formRow('Current password', current),
      formRow('New password', fresh, 'At least 10 characters.'),
      error,
      h('div', { class: 'form-row' }, submit),
      done);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      done.textContent = '';
      if (!current.value) { showError(error, { message: 'Enter your current password.' }); current.focus(); return; }
      if (fresh.value.length < 10) { showError(error, { message: 'The new password needs at least 10 characters.' }); fresh.focus(); return; }
      busy(submit, function () {
        return SB.api('PUT', '/api/v1/me/password', { current_password: current.value, new_password: fresh.value });
      }).then(function () {
        current.value = '';
        fresh.value = '';
        done.textContent = 'Password changed. Your other sessions were signed out and all your personal API tokens were revoked.';
        var tokens = document.querySelector('[data-testid=token-list]');
        if (tokens && tokens.reload) tokens.reload();
      }, function (err) { showError(error, err, form); });
    });
    return h('section', { class: 'card', 'aria-labelledby': 'profile-password' },
      h('h2', { id: 'profile-password' }, 'Change password'),
      h('p', { class: 'muted' }, 'Changing your password signs you out everywhere else and revokes all your API tokens.'),
      form);
  }

  function tokensSection(main) {
    var listError = alertBox('token-list-error');
    var t = table(null, ['Name', 'Starts with', 'Created', 'Last used', 'Actions']);
    var empty = h('p', { class: 'empty', hidden: true }, 'You have no API tokens.');
    var holder = h('div', { 'data-testid': 'token-list' }, t.table, empty);

    function row(token) {
      var revoke = h('button', { type: 'button', class: 'danger', 'data-testid': 'token-revoke' }, 'Revoke');
      var tr = h('tr', { 'data-testid': 'token-row', 'data-id': token.id },
        h('td', {}, token.name),
        h('td', {}, h('code', {}, (token.prefix || '') + '…')),
        h('td', {}, timeEl(token.created_at)),
        h('td', {}, token.last_used_at ? timeEl(token.last_used_at) : h('span', { class: 'muted' }, 'Never')),
        h('td', { class: 'row-actions' }, revoke));
      revoke.setAttribute('aria-label', 'Revoke token ' + token.name);
      revoke.addEventListener('click', function () {
        if (!yes('Revoke the token "' + token.name + '"? Scripts using it stop working at once.')) return;
        clearError(listError);
        busy(revoke, function () { return SB.api('DELETE', '/api/v1/me/tokens/' + enc(token.id)); })
          .then(function () { SB.toast('Token revoked.'); load(); }, function (err) { showError(listError, err); });
      });
      return tr;
    }

    function load() {
      return SB.api('GET', '/api/v1/me/tokens').then(function (res) {
        if (!alive(main)) return;
        var tokens = (res && res.data) || [];
        SB.clear(t.tbody);
        tokens.forEach(function (tok) { t.tbody.appendChild(row(tok)); });
        t.table.hidden = tokens.length === 0;
        empty.hidden = tokens.length !== 0;
      }, function (err) { showError(listError, err); });
    }
    holder.reload = load;

    var name = h('input', { type: 'text', id: 'token-name', maxlength: '100', required: true, 'data-testid': 'token-name', 'data-field': 'name', autocomplete: 'off' });
    var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'token-create' }, 'Create token');
    var error = alertBox('token-error');
    var result = h('div', { class: 'token-result', 'aria-live': 'polite' });
    var form = h('form', { novalidate: true, 'aria-label': 'New API token' },
      formRow('Token name', name, 'What the token is for, e.g. "Reporting script".'),
      error,
      h('div', { class: 'form-row' }, create));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      if (!name.value.trim()) { showError(error, { message: 'Give the token a name.' }); name.focus(); return; }
      busy(create, function () { return SB.api('POST', '/api/v1/me/tokens', { name: name.value.trim() }); })
        .then(function (tok) {
          name.value = '';
          SB.clear(result).appendChild(secretBox('Your new token "' + tok.name + '"', tok.token, 'token-value',
            'Copy it now: it is shown only once. Send it as "Authorization: Bearer <token>". ' +
            'If you lose it, revoke it and create another.'));
          load();
        }, function (err) { showError(error, err, form); });
    });

    load();
    return h('section', { class: 'card', 'aria-labelledby': 'profile-tokens' },
      h('h2', { id: 'profile-tokens' }, 'Personal API tokens'),
      h('p', { class: 'muted' }, 'Scripts use tokens instead of your password. A token acts as you, with your role. At most 50 per agent.'),
      listError, holder,
      h('h3', {}, 'New token'), form, result);
  }

  // ---- Inboxes ---------------------------------------------------------------------------------

  var ASK = [['off', 'Off'], ['optional', 'Optional'], ['required', 'Required']];

  // The settings of each channel type an admin can create (see src/telegram.rs, src/widget/mod.rs).
  var CHANNELS = {
    api: {
      label: 'API (HMAC-signed webhooks)',
      short: 'API',
      fields: [
        { key: 'callback_url', label: 'Callback URL', kind: 'url', nullable: true, placeholder: 'https://shop.example/hook',
          hint: 'Where the hub POSTs agents\' replies, signed like inbound requests. Empty: replies are not sent anywhere.' }
      ],
      steps: [
        'Give your integration the webhook URL and the secret below.',
        'Sign every request body with HMAC-SHA256 using the secret and send the hex digest as "X-Switchboard-Signature: sha256=<digest>".',
        'POST message events to the webhook URL, delivery statuses to the webhook URL followed by /status.',
        'Set a callback URL to receive agents\' replies; verify their signature with the same secret.',
        'Add agents as members so they see the inbox\'s conversations.'
      ]
    },
    telegram: {
      label: 'Telegram bot',
      short: 'Telegram',
      fields: [
        { key: 'bot_token', label: 'Bot token', kind: 'secret', required: true, placeholder: '123456789:AAE…',
          hint: 'From @BotFather. The hub checks it with Telegram before saving.' },
        { key: 'mode', label: 'How updates arrive', kind: 'select', options: [
          ['', 'Automatic (webhook when this hub\'s public URL is https, else polling)'],
          ['webhook', 'Webhook (needs a public https URL Telegram can reach)'],
          ['polling', 'Polling (works behind a firewall or on a laptop)']] },
        { key: 'groups', label: 'Group chats', kind: 'select', options: [
          ['ignore', 'Ignore messages in groups'], ['conversation', 'One conversation per group']], fallback: 'ignore' },
        { key: 'api_url', label: 'Bot API URL', kind: 'url', nullable: true, placeholder: 'https://api.telegram.org',
          hint: 'Leave empty for Telegram\'s own Bot API; set it for a local Bot API server.' }
      ],
      steps: [
        'In Telegram, talk to @BotFather, send /newbot and copy the token it gives you.',
        'Paste the token here. The hub checks it with Telegram (getMe) and connects the bot.',
        'Webhook mode needs this hub at a public https URL that Telegram can reach; otherwise choose polling.',
        'Choose whether group chats become conversations or are ignored.',
        'Add agents as members so they see the inbox\'s conversations.'
      ]
    },
    widget: {
      label: 'Web chat widget',
      short: 'Widget',
      fields: [
        { key: 'allowed_origins', label: 'Allowed origins (one per line)', kind: 'origins', required: true,
          placeholder: 'https://shop.example', hint: 'The sites whose pages may show the widget, like https://shop.example; * allows any site.' },
        { key: 'title', label: 'Title', kind: 'text', maxlength: 80, hint: 'Shown at the top of the chat panel. Empty: the inbox name.' },
        { key: 'greeting', label: 'Greeting', kind: 'textarea', maxlength: 500, placeholder: 'Hi! How can we help you today?' },
        { key: 'colour', label: 'Colour', kind: 'colour', placeholder: '#1f6feb', hint: 'A colour like #1f6feb.' },
        { key: 'position', label: 'Position', kind: 'select', options: [['right', 'Bottom right'], ['left', 'Bottom left']], fallback: 'right' },
        { key: 'avatar_url', label: 'Avatar URL', kind: 'url', nullable: true, hint: 'Optional picture shown in the chat header.' },
        { key: 'prechat_name', label: 'Ask for the visitor\'s name before the chat', kind: 'select', options: ASK, fallback: 'off' },
        { key: 'prechat_email', label: 'Ask for the visitor\'s email before the chat', kind: 'select', options: ASK, fallback: 'off' },
        { key: 'away_message', label: 'Away message', kind: 'textarea', maxlength: 500,
          placeholder: 'We\'re away right now. Leave a message and we\'ll answer as soon as we can.',
          hint: 'Shown while no agent of this inbox is online.' },
        { key: 'verification', label: 'Identity verification', kind: 'select', options: [
          ['off', 'Off'], ['optional', 'Optional: verify when the site sends a hash'], ['required', 'Required: refuse identify without a valid hash']],
          fallback: 'optional', hint: 'identifier_hash = hex HMAC-SHA256(inbox secret, identifier), computed on your server.' }
      ],
      steps: [
        'Add your website\'s origin (like https://shop.example) to the allowed origins; pages of other origins get no widget.',
        'Paste the embed snippet into every page that should show the chat, just before </body>.',
        'Optional: to recognise signed-in users, call Switchboard(\'identify\', {identifier, email, name, identifier_hash}) with identifier_hash computed on your server from the secret.',
        'Add agents as members so they see the inbox\'s conversations and visitors see them online.'
      ]
    }
  };
  var COMMON_FIELDS = [
    { key: 'reopen_resolved', label: 'A new message reopens a resolved conversation', kind: 'checkbox', fallback: true,
      hint: 'Unchecked: a customer writing after a conversation was resolved starts a new one.' }
  ];

  function channelLabel(type) { return CHANNELS[type] ? CHANNELS[type].short : type; }

  function stepsBox(type) {
    var spec = CHANNELS[type];
    if (!spec) return null;
    return h('div', { class: 'setup-steps', 'data-testid': 'inbox-steps' },
      h('h3', {}, 'Setup'),
      h('ol', {}, spec.steps.map(function (s) { return h('li', {}, s); })));
  }

  // The settings controls of one channel type. `current` is the inbox's settings (edit) or null
  // (create). `collect()` gives the settings to POST (create) or only the changes to PATCH (edit).
  function settingsFieldset(type, current) {
    var editing = !!current;
    var cur = current || {};
    var spec = CHANNELS[type];
    var fields = (spec ? spec.fields : []).concat(COMMON_FIELDS);
    var controls = [];
    var rows = fields.map(function (f) {
      var id = 'setting-' + f.key;
      var attrs = { id: id, name: f.key, 'data-field': 'settings.' + f.key, 'data-testid': id };
      var el;
      var hint = f.hint || null;
      if (f.kind === 'select') {
        var opts = f.options;
        var value = cur[f.key] !== undefined && cur[f.key] !== null ? String(cur[f.key]) : (f.fallback || '');
        if (editing) opts = opts.filter(function (o) { return o[0] !== '' || !cur[f.key]; });
        el = select(attrs, opts, value);
      } else if (f.kind === 'checkbox') {
        attrs.type = 'checkbox';
        el = h('input', attrs);
        el.checked = cur[f.key] === undefined || cur[f.key] === null ? !!f.fallback : cur[f.key] === true;
      } else if (f.kind === 'textarea' || f.kind === 'origins') {
        attrs.rows = f.kind === 'origins' ? '3' : '2';
        if (f.maxlength) attrs.maxlength = String(f.maxlength);
        if (f.placeholder) attrs.placeholder = f.placeholder;
        if (f.required && !editing) attrs.required = true;
        if (f.kind === 'origins') { attrs.spellcheck = 'false'; attrs.autocapitalize = 'none'; }
        el = h('textarea', attrs);
        var v = cur[f.key];
        el.value = Array.isArray(v) ? v.join('\n') : (v === undefined || v === null ? '' : String(v));
      } else {
        attrs.type = f.kind === 'url' ? 'url' : 'text';
        attrs.autocomplete = 'off';
        attrs.spellcheck = 'false';
        if (f.maxlength) attrs.maxlength = String(f.maxlength);
        if (f.kind === 'secret') {
          attrs.placeholder = editing && cur[f.key] ? String(cur[f.key]) : (f.placeholder || null);
          if (!editing && f.required) attrs.required = true;
          if (editing) hint = 'Now ' + (cur[f.key] ? String(cur[f.key]) : 'not set') +
            '. Leave empty to keep it; a new token connects that bot instead (and rotates the secret if it is another bot).';
        } else {
          if (f.placeholder) attrs.placeholder = f.placeholder;
          if (f.required && !editing) attrs.required = true;
        }
        el = h('input', attrs);
        if (f.kind !== 'secret') el.value = cur[f.key] === undefined || cur[f.key] === null ? '' : String(cur[f.key]);
        if (f.kind === 'colour' && editing) hint = 'A colour like #1f6feb. It cannot be emptied; type another colour to change it.';
      }
      controls.push({ field: f, el: el });
      var label = f.label + (f.required && !editing ? ' (required)' : '');
      return f.kind === 'checkbox' ? checkboxRow(label, el, hint) : formRow(label, el, hint);
    });

    function read(c) {
      var f = c.field;
      if (f.kind === 'checkbox') return c.el.checked;
      if (f.kind === 'origins') {
        return c.el.value.split(/\r?\n|,/).map(function (s) { return s.trim(); }).filter(Boolean);
      }
      return c.el.value.trim();
    }

    function collect() {
      var out = {};
      controls.forEach(function (c) {
        var f = c.field;
        var value = read(c);
        var before = cur[f.key];
        if (!editing) {
          if (f.kind === 'checkbox') { if (value !== !!f.fallback) out[f.key] = value; return; }
          if (f.kind === 'origins') { if (value.length) out[f.key] = value; return; }
          if (value !== '') out[f.key] = value;
          return;
        }
        if (f.kind === 'secret') { if (value !== '') out[f.key] = value; return; }
        if (f.kind === 'checkbox') {
          var was = before === undefined || before === null ? !!f.fallback : before === true;
          if (value !== was) out[f.key] = value;
          return;
        }
        if (f.kind === 'origins') {
          var old = Array.isArray(before) ? before.join('\n') : '';
          if (value.join('\n') !== old) out[f.key] = value;
          return;
        }
        var previous = before === undefined || before === null ? '' : String(before);
        if (f.kind === 'select') {
          if (value !== '' && value !== previous && !(previous === '' && value === (f.fallback || ''))) out[f.key] = value;
          return;
        }
        if (value === previous) return;
        if (value === '') {
          if (f.nullable) out[f.key] = null;
          else if (f.kind !== 'colour') out[f.key] = '';
          return;
        }
        out[f.key] = value;
      });
      return out;
    }

    var fieldset = h('fieldset', { class: 'settings', 'data-channel': type },
      h('legend', {}, (spec ? spec.short : type) + ' settings'), rows);
    return { el: fieldset, collect: collect };
  }

  // The connection facts of an inbox: webhook URL, secret (full right after create/rotate),
  // embed snippet for widgets.
  function connectionBox(inbox, fresh) {
    var urlCode = h('code', { 'data-testid': 'inbox-webhook-url' }, inbox.webhook_url || '');
    var parts = [
      h('div', { class: 'form-row' },
        h('p', { class: 'label' }, 'Webhook URL'),
        h('p', {}, urlCode, ' ', copyButton(urlCode, 'the webhook URL')),
        inbox.channel_type === 'widget'
          ? h('p', { class: 'muted' }, 'Widget visitors connect through the embed snippet; this URL is not needed for it.')
          : inbox.channel_type === 'telegram'
            ? h('p', { class: 'muted' }, 'In webhook mode the hub registers this URL with Telegram itself.')
            : h('p', { class: 'muted' }, 'Your integration POSTs signed events here.'))
    ];
    if (inbox.secret) {
      parts.push(fresh
        ? secretBox('Secret', inbox.secret, 'inbox-secret',
          'Copy it now: it is shown only once. Later views show it masked; rotate it to get a new one.')
        : h('div', { class: 'form-row' },
          h('p', { class: 'label' }, 'Secret'),
          h('p', {}, h('code', { class: 'secret', 'data-testid': 'inbox-secret' }, inbox.secret)),
          h('p', { class: 'muted' }, 'Shown masked. Rotate it to see a new one (the old one stops working).')));
    }
    if (inbox.embed) {
      parts.push(snippetBox('Embed snippet', inbox.embed, 'inbox-embed',
        'Paste this into your site\'s pages, just before </body>. It is also shown on this inbox\'s page.'));
    }
    return h('div', { class: 'connection' }, parts);
  }

  function inboxesPage(main, focusForm) {
    var p = adminPage(main, 'Inboxes', 'Each inbox is one channel: an integration, a Telegram bot or a chat widget on your site.');
    var newButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'inbox-new' }, 'New inbox');
    var t = table(null, ['Name', 'Channel', 'Status', 'Webhook URL']);
    var empty = h('p', { class: 'empty', hidden: true }, 'No inboxes yet. Create the first one below.');
    var more = h('button', { type: 'button', hidden: true, 'data-testid': 'inbox-more' }, 'Load more');
    var cursor = null;
    p.body.appendChild(h('p', { class: 'row-actions' }, newButton));
    p.body.appendChild(h('section', { 'aria-label': 'Inbox list' }, t.table, empty, more));

    function addRows(list) {
      list.forEach(function (inbox) {
        var href = '/admin/inboxes/' + enc(inbox.id);
        t.tbody.appendChild(h('tr', { 'data-testid': 'inbox-row', 'data-id': inbox.id },
          h('td', {}, link(href, inbox.name)),
          h('td', {}, channelLabel(inbox.channel_type)),
          h('td', {}, inbox.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off')),
          h('td', {}, h('code', { class: 'url' }, inbox.webhook_url || ''))));
      });
    }
    function load(reset) {
      var url = '/api/v1/inboxes?limit=100' + (!reset && cursor ? '&cursor=' + enc(cursor) : '');
      return SB.api('GET', url).then(function (res) {
        if (!alive(main)) return;
        if (reset) SB.clear(t.tbody);
        addRows(res.data || []);
        cursor = res.next_cursor || null;
        more.hidden = !cursor;
        var count = t.tbody.childNodes.length;
        t.table.hidden = count === 0;
        empty.hidden = count !== 0;
      }, function (err) { showError(p.alert, err); });
    }
    more.addEventListener('click', function () { busy(more, function () { return load(false); }); });

    // The create form.
    var name = h('input', { type: 'text', id: 'inbox-name', required: true, maxlength: '100', 'data-testid': 'inbox-name', 'data-field': 'name', autocomplete: 'off' });
    var type = select({ id: 'inbox-type', 'data-testid': 'inbox-type', 'data-field': 'channel_type' },
      Object.keys(CHANNELS).map(function (k) { return [k, CHANNELS[k].label]; }), 'api');
    var settingsHolder = h('div', { class: 'settings-holder' });
    var stepsHolder = h('div', {});
    var fieldset = null;
    function showType() {
      fieldset = settingsFieldset(type.value, null);
      SB.clear(settingsHolder).appendChild(fieldset.el);
      SB.clear(stepsHolder);
      var steps = stepsBox(type.value);
      if (steps) stepsHolder.appendChild(steps);
    }
    type.addEventListener('change', showType);
    showType();
    var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'inbox-create' }, 'Create inbox');
    var error = alertBox('inbox-error');
    var result = h('div', { class: 'inbox-result', 'aria-live': 'polite' });
    var form = h('form', { novalidate: true, 'aria-labelledby': 'inbox-new-title' },
      formRow('Name', name, 'What agents see, e.g. "Shop support".'),
      formRow('Channel type', type),
      settingsHolder,
      error,
      h('div', { class: 'form-row' }, create));
    var section = h('section', { class: 'card', id: 'new-inbox' },
      h('h2', { id: 'inbox-new-title' }, 'New inbox'), stepsHolder, form, result);
    p.body.appendChild(section);

    newButton.addEventListener('click', function () {
      if (section.scrollIntoView) section.scrollIntoView({ block: 'start' });
      name.focus();
    });

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      if (!name.value.trim()) { showError(error, { message: 'Give the inbox a name.' }); name.focus(); return; }
      var settings = fieldset.collect();
      if (type.value === 'telegram' && !settings.bot_token) {
        showError(error, { status: 422, message: 'settings.bot_token: is required (ask @BotFather for one)' }, form);
        return;
      }
      if (type.value === 'widget' && !(settings.allowed_origins && settings.allowed_origins.length)) {
        showError(error, { status: 422, message: 'settings.allowed_origins: add at least one origin, like https://shop.example' }, form);
        return;
      }
      var body = { name: name.value.trim(), channel_type: type.value, settings: settings };
      busy(create, function () { return SB.api('POST', '/api/v1/inboxes', body); }).then(function (inbox) {
        if (!alive(main)) return;
        name.value = '';
        showType();
        SB.clear(result).appendChild(h('div', { class: 'card created', 'data-testid': 'inbox-created', 'data-id': inbox.id },
          h('h3', { tabindex: '-1' }, 'Inbox "' + inbox.name + '" created'),
          connectionBox(inbox, true),
          stepsBox(inbox.channel_type),
          h('p', {}, link('/admin/inboxes/' + enc(inbox.id), 'Open the inbox to add members and change settings'))));
        var heading = result.querySelector('h3');
        if (heading) heading.focus();
        load(true);
      }, function (err) { showError(error, err, form); });
    });

    load(true);
    if (focusForm) name.focus();
  }

  SB.route('/admin', function () {
    SB.navigate(isAdmin() ? '/admin/inboxes' : '/admin/canned', true);
  });
  SB.route('/admin/inboxes', function (main) { inboxesPage(main, false); }, { admin: true });
  SB.route('/admin/inboxes/new', function (main) { inboxesPage(main, true); }, { admin: true });

  SB.route('/admin/inboxes/:id', function (main, params) {
    var id = params.id;
    var p = adminPage(main, 'Inbox');
    loading(p.body);

    function load() {
      return Promise.all([
        SB.api('GET', '/api/v1/inboxes/' + enc(id)),
        SB.api('GET', '/api/v1/inboxes/' + enc(id) + '/members'),
        fetchAll('/api/v1/agents')
      ]).then(function (r) {
        if (!alive(main)) return;
        render(r[0], (r[1] && r[1].data) || [], r[2]);
      }, function (err) {
        if (!alive(main)) return;
        SB.clear(p.body);
        showError(p.alert, err);
        p.body.appendChild(h('p', {}, link('/admin/inboxes', 'Back to the inboxes')));
      });
    }

    function render(inbox, members, agents) {
      SB.clear(p.body);
      p.alert.textContent = '';
      p.heading.textContent = inbox.name;
      document.title = inbox.name + ' · Inboxes · Switchboard';
      var settings = inbox.settings || {};

      // Summary and status.
      var enabled = h('input', { type: 'checkbox', id: 'inbox-enabled', 'data-testid': 'inbox-enabled' });
      enabled.checked = !!inbox.enabled;
      var statusBadge = inbox.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off');
      var enabledError = alertBox('inbox-enabled-error');
      enabled.addEventListener('change', function () {
        var want = enabled.checked;
        if (!want && !yes('Disable "' + inbox.name + '"? It stops receiving and sending messages until you enable it again.')) {
          enabled.checked = true;
          return;
        }
        clearError(enabledError);
        enabled.disabled = true;
        SB.api('PATCH', '/api/v1/inboxes/' + enc(id), { enabled: want }).then(function (updated) {
          enabled.disabled = false;
          inbox.enabled = updated.enabled;
          enabled.checked = !!updated.enabled;
          var fresh = updated.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off');
          statusBadge.parentNode.replaceChild(fresh, statusBadge);
          statusBadge = fresh;
          SB.toast(updated.enabled ? 'Inbox enabled.' : 'Inbox disabled.');
        }, function (err) {
          enabled.disabled = false;
          enabled.checked = !want;
          showError(enabledError, err);
        });
      });
      var facts = [h('dt', {}, 'Channel'), h('dd', {}, CHANNELS[inbox.channel_type] ? CHANNELS[inbox.channel_type].label : inbox.channel_type),
        h('dt', {}, 'Status'), h('dd', {}, statusBadge),
        h('dt', {}, 'Created'), h('dd', {}, timeEl(inbox.created_at))];
      if (settings.bot_username) facts.push(h('dt', {}, 'Bot'), h('dd', {}, '@' + settings.bot_username));
      if (inbox.channel_type === 'telegram' && settings.mode) facts.push(h('dt', {}, 'Mode'), h('dd', {}, settings.mode));
      p.body.appendChild(h('section', { class: 'card', 'aria-labelledby': 'inbox-status' },
        h('h2', { id: 'inbox-status' }, 'Status'),
        h('dl', { class: 'facts' }, facts),
        checkboxRow('Enabled', enabled, 'A disabled inbox keeps its history but receives and sends nothing.'),
        enabledError));

      // Connection: webhook URL, secret, snippet, rotate.
      var connection = h('div', {}, connectionBox(inbox, false));
      var rotate = h('button', { type: 'button', class: 'danger', 'data-testid': 'inbox-rotate' }, 'Rotate secret');
      var rotateError = alertBox('inbox-rotate-error');
      rotate.addEventListener('click', function () {
        var warn = inbox.channel_type === 'widget'
          ? 'Rotate the secret? Identity hashes your site computes with the old secret stop being accepted.'
          : inbox.channel_type === 'telegram'
            ? 'Rotate the secret? The hub tells Telegram the new one first.'
            : 'Rotate the secret? Requests signed with the old secret are refused from now on, and callbacks are signed with the new one.';
        if (!yes(warn)) return;
        clearError(rotateError);
        busy(rotate, function () { return SB.api('POST', '/api/v1/inboxes/' + enc(id) + '/rotate-secret'); })
          .then(function (updated) {
            SB.clear(connection).appendChild(connectionBox(updated, true));
            var code = connection.querySelector('[data-testid=inbox-secret]');
            if (code) code.parentNode.querySelector('button').focus();
            SB.toast('New secret made. Copy it now: it is shown only once.');
          }, function (err) { showError(rotateError, err); });
      });
      p.body.appendChild(h('section', { class: 'card', 'aria-labelledby': 'inbox-connection' },
        h('h2', { id: 'inbox-connection' }, 'Connection'),
        connection,
        h('div', { class: 'row-actions' }, rotate),
        rotateError,
        stepsBox(inbox.channel_type)));

      // Settings form.
      var name = h('input', { type: 'text', id: 'inbox-name', required: true, maxlength: '100', 'data-testid': 'inbox-name', 'data-field': 'name', autocomplete: 'off' });
      name.value = inbox.name;
      var fs = settingsFieldset(inbox.channel_type, settings);
      var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'inbox-save' }, 'Save changes');
      var error = alertBox('inbox-error');
      var form = h('form', { novalidate: true, 'aria-labelledby': 'inbox-settings' },
        formRow('Name', name), fs.el, error, h('div', { class: 'form-row' }, save));
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        clearError(error, form);
        var body = {};
        var newName = name.value.trim();
        if (!newName) { showError(error, { status: 422, message: 'name: must not be empty' }, form); return; }
        if (newName !== inbox.name) body.name = newName;
        var changes = fs.collect();
        if (Object.keys(changes).length) body.settings = changes;
        if (!Object.keys(body).length) { SB.toast('Nothing changed.'); return; }
        busy(save, function () { return SB.api('PATCH', '/api/v1/inboxes/' + enc(id), body); }).then(function () {
          SB.toast('Inbox saved.');
          return load();
        }, function (err) { showError(error, err, form); });
      });
      p.body.appendChild(h('section', { class: 'card', 'aria-labelledby': 'inbox-settings' },
        h('h2', { id: 'inbox-settings' }, 'Settings'), form));

      p.body.appendChild(membersSection({
        title: 'Members',
        intro: 'Members see this inbox\'s conversations and are assigned its new ones.',
        members: members,
        agents: agents,
        prefix: 'inbox-member',
        add: function (agentId) { return SB.api('POST', '/api/v1/inboxes/' + enc(id) + '/members', { agent_id: agentId }); },
        remove: function (agentId) { return SB.api('DELETE', '/api/v1/inboxes/' + enc(id) + '/members/' + enc(agentId)); },
        reload: function () { return SB.api('GET', '/api/v1/inboxes/' + enc(id) + '/members').then(function (r) { return r.data || []; }); },
        what: 'this inbox'
      }));

      // Delete (only an inbox without history can go; others are disabled instead).
      var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'inbox-delete' }, 'Delete inbox');
      var delError = alertBox('inbox-delete-error');
      del.addEventListener('click', function () {
        if (!yes('Delete "' + inbox.name + '"? This cannot be undone. An inbox with conversations cannot be deleted: disable it instead.')) return;
        clearError(delError);
        busy(del, function () { return SB.api('DELETE', '/api/v1/inboxes/' + enc(id)); }).then(function () {
          SB.toast('Inbox deleted.');
          SB.navigate('/admin/inboxes');
        }, function (err) { showError(delError, err); });
      });
      p.body.appendChild(h('section', { class: 'card danger-zone', 'aria-labelledby': 'inbox-delete' },
        h('h2', { id: 'inbox-delete' }, 'Delete'),
        h('p', { class: 'muted' }, 'Only an inbox that never had a conversation can be deleted. Disable the others.'),
        h('div', { class: 'row-actions' }, del), delError));
      p.body.appendChild(h('p', {}, link('/admin/inboxes', 'Back to the inboxes')));
    }

    load();
  }, { admin: true });

  // Members of an inbox or a team: a table with Remove, and an agent picker with Add.
  function membersSection(o) {
    var section = h('section', { class: 'card members' });
    var headingId = nextId('m');
    section.setAttribute('aria-labelledby', headingId);
    var error = alertBox(o.prefix + '-error');
    var t = table(null, ['Name', 'Email', 'Role', 'Actions']);
    var empty = h('p', { class: 'empty' }, 'No members yet.');
    var picker = h('select', { 'data-testid': o.prefix + '-select', 'data-field': 'agent_id' });
    var add = h('button', { type: 'submit', 'data-testid': o.prefix + '-add' }, 'Add member');
    var form = h('form', { novalidate: true, class: 'inline' }, formRow('Add an agent', picker), h('div', { class: 'form-row' }, add));

    function draw(members) {
      SB.clear(t.tbody);
      var ids = {};
      members.forEach(function (m) {
        ids[m.id] = true;
        var remove = h('button', { type: 'button', class: 'danger', 'data-testid': o.prefix + '-remove', 'aria-label': 'Remove ' + m.name }, 'Remove');
        remove.addEventListener('click', function () {
          if (!yes('Remove ' + m.name + ' from ' + o.what + '?')) return;
          clearError(error);
          busy(remove, function () { return o.remove(m.id); }).then(refresh, function (err) { showError(error, err); });
        });
        t.tbody.appendChild(h('tr', { 'data-testid': o.prefix + '-row', 'data-id': m.id },
          h('td', {}, m.name, m.active === false ? [' ', badge('Deactivated', 'off')] : null),
          h('td', {}, m.email),
          h('td', {}, m.role),
          h('td', { class: 'row-actions' }, remove)));
      });
      t.table.hidden = members.length === 0;
      empty.hidden = members.length !== 0;
      SB.clear(picker);
      var candidates = (o.agents || []).filter(function (a) { return !ids[a.id] && a.active !== false; });
      picker.appendChild(h('option', { value: '' }, candidates.length ? 'Choose an agent…' : 'Every active agent is a member'));
      candidates.forEach(function (a) { picker.appendChild(h('option', { value: a.id }, a.name + ' <' + a.email + '>')); });
      picker.disabled = candidates.length === 0;
      add.disabled = candidates.length === 0;
    }
    function refresh() {
      return o.reload().then(draw, function (err) { showError(error, err); });
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      if (!picker.value) { showError(error, { message: 'Choose an agent to add.' }); picker.focus(); return; }
      var agentId = picker.value;
      busy(add, function () { return o.add(agentId); }).then(function () {
        SB.toast('Member added.');
        return refresh().then(function () { picker.focus(); });
      }, function (err) { showError(error, err, form); });
    });

    section.appendChild(h('h2', { id: headingId }, o.title));
    if (o.intro) section.appendChild(h('p', { class: 'muted' }, o.intro));
    section.appendChild(t.table);
    section.appendChild(empty);
    section.appendChild(form);
    section.appendChild(error);
    draw(o.members || []);
    return section;
  }

  // ---- Agents ----------------------------------------------------------------------------------

  var ROLES = [['agent', 'Agent'], ['admin', 'Admin']];

  function capacityText(c) { return c === null || c === undefined ? 'No limit' : String(c); }

  function parseCapacity(text) {
    var t = String(text).trim();
    if (t === '') return { value: null };
    if (!/^\d+$/.test(t) || Number(t) > 10000) return { error: 'capacity: must be a whole number from 0 to 10000, or empty for no limit' };
    return { value: Number(t) };
  }

  SB.route('/admin/agents', function (main) {
    var p = adminPage(main, 'Agents', 'People who answer conversations. Admins also configure the hub.');
    var t = table(null, ['Name', 'Email', 'Role', 'Availability', 'Capacity', 'Active', 'Actions']);
    var newButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'agent-new' }, 'New agent');
    p.body.appendChild(h('p', { class: 'row-actions' }, newButton));
    p.body.appendChild(h('section', { 'aria-label': 'Agent list' }, t.table));

    function row(a) {
      var self = SB.me && String(SB.me.id) === String(a.id);
      var tr = h('tr', { 'data-testid': 'agent-row', 'data-id': a.id, class: a.active ? null : 'inactive' });
      var edit = detailToggle(tr, 7, 'Edit', function (cell, close) { cell.appendChild(editForm(a, close)); });
      edit.setAttribute('data-testid', 'agent-edit');
      edit.setAttribute('aria-label', 'Edit ' + a.name);
      var toggle;
      if (a.active) {
        toggle = h('button', { type: 'button', class: 'danger', 'data-testid': 'agent-deactivate', 'aria-label': 'Deactivate ' + a.name }, 'Deactivate');
        toggle.addEventListener('click', function () {
          var msg = self
            ? 'Deactivate your own account? You will be signed out and cannot sign in again until another admin reactivates you.'
            : 'Deactivate ' + a.name + '? They are signed out, cannot sign in and get no new conversations. Their history stays.';
          if (!yes(msg)) return;
          clearError(p.alert);
          busy(toggle, function () { return SB.api('DELETE', '/api/v1/agents/' + enc(a.id)); })
            .then(function () { SB.toast(a.name + ' deactivated.'); load(); }, function (err) { showError(p.alert, err); });
        });
      } else {
        toggle = h('button', { type: 'button', 'data-testid': 'agent-reactivate', 'aria-label': 'Reactivate ' + a.name }, 'Reactivate');
        toggle.addEventListener('click', function () {
          clearError(p.alert);
          busy(toggle, function () { return SB.api('PATCH', '/api/v1/agents/' + enc(a.id), { active: true }); })
            .then(function () { SB.toast(a.name + ' reactivated.'); load(); }, function (err) { showError(p.alert, err); });
        });
      }
      tr.appendChild(h('td', {}, a.name, self ? [' ', badge('You')] : null));
      tr.appendChild(h('td', {}, a.email));
      tr.appendChild(h('td', {}, a.role === 'admin' ? 'Admin' : 'Agent'));
      tr.appendChild(h('td', {}, badge(a.availability || 'offline', 'availability-' + (a.availability || 'offline'))));
      tr.appendChild(h('td', {}, capacityText(a.capacity)));
      tr.appendChild(h('td', {}, a.active ? badge('Active', 'ok') : badge('Deactivated', 'off')));
      tr.appendChild(h('td', { class: 'row-actions' }, edit, ' ', toggle));
      return tr;
    }

    function editForm(a, close) {
      var name = h('input', { type: 'text', required: true, maxlength: '100', 'data-field': 'name', 'data-testid': 'agent-edit-name' });
      name.value = a.name;
      var email = h('input', { type: 'email', required: true, 'data-field': 'email', 'data-testid': 'agent-edit-email', autocomplete: 'off' });
      email.value = a.email;
      var role = select({ 'data-field': 'role', 'data-testid': 'agent-edit-role' }, ROLES, a.role);
      var capacity = h('input', { type: 'number', min: '0', max: '10000', step: '1', inputmode: 'numeric', 'data-field': 'capacity', 'data-testid': 'agent-edit-capacity' });
      capacity.value = a.capacity === null || a.capacity === undefined ? '' : String(a.capacity);
      var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'agent-save' }, 'Save');
      var cancel = h('button', { type: 'button', onclick: function () { close(); } }, 'Cancel');
      var error = alertBox('agent-edit-error');
      var form = h('form', { novalidate: true, 'aria-label': 'Edit ' + a.name },
        formRow('Name', name), formRow('Email', email), formRow('Role', role),
        formRow('Capacity', capacity, 'Most open conversations assigned at once. Empty: no limit.'),
        error, h('div', { class: 'form-row row-actions' }, save, ' ', cancel));
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        clearError(error, form);
        var body = {};
        if (name.value.trim() !== a.name) body.name = name.value.trim();
        if (email.value.trim() !== a.email) body.email = email.value.trim();
        if (role.value !== a.role) body.role = role.value;
        var cap = parseCapacity(capacity.value);
        if (cap.error) { showError(error, { status: 422, message: cap.error }, form); return; }
        var was = a.capacity === undefined ? null : a.capacity;
        if (cap.value !== was) body.capacity = cap.value;
        if (!Object.keys(body).length) { close(); return; }
        if (body.role === 'agent' && SB.me && String(SB.me.id) === String(a.id) &&
            !yes('Make yourself an agent? You lose access to the admin pages.')) return;
        busy(save, function () { return SB.api('PATCH', '/api/v1/agents/' + enc(a.id), body); }).then(function () {
          SB.toast('Saved.');
          load();
        }, function (err) { showError(error, err, form); });
      });
      return form;
    }

    function load() {
      return fetchAll('/api/v1/agents').then(function (list) {
        if (!alive(main)) return;
        SB.clear(t.tbody);
        list.forEach(function (a) { t.tbody.appendChild(row(a)); });
      }, function (err) { showError(p.alert, err); });
    }

    // Create.
    var name = h('input', { type: 'text', id: 'agent-name', required: true, maxlength: '100', autocomplete: 'off', 'data-testid': 'agent-name', 'data-field': 'name' });
    var email = h('input', { type: 'email', id: 'agent-email', required: true, autocomplete: 'off', 'data-testid': 'agent-email', 'data-field': 'email' });
    var role = select({ id: 'agent-role', 'data-testid': 'agent-role', 'data-field': 'role' }, ROLES, 'agent');
    var capacity = h('input', { type: 'number', id: 'agent-capacity', min: '0', max: '10000', step: '1', inputmode: 'numeric', 'data-testid': 'agent-capacity', 'data-field': 'capacity' });
    var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'agent-create' }, 'Create agent');
    var error = alertBox('agent-error');
    var result = h('div', { 'aria-live': 'polite' });
    var form = h('form', { novalidate: true, 'aria-labelledby': 'agent-new-title' },
      formRow('Name', name), formRow('Email', email), formRow('Role', role),
      formRow('Capacity', capacity, 'Most open conversations assigned at once. Empty: no limit.'),
      error, h('div', { class: 'form-row' }, create));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      if (!name.value.trim()) { showError(error, { status: 422, message: 'name: must not be empty' }, form); return; }
      if (!email.value.trim()) { showError(error, { status: 422, message: 'email: must not be empty' }, form); return; }
      var cap = parseCapacity(capacity.value);
      if (cap.error) { showError(error, { status: 422, message: cap.error }, form); return; }
      var body = { name: name.value.trim(), email: email.value.trim(), role: role.value };
      if (cap.value !== null) body.capacity = cap.value;
      busy(create, function () { return SB.api('POST', '/api/v1/agents', body); }).then(function (agent) {
        name.value = ''; email.value = ''; capacity.value = ''; role.value = 'agent';
        SB.clear(result).appendChild(h('div', { class: 'card created', 'data-testid': 'agent-created' },
          h('p', {}, agent.name + ' (' + agent.email + ') can now sign in.'),
          agent.password
            ? secretBox('Their password', agent.password, 'agent-password',
              'Shown only once: give it to them securely. They can change it on their profile page.')
            : null,
          h('p', { class: 'muted' }, 'Add them to inboxes so they see conversations.')));
        load();
      }, function (err) { showError(error, err, form); });
    });
    var section = h('section', { class: 'card', id: 'new-agent' },
      h('h2', { id: 'agent-new-title' }, 'New agent'),
      h('p', { class: 'muted' }, 'A password is generated and shown once.'),
      form, result);
    p.body.appendChild(section);
    newButton.addEventListener('click', function () {
      if (section.scrollIntoView) section.scrollIntoView({ block: 'start' });
      name.focus();
    });

    load();
  }, { admin: true });

  // ---- Teams -----------------------------------------------------------------------------------

  SB.route('/admin/teams', function (main) {
    var p = adminPage(main, 'Teams', 'Groups of agents that conversations can be assigned to.');
    var t = table(null, ['Name', 'Description', 'Actions']);
    var empty = h('p', { class: 'empty', hidden: true }, 'No teams yet.');
    p.body.appendChild(h('section', { 'aria-label': 'Team list' }, t.table, empty));
    var agentsPromise = null;
    function agents() {
      if (!agentsPromise) agentsPromise = fetchAll('/api/v1/agents').catch(function (e) { agentsPromise = null; throw e; });
      return agentsPromise;
    }

    function row(team) {
      var tr = h('tr', { 'data-testid': 'team-row', 'data-id': team.id });
      var manage = detailToggle(tr, 3, 'Edit and members', function (cell) {
        cell.appendChild(renameForm(team));
        var holder = h('div', {}, h('p', { class: 'muted', role: 'status' }, 'Loading members…'));
        cell.appendChild(holder);
        Promise.all([SB.api('GET', '/api/v1/teams/' + enc(team.id) + '/members'), agents()]).then(function (r) {
          SB.clear(holder).appendChild(membersSection({
            title: 'Members of ' + team.name,
            members: (r[0] && r[0].data) || [],
            agents: r[1],
            prefix: 'team-member',
            add: function (agentId) { return SB.api('POST', '/api/v1/teams/' + enc(team.id) + '/members', { agent_id: agentId }); },
            remove: function (agentId) { return SB.api('DELETE', '/api/v1/teams/' + enc(team.id) + '/members/' + enc(agentId)); },
            reload: function () { return SB.api('GET', '/api/v1/teams/' + enc(team.id) + '/members').then(function (x) { return x.data || []; }); },
            what: 'the team'
          }));
        }, function (err) { SB.clear(holder); showError(p.alert, err); });
      });
      manage.setAttribute('data-testid', 'team-edit');
      manage.setAttribute('aria-label', 'Edit ' + team.name + ' and its members');
      var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'team-delete', 'aria-label': 'Delete ' + team.name }, 'Delete');
      del.addEventListener('click', function () {
        if (!yes('Delete the team "' + team.name + '"? Its conversations stay, without a team.')) return;
        clearError(p.alert);
        busy(del, function () { return SB.api('DELETE', '/api/v1/teams/' + enc(team.id)); })
          .then(function () { SB.toast('Team deleted.'); load(); }, function (err) { showError(p.alert, err); });
      });
      tr.appendChild(h('td', {}, team.name));
      tr.appendChild(h('td', {}, team.description ? team.description : h('span', { class: 'muted' }, '—')));
      tr.appendChild(h('td', { class: 'row-actions' }, manage, ' ', del));
      return tr;
    }

    function renameForm(team) {
      var name = h('input', { type: 'text', required: true, maxlength: '100', 'data-field': 'name', 'data-testid': 'team-edit-name', autocomplete: 'off' });
      name.value = team.name;
      var description = h('textarea', { rows: '2', maxlength: '1000', 'data-field': 'description', 'data-testid': 'team-edit-description' });
      description.value = team.description || '';
      var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'team-save' }, 'Save');
      var error = alertBox('team-edit-error');
      var form = h('form', { novalidate: true, 'aria-label': 'Rename ' + team.name },
        formRow('Name', name), formRow('Description', description), error, h('div', { class: 'form-row' }, save));
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        clearError(error, form);
        var body = {};
        if (name.value.trim() !== team.name) body.name = name.value.trim();
        if (description.value.trim() !== (team.description || '')) body.description = description.value.trim();
        if (!Object.keys(body).length) { SB.toast('Nothing changed.'); return; }
        busy(save, function () { return SB.api('PATCH', '/api/v1/teams/' + enc(team.id), body); })
          .then(function () { SB.toast('Team saved.'); load(); }, function (err) { showError(error, err, form); });
      });
      return form;
    }

    function load() {
      return fetchAll('/api/v1/teams').then(function (list) {
        if (!alive(main)) return;
        SB.clear(t.tbody);
        list.forEach(function (team) { t.tbody.appendChild(row(team)); });
        t.table.hidden = list.length === 0;
        empty.hidden = list.length !== 0;
      }, function (err) { showError(p.alert, err); });
    }

    var name = h('input', { type: 'text', id: 'team-name', required: true, maxlength: '100', autocomplete: 'off', 'data-testid': 'team-name', 'data-field': 'name' });
    var description = h('textarea', { id: 'team-description', rows: '2', maxlength: '1000', 'data-testid': 'team-description', 'data-field': 'description' });
    var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'team-create' }, 'Create team');
    var error = alertBox('team-error');
    var form = h('form', { novalidate: true, 'aria-labelledby': 'team-new-title' },
      formRow('Name', name), formRow('Description (optional)', description), error, h('div', { class: 'form-row' }, create));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      if (!name.value.trim()) { showError(error, { status: 422, message: 'name: must not be empty' }, form); return; }
      var body = { name: name.value.trim() };
      if (description.value.trim()) body.description = description.value.trim();
      busy(create, function () { return SB.api('POST', '/api/v1/teams', body); }).then(function (team) {
        name.value = ''; description.value = '';
        SB.toast('Team "' + team.name + '" created.');
        load();
      }, function (err) { showError(error, err, form); });
    });
    p.body.appendChild(h('section', { class: 'card', id: 'new-team' },
      h('h2', { id: 'team-new-title' }, 'New team'), form));

    load();
  }, { admin: true });

  // ---- Canned responses (any agent) ------------------------------------------------------------

  SB.route('/admin/canned', function (main) {
    var p = adminPage(main, 'Canned responses', 'Saved replies every agent can insert in the composer by typing / and the short code.');

    // One form creates, or edits the response chosen with Edit.
    var editing = null;
    var code = h('input', { type: 'text', id: 'canned-code', required: true, maxlength: '50', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', pattern: '[A-Za-z0-9_-]+', 'data-testid': 'canned-code', 'data-field': 'short_code' });
    var content = h('textarea', { id: 'canned-content', required: true, rows: '4', maxlength: '5000', 'data-testid': 'canned-content', 'data-field': 'content' });
    var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'canned-create' }, 'Add response');
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'canned-save', hidden: true }, 'Save changes');
    var cancel = h('button', { type: 'button', hidden: true, 'data-testid': 'canned-cancel' }, 'Cancel');
    var error = alertBox('canned-error');
    var formTitle = h('h2', { id: 'canned-form-title', tabindex: '-1' }, 'New canned response');
    var form = h('form', { novalidate: true, 'aria-labelledby': 'canned-form-title' },
      formRow('Short code', code, 'Letters, digits, - and _; agents type /code to insert it.'),
      formRow('Text', content),
      error,
      h('div', { class: 'form-row row-actions' }, create, save, ' ', cancel));

    function setMode(item) {
      editing = item;
      clearError(error, form);
      create.hidden = !!item;
      save.hidden = !item;
      cancel.hidden = !item;
      formTitle.textContent = item ? 'Edit /' + item.short_code : 'New canned response';
      code.value = item ? item.short_code : '';
      content.value = item ? item.content : '';
    }
    cancel.addEventListener('click', function () { setMode(null); code.focus(); });

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      var body = { short_code: code.value.trim().replace(/^\//, ''), content: content.value.trim() };
      if (!body.short_code) { showError(error, { status: 422, message: 'short_code: must not be empty' }, form); return; }
      if (!body.content) { showError(error, { status: 422, message: 'content: must not be empty' }, form); return; }
      var item = editing;
      var button = item ? save : create;
      busy(button, function () {
        return item
          ? SB.api('PATCH', '/api/v1/canned-responses/' + enc(item.id), body)
          : SB.api('POST', '/api/v1/canned-responses', body);
      }).then(function (saved) {
        SB.toast(item ? 'Saved /' + saved.short_code + '.' : 'Added /' + saved.short_code + '.');
        setMode(null);
        load(true);
      }, function (err) { showError(error, err, form); });
    });

    // Search and list.
    var search = h('input', { type: 'search', id: 'canned-search', autocomplete: 'off', 'data-testid': 'canned-search', placeholder: 'Short code or text' });
    var t = table(null, ['Short code', 'Text', 'Updated', 'Actions']);
    var empty = h('p', { class: 'empty', hidden: true }, 'No canned responses.');
    var more = h('button', { type: 'button', hidden: true, 'data-testid': 'canned-more' }, 'Load more');
    var cursor = null;
    var generation = 0;

    function row(item) {
      var edit = h('button', { type: 'button', 'data-testid': 'canned-edit', 'aria-label': 'Edit /' + item.short_code }, 'Edit');
      edit.addEventListener('click', function () {
        setMode(item);
        if (formSection.scrollIntoView) formSection.scrollIntoView({ block: 'start' });
        content.focus();
      });
      var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'canned-delete', 'aria-label': 'Delete /' + item.short_code }, 'Delete');
      del.addEventListener('click', function () {
        if (!yes('Delete the canned response /' + item.short_code + '? Every agent loses it.')) return;
        clearError(p.alert);
        busy(del, function () { return SB.api('DELETE', '/api/v1/canned-responses/' + enc(item.id)); }).then(function () {
          SB.toast('Deleted /' + item.short_code + '.');
          if (editing && editing.id === item.id) setMode(null);
          load(true);
        }, function (err) { showError(p.alert, err); });
      });
      return h('tr', { 'data-testid': 'canned-row', 'data-id': item.id },
        h('td', {}, h('code', {}, '/' + item.short_code)),
        h('td', { class: 'canned-text' }, item.content),
        h('td', {}, timeEl(item.updated_at)),
        h('td', { class: 'row-actions' }, edit, ' ', del));
    }

    function load(reset) {
      var mine = reset ? ++generation : generation;
      var q = search.value.trim();
      var url = '/api/v1/canned-responses?limit=50' + (q ? '&q=' + enc(q) : '') +
        (!reset && cursor ? '&cursor=' + enc(cursor) : '');
      return SB.api('GET', url).then(function (res) {
        if (!alive(main) || mine !== generation) return;
        if (reset) SB.clear(t.tbody);
        (res.data || []).forEach(function (item) { t.tbody.appendChild(row(item)); });
        cursor = res.next_cursor || null;
        more.hidden = !cursor;
        var count = t.tbody.childNodes.length;
        t.table.hidden = count === 0;
        empty.textContent = q ? 'No canned response matches "' + q + '".' : 'No canned responses yet.';
        empty.hidden = count !== 0;
      }, function (err) { if (mine === generation) showError(p.alert, err); });
    }
    var timer = null;
    search.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { load(true); }, 250);
    });
    var searchForm = h('form', { role: 'search', 'aria-label': 'Canned responses', novalidate: true,
      onsubmit: function (e) { e.preventDefault(); clearTimeout(timer); load(true); } },
      formRow('Search', search));
    more.addEventListener('click', function () { busy(more, function () { return load(false); }); });

    p.body.appendChild(h('section', { 'aria-label': 'Canned response list' }, searchForm, t.table, empty, more));
    var formSection = h('section', { class: 'card', id: 'canned-form' }, formTitle, form);
    p.body.appendChild(formSection);

    load(true);
  });

  // ---- Audit log -------------------------------------------------------------------------------

  SB.route('/admin/audit', function (main) {
    var p = adminPage(main, 'Audit log', 'Every change in the hub, newest first.');
    var t = table(null, ['Time', 'Actor', 'Action', 'Target', 'Details']);
    var empty = h('p', { class: 'empty', hidden: true }, 'Nothing recorded yet.');
    var more = h('button', { type: 'button', hidden: true, 'data-testid': 'audit-more' }, 'Load more');
    var status = h('p', { class: 'muted', role: 'status' });
    p.body.appendChild(h('section', { 'aria-label': 'Audit entries' }, t.table, empty, more, status));
    var cursor = null;
    var names = {};

    function actor(e) {
      if (e.actor_type === 'agent') {
        var who = e.actor_id && names[e.actor_id] ? names[e.actor_id] : 'Agent #' + (e.actor_id || '?');
        return [who, e.ip ? h('span', { class: 'muted' }, ' (' + e.ip + ')') : null];
      }
      if (e.actor_type === 'cli') return 'Command line';
      if (e.actor_type === 'system') return 'System';
      return e.actor_type || '';
    }
    function target(e) {
      if (!e.target_type) return h('span', { class: 'muted' }, '—');
      var text = e.target_type + (e.target_id ? ' #' + e.target_id : '');
      if (e.target_type === 'agent' && e.target_id && names[e.target_id]) text += ' (' + names[e.target_id] + ')';
      return text;
    }
    function details(d) {
      if (d === null || d === undefined) return h('span', { class: 'muted' }, '—');
      if (typeof d === 'object' && !Array.isArray(d) && Object.keys(d).length === 0) return h('span', { class: 'muted' }, '—');
      var pre = h('pre', { class: 'json' });
      pre.textContent = JSON.stringify(d, null, 2);
      return h('details', {}, h('summary', {}, 'Show'), pre);
    }
    function load(reset) {
      var url = '/api/v1/audit?limit=50' + (!reset && cursor ? '&cursor=' + enc(cursor) : '');
      return SB.api('GET', url).then(function (res) {
        if (!alive(main)) return;
        if (reset) SB.clear(t.tbody);
        (res.data || []).forEach(function (e) {
          t.tbody.appendChild(h('tr', { 'data-testid': 'audit-row', 'data-id': e.id },
            h('td', {}, timeEl(e.created_at)),
            h('td', {}, actor(e)),
            h('td', {}, h('code', {}, e.action)),
            h('td', {}, target(e)),
            h('td', {}, details(e.details))));
        });
        cursor = res.next_cursor || null;
        more.hidden = !cursor;
        var count = t.tbody.childNodes.length;
        t.table.hidden = count === 0;
        empty.hidden = count !== 0;
        status.textContent = count ? count + ' entries shown' + (cursor ? '; more are older.' : '.') : '';
      }, function (err) { showError(p.alert, err); });
    }
    more.addEventListener('click', function () { busy(more, function () { return load(false); }); });

    // Agent names make the log readable; the log still shows ids if they cannot be read.
    fetchAll('/api/v1/agents').then(function (list) {
      list.forEach(function (a) { names[a.id] = a.name; });
    }, function () { /* ids it is */ }).then(function () { if (alive(main)) load(true); });
  }, { admin: true });
})();
