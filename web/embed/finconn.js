/*
 * finconn's drop-in for Stripe.js's Financial Connections methods, served at /v3/ and /js/finconn.js.
 *
 *   <script src="https://YOUR-FINCONN/v3/"></script>
 *   const result = await Stripe('pk_test_…').collectFinancialConnectionsAccounts({clientSecret});
 *
 * It opens a modal holding an iframe of finconn's origin (the origin this script was loaded from) and talks
 * to it only with postMessage and exact origins. The client secret crosses in a message, never in a URL.
 * The promise always resolves: {financialConnectionsSession} (accounts is an array; empty when the user
 * closes the modal) or {error}. `onEvent` is a finconn extension with the mobile SDKs' event names.
 * No build step, nothing loaded from any other origin.
 */
(function () {
  'use strict';
  if (window.Stripe && window.Stripe.finconn) return;

  var script = document.currentScript;
  var ORIGIN = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var active = null; // one flow at a time

  function integrationError(message) {
    var e = new Error(message);
    e.name = 'IntegrationError';
    return e;
  }

  function Stripe(publishableKey, options) {
    if (!(this instanceof Stripe)) return new Stripe(publishableKey, options);
    if (typeof publishableKey !== 'string') {
      throw integrationError('Expected publishable key to be of type string, got type ' + typeof publishableKey + ' instead.');
    }
    if (!/^pk_(test|live)_[A-Za-z0-9_]+$/.test(publishableKey)) {
      throw integrationError('Invalid value for Stripe(): apiKey should be a publishable key (pk_test_… or pk_live_…).');
    }
    this._publishableKey = publishableKey;
    this._options = options || {};
  }

  Stripe.version = 3;
  Stripe.finconn = true;

  Stripe.prototype.collectFinancialConnectionsAccounts = function (options) {
    if (!options || typeof options.clientSecret !== 'string' || options.clientSecret === '') {
      throw integrationError('collectFinancialConnectionsAccounts: the clientSecret option is required and must be a string.');
    }
    return launch(this._publishableKey, options);
  };

  Stripe.prototype.collectBankAccountToken = function () {
    return Promise.resolve({
      error: {
        type: 'invalid_request_error',
        code: 'unsupported',
        message: 'collectBankAccountToken is not supported by finconn.'
      }
    });
  };

  ['elements', 'confirmPayment', 'confirmSetup', 'collectBankAccountForPayment', 'collectBankAccountForSetup']
    .forEach(function (name) {
      Stripe.prototype[name] = function () {
        throw integrationError('Stripe.' + name + ' is not supported by finconn, which implements Financial Connections only.');
      };
    });

  function launch(publishableKey, options) {
    if (active) {
      return Promise.resolve({
        error: { type: 'invalid_request_error', code: 'flow_in_progress', message: 'Another Financial Connections flow is already open.' }
      });
    }
    return new Promise(function (resolve) {
      var previousFocus = document.activeElement;
      var overlay = document.createElement('div');
      overlay.setAttribute('data-finconn-modal', '');
      overlay.setAttribute('role', 'dialog');
      overlay.setAttribute('aria-modal', 'true');
      overlay.setAttribute('aria-label', 'Link your bank account');
      overlay.style.cssText = 'position:fixed;inset:0;z-index:2147483647;background:rgba(10,14,30,.55);' +
        'display:flex;align-items:center;justify-content:center;';
      var frame = document.createElement('iframe');
      frame.src = ORIGIN + '/link/frame';
      frame.title = 'Link your bank account';
      frame.setAttribute('data-finconn-frame', '');
      frame.setAttribute('allow', 'clipboard-write');
      frame.referrerPolicy = 'no-referrer';
      frame.style.cssText = 'border:0;background:#fff;border-radius:12px;width:min(440px,100vw);' +
        'height:min(680px,100vh);box-shadow:0 12px 48px rgba(0,0,0,.35);';
      if (window.matchMedia && window.matchMedia('(max-width: 480px)').matches) {
        frame.style.borderRadius = '0';
        frame.style.width = '100vw';
        frame.style.height = '100vh';
      }
      overlay.appendChild(frame);
      var settled = false;

      function finish(result) {
        if (settled) return;
        settled = true;
        window.removeEventListener('message', onMessage);
        document.removeEventListener('keydown', onKey, true);
        if (overlay.parentNode) overlay.parentNode.removeChild(overlay);
        active = null;
        if (previousFocus && previousFocus.focus) {
          try { previousFocus.focus(); } catch (e) { /* element gone */ }
        }
        resolve(result);
      }

      function post(message) {
        if (frame.contentWindow) frame.contentWindow.postMessage(message, ORIGIN);
      }

      function onMessage(event) {
        if (event.origin !== ORIGIN || event.source !== frame.contentWindow) return;
        var data = event.data || {};
        if (data.type === 'finconn:ready') {
          post({ type: 'finconn:init', clientSecret: options.clientSecret, publishableKey: publishableKey });
          try { frame.focus(); } catch (e) { /* ignore */ }
        } else if (data.type === 'finconn:event') {
          if (typeof options.onEvent === 'function') {
            try { options.onEvent(data.event); } catch (e) { setTimeout(function () { throw e; }); }
          }
        } else if (data.type === 'finconn:result') {
          finish(data.result);
        }
      }

      // Escape while focus is on the host page (the frame handles it when focused).
      function onKey(event) {
        if (event.key === 'Escape') {
          event.preventDefault();
          post({ type: 'finconn:close' });
        } else if (event.key === 'Tab') {
          event.preventDefault();
          try { frame.focus(); } catch (e) { /* ignore */ }
        }
      }

      active = { finish: finish };
      window.addEventListener('message', onMessage);
      document.addEventListener('keydown', onKey, true);
      frame.addEventListener('error', function () {
        finish({ error: { type: 'api_connection_error', message: 'Could not load the Financial Connections flow.' } });
      });
      (document.body || document.documentElement).appendChild(overlay);
    });
  }

  window.Stripe = Stripe;
})();
