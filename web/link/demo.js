/* The demo merchant page's script: create a session on "the merchant's server", open the flow, list the result. */
(function () {
  'use strict';
  var button = document.getElementById('link');
  var list = document.getElementById('accounts');
  var status = document.getElementById('status');
  button.addEventListener('click', function () {
    button.disabled = true;
    status.textContent = '';
    fetch('/demo/session', { method: 'POST' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        return Stripe(button.getAttribute('data-pk')).collectFinancialConnectionsAccounts({
          clientSecret: s.client_secret,
          onEvent: function (e) { status.textContent = 'event: ' + e.name; }
        });
      })
      .then(function (result) {
        button.disabled = false;
        if (result.error) { status.textContent = 'Error: ' + result.error.message; return; }
        var accounts = result.financialConnectionsSession.accounts;
        if (accounts.length === 0) { status.textContent = 'No accounts were linked.'; return; }
        list.innerHTML = '';
        accounts.forEach(function (a) {
          var li = document.createElement('li');
          li.textContent = a.institution_name + ' — ' + a.display_name + ' ••••' + a.last4 + ' (' + a.id + ')';
          list.appendChild(li);
        });
      })
      .catch(function (e) { button.disabled = false; status.textContent = 'Error: ' + e; });
  });
})();
