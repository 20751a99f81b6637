/* The institution's page: tell the server whether it runs in the flow's popup (which it then reports
 * back to) or on its own, e.g. in a webview's system browser (which return_url brings back to the app). */
(function () {
  'use strict';
  var field = document.querySelector('#decision input[name="popup"]');
  if (field && window.opener) field.value = '1';
})();
