// Switchboard sign-in page (/login): email + password → POST /api/v1/auth/login, then on to
// the page the agent wanted (`?next=`, same-site paths only) or the inbox. Errors are shown
// with textContent in the form's role=alert paragraph; no CSRF token is needed to sign in.
// A native module (login.html loads it with type=module), independent of the app's modules.

// Where to go after signing in: `next` when it is a path on this site, else "/".
// Refused: absolute URLs, protocol-relative "//host", "/\host" (browsers read "\" as "/"),
// anything with control characters (the URL parser drops tabs and newlines, so "/\t/host"
// would become "//host"), paths that become "//host" once dot segments are resolved, and the
// login page itself.
function nextTarget() {
  var next;
  try {
    next = new URLSearchParams(location.search).get('next');
  } catch (e) {
    return '/';
  }
  if (!next || next.charAt(0) !== '/') return '/';
  if (next.charAt(1) === '/' || next.charAt(1) === '\\') return '/';
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return '/';
  var url;
  try {
    url = new URL(next, location.origin);
  } catch (e) {
    return '/';
  }
  if (url.origin !== location.origin) return '/';
  // "/.//evil.example/x", "/%2e//…" and "/a/..//…" parse to a path starting with "//",
  // which the browser would then read as another site.
  if (url.pathname.charAt(1) === '/' || url.pathname.charAt(1) === '\\') return '/';
  if (url.pathname === '/login' || url.pathname === '/login/') return '/';
  return url.pathname + url.search + url.hash;
}

function start() {
  var form = document.getElementById('login-form');
  if (!form) return;
  var email = document.getElementById('login-email');
  var password = document.getElementById('login-password');
  var error = document.getElementById('login-error');
  var submit = form.querySelector('[data-testid=login-submit]');
  var busy = false;

  function showError(message, field) {
    error.textContent = message;
    email.removeAttribute('aria-invalid');
    password.removeAttribute('aria-invalid');
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    }
  }

  function setBusy(on) {
    busy = on;
    submit.disabled = on;
    submit.textContent = on ? 'Signing in…' : 'Sign in';
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (busy) return;
    var address = email.value.trim();
    if (!address) { showError('Enter your email address.', email); return; }
    if (!password.value) { showError('Enter your password.', password); return; }
    error.textContent = '';
    setBusy(true);
    fetch('/api/v1/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email: address, password: password.value })
    }).then(function (response) {
      if (response.ok) {
        location.assign(nextTarget());
        return null;
      }
      return response.json().then(
        function (json) { return (json && json.error) || {}; },
        function () { return {}; }
      ).then(function (e) {
        setBusy(false);
        var message = e.message || response.statusText || 'Signing in failed.';
        if (response.status === 401) {
          password.value = '';
          showError(message, password);
        } else if (response.status === 429) {
          var wait = response.headers.get('Retry-After');
          showError(message + (wait && /^\d+$/.test(wait) ? ' (try again in ' + wait + ' s)' : ''), null);
        } else if (response.status === 422 && /email/i.test(message)) {
          showError(message, email);
        } else {
          showError(message, null);
        }
      });
    }).catch(function () {
      setBusy(false);
      showError('Cannot reach the server. Check your connection and try again.', null);
    });
  });

  if (!email.value) email.focus();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start);
} else {
  start();
}
