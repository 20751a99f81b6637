/* The institution's authorization page is done: tell the flow (same origin) and close the window. */
(function () {
  'use strict';
  if (window.opener) {
    try { window.opener.postMessage({ type: 'finconn:oauth-done' }, location.origin); } catch (e) { /* gone */ }
  }
  setTimeout(function () { window.close(); }, 300);
})();
