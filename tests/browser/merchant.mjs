// A stand-in merchant site, on its own origin (another port than finconn's).
//
//   node merchant.mjs --finconn http://127.0.0.1:PORT [--listen 127.0.0.1:0]
//
// Prints "merchant listening on http://HOST:PORT" once it listens. Its page is what a merchant writes for
// Stripe.js: it loads `<finconn>/v3/` with a script tag and calls
// `Stripe(pk).collectFinancialConnectionsAccounts({clientSecret, onEvent})`; nothing else is finconn's.
// The publishable key comes in the page's query string (?pk=…). The test plays the merchant's backend: it
// creates the session with the secret key and hands the client secret to `window.linkBank(clientSecret)`,
// which first awaits a fetch to this server (as Stripe's samples do before launching, so no user gesture
// is left), then launches the modal. Results land on `window.merchant` for the test to read.
import http from 'node:http';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const finconn = arg('--finconn', process.env.FINCONN_URL || '');
if (!/^https?:\/\/[^/]+$/.test(finconn)) {
  console.error('merchant.mjs: --finconn http://HOST:PORT is required (no trailing slash)');
  process.exit(2);
}
const [host, port] = arg('--listen', '127.0.0.1:0').split(':');

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = () => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Rentals: pay by bank</title>
<script src="${escapeHtml(finconn)}/v3/"></script>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; margin: 0; padding: 24px; background: #f4f5f8; color: #222; }
  main { max-width: 640px; margin: 0 auto; background: #fff; padding: 24px; border-radius: 8px; }
  button { font: inherit; padding: 10px 16px; }
</style>
</head>
<body>
<main>
  <h1>Acme Rentals</h1>
  <p>Pay your deposit by linking your bank account.</p>
  <button id="link" type="button">Link your bank account</button>
  <p id="status" role="status"></p>
</main>
<script src="/merchant.js"></script>
</body>
</html>
`;

// The merchant's own script. It knows nothing of finconn beyond Stripe.js's documented call.
const merchantJs = `'use strict';
(function () {
  var pk = new URLSearchParams(location.search).get('pk');
  var stripe = Stripe(pk);
  var status = document.getElementById('status');
  window.merchant = { started: false, done: false, events: [], result: null, thrown: null };
  window.linkBank = function (clientSecret) {
    var state = { started: false, done: false, events: [], result: null, thrown: null };
    window.merchant = state;
    fetch('/api/ready', { method: 'POST' }).then(function () {
      state.started = true;
      return stripe.collectFinancialConnectionsAccounts({
        clientSecret: clientSecret,
        onEvent: function (event) { state.events.push(JSON.parse(JSON.stringify(event))); }
      });
    }).then(function (result) {
      state.result = JSON.parse(JSON.stringify(result));
      state.done = true;
      if (result.error) status.textContent = 'Error: ' + result.error.message;
      else if (result.financialConnectionsSession.accounts.length === 0) status.textContent = 'No accounts were linked.';
      else status.textContent = 'Linked ' + result.financialConnectionsSession.accounts.length + ' account(s).';
    }, function (err) {
      state.thrown = String(err && err.stack || err);
      state.done = true;
    });
  };
})();
`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://merchant');
  const common = {
    'Cache-Control': 'no-store',
    // Stripe's deployment checklist: OAuth popups need one of these, not same-origin.
    'Cross-Origin-Opener-Policy': 'same-origin-allow-popups',
  };
  if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/checkout')) {
    res.writeHead(200, { ...common, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page());
  } else if (req.method === 'GET' && url.pathname === '/merchant.js') {
    res.writeHead(200, { ...common, 'Content-Type': 'text/javascript; charset=utf-8' });
    res.end(merchantJs);
  } else if (req.method === 'POST' && url.pathname === '/api/ready') {
    req.resume();
    res.writeHead(200, { ...common, 'Content-Type': 'application/json' });
    res.end('{"ok":true}');
  } else if (req.method === 'GET' && url.pathname === '/bundle') {
    // A page without the embed's script tag: a bundle that imports finconn's loadStripe as an ES module.
    res.writeHead(200, { ...common, 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bundle</title></head>' +
      '<body><main><h1>Acme (bundled)</h1></main></body></html>');
  } else if (url.pathname === '/favicon.ico') {
    res.writeHead(204);
    res.end();
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }
});

server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`merchant listening on http://${a.address}:${a.port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
