/*
 * The hosted flow inside finconn's iframe. It receives the publishable key and client secret from the embed
 * by postMessage (never through a URL), keeps them in memory, and drives the panes: every pane is HTML
 * rendered by the server; forms and buttons carry data-action, which becomes a POST to /link/api/<action>.
 */
(function () {
  'use strict';
  var pk = null, secret = null, parentOrigin = null;
  var session = null;        // the Stripe.js-shaped session from the last answer
  var polling = null, busy = false, searchTimer = null, searchQueued = false;
  var paneEl = document.getElementById('pane');
  var closeBtn = document.getElementById('close');

  function toParent(message) {
    if (parentOrigin) window.parent.postMessage(message, parentOrigin);
  }

  function emit(events) {
    (events || []).forEach(function (e) {
      var metadata = {};
      if (e.institution_name) metadata.institutionName = e.institution_name;
      if (e.error_code) metadata.errorCode = e.error_code;
      if (e.manual_entry) metadata.manualEntry = true;
      toParent({ type: 'finconn:event', event: { name: e.name, metadata: metadata } });
    });
  }

  function finish(result) {
    stopPolling();
    toParent({ type: 'finconn:result', result: result });
  }

  function render(html) {
    // Keep what the user is typing in the search box: an answer to an older query must not overwrite it.
    var typing = paneEl.querySelector('input[name="query"]');
    var typed = typing && document.activeElement === typing ? typing.value : null;
    paneEl.innerHTML = html;
    var q = paneEl.querySelector('input[name="query"]');
    if (q && typed !== null) {
      var answered = q.value;
      q.value = typed;
      q.focus();
      q.setSelectionRange(typed.length, typed.length);
      if (answered !== typed) scheduleSearch(typed);
      return;
    }
    paneEl.querySelectorAll('time[data-timestamp]').forEach(function (t) {
      var when = new Date(Number(t.getAttribute('data-timestamp')) * 1000);
      t.textContent = when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    });
    syncSelectAll();
    showProgress();
    var target = paneEl.querySelector('[data-autofocus]') || paneEl.querySelector('h1');
    if (target) target.focus();
    var oauth = paneEl.querySelector('[data-oauth-url]');
    if (oauth) startPolling(); else stopPolling();
  }

  function api(action, params) {
    var body = new URLSearchParams(params || {});
    return fetch('/link/api/' + action, {
      method: 'POST',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      headers: {
        'Authorization': 'Bearer ' + pk,
        'Finconn-Client-Secret': secret,
        'Content-Type': 'application/x-www-form-urlencoded'
      },
      body: body.toString()
    }).then(function (res) {
      return res.json().then(function (json) { return { ok: res.ok, json: json }; });
    });
  }

  function run(action, params) {
    if (busy && action === 'search') { searchQueued = true; return Promise.resolve(); }
    if (busy && action !== 'show') return Promise.resolve();
    busy = true;
    paneEl.setAttribute('aria-busy', 'true');
    return api(action, params).then(function (r) {
      busy = false;
      paneEl.removeAttribute('aria-busy');
      clearBusy();
      if (searchQueued) {
        searchQueued = false;
        var current = paneEl.querySelector('input[name="query"]');
        if (current) scheduleSearch(current.value);
      }
      if (!r.ok) {
        var err = (r.json && r.json.error) || { type: 'api_error', message: 'Unexpected error.' };
        if (r.json && r.json.pane) render(r.json.pane);
        emit([{ name: 'error', error_code: err.code || 'unexpected_error' }]);
        if (!session || action === 'start') finish({ error: err });
        return;
      }
      if (r.json.session) session = r.json.session;
      emit(r.json.events);
      if (r.json.pane) render(r.json.pane);
      if (action === 'cancel') finish({ financialConnectionsSession: session });
    }).catch(function () {
      busy = false;
      paneEl.removeAttribute('aria-busy');
      clearBusy();
      emit([{ name: 'error', error_code: 'unexpected_error' }]);
      if (!session) finish({ error: { type: 'api_connection_error', message: 'Could not reach finconn.' } });
    });
  }

  function close() {
    if (!secret) return;
    if (session && session.accounts && session.accounts.length > 0) {
      finish({ financialConnectionsSession: session });
    } else if (session) {
      run('cancel');
    } else {
      finish({ error: { type: 'invalid_request_error', message: 'The flow was closed before it started.' } });
    }
  }

  // A step that talks to a bank can take seconds: its button says so (data-busy-label) until the next pane.
  function showBusy(button) {
    if (!button || busy) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.setAttribute('data-label', button.textContent);
    if (button.getAttribute('data-busy-label')) button.textContent = button.getAttribute('data-busy-label');
    var status = document.getElementById('busy-status');
    if (status) status.textContent = button.textContent;
  }

  function clearBusy() {
    var button = paneEl.querySelector('[data-label]');
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.textContent = button.getAttribute('data-label');
      button.removeAttribute('data-label');
    }
    var status = document.getElementById('busy-status');
    if (status) status.textContent = '';
  }

  function startPolling() {
    if (polling) return;
    polling = setInterval(function () { if (!busy) run('show'); }, 1000);
  }

  function stopPolling() {
    if (polling) clearInterval(polling);
    polling = null;
  }

  paneEl.addEventListener('submit', function (event) {
    var form = event.target;
    var action = form.getAttribute('data-action');
    if (!action) return;
    event.preventDefault();
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { params.append(key, value); });
    showBusy(form.querySelector('[type=submit]'));
    run(action, params);
  });

  paneEl.addEventListener('click', function (event) {
    var el = event.target.closest('[data-action],[data-oauth-url]');
    if (!el || el.tagName === 'FORM' || el.type === 'submit') return;
    if (el.hasAttribute('data-oauth-url')) {
      var popup = window.open(el.getAttribute('data-oauth-url'), 'finconn_oauth', 'popup,width=480,height=640');
      var note = paneEl.querySelector('[data-testid="oauth-status"]');
      if (!popup && note) note.textContent = 'Your browser blocked the window. Allow pop-ups, or use the link below.';
      return;
    }
    var action = el.getAttribute('data-action');
    if (action === 'done') { finish({ financialConnectionsSession: session }); return; }
    if (action === 'close') { close(); return; }
    var params = {};
    if (el.hasAttribute('data-institution')) params.institution = el.getAttribute('data-institution');
    showBusy(el);
    run(action, params);
  });

  // Where the flow stands, for the progress bar under the header.
  var STEPS = { consent: 1, institutions: 2, login: 3, challenge: 3, oauth: 3, token: 3, manual: 3, accounts: 4, success: 5 };
  function showProgress() {
    var bar = document.getElementById('progress');
    var shown = paneEl.querySelector('[data-pane]');
    var step = shown && STEPS[shown.getAttribute('data-pane')];
    if (!bar || !step) return;
    bar.setAttribute('data-step', String(step));
    bar.setAttribute('aria-valuenow', String(step));
    bar.setAttribute('aria-valuetext', 'Step ' + step + ' of 5');
  }

  // "Select all" on the account picker, kept in step with the accounts' own boxes.
  function syncSelectAll() {
    var all = paneEl.querySelector('[data-select-all]');
    if (!all) return;
    var boxes = Array.prototype.slice.call(paneEl.querySelectorAll('input[type=checkbox][name="accounts[]"]:not(:disabled)'));
    var on = boxes.filter(function (b) { return b.checked; }).length;
    all.checked = boxes.length > 0 && on === boxes.length;
    all.indeterminate = on > 0 && on < boxes.length;
  }

  paneEl.addEventListener('change', function (event) {
    var t = event.target;
    if (t.hasAttribute && t.hasAttribute('data-select-all')) {
      paneEl.querySelectorAll('input[type=checkbox][name="accounts[]"]:not(:disabled)').forEach(function (b) {
        b.checked = t.checked;
      });
    }
    syncSelectAll();
  });

  function scheduleSearch(value) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { run('search', { query: value }); }, 250);
  }

  paneEl.addEventListener('input', function (event) {
    if (event.target.name === 'query') scheduleSearch(event.target.value);
  });

  closeBtn.addEventListener('click', close);
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { event.preventDefault(); close(); }
  });

  window.addEventListener('message', function (event) {
    var data = event.data || {};
    if (event.source === window.parent && data.type === 'finconn:init' && !secret) {
      parentOrigin = event.origin;
      pk = String(data.publishableKey || '');
      secret = String(data.clientSecret || '');
      toParent({ type: 'finconn:event', event: { name: 'open', metadata: {} } });
      run('start');
    } else if (event.source === window.parent && data.type === 'finconn:close') {
      close();
    } else if (event.origin === location.origin && data.type === 'finconn:oauth-done') {
      run('show');
    }
  });

  window.parent.postMessage({ type: 'finconn:ready' }, '*');
})();
