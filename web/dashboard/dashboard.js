// The dashboard's small progressive layer: every page works without it.
// - A submitted form's button shows that it is busy (aria-busy, its data-busy-label) and cannot be pressed twice.
// - A form with data-confirm asks first.
// - "Copy JSON" copies a JSON viewer's text.
// - A page with a running refresh ([data-pending]) reloads itself every 2 s until the refresh ends.
(function () {
  'use strict';
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    var ask = form.getAttribute('data-confirm');
    if (ask && !window.confirm(ask)) { e.preventDefault(); return; }
    var button = e.submitter || form.querySelector('button[type=submit]');
    if (!button) return;
    if (button.getAttribute('aria-busy') === 'true') { e.preventDefault(); return; }
    button.setAttribute('aria-busy', 'true');
    var label = button.getAttribute('data-busy-label');
    if (label) button.textContent = label;
    // Disabled after the submission has been built (a disabled button's value would not be sent).
    setTimeout(function () { button.disabled = true; }, 0);
  });
  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('[data-copy]');
    if (!b) return;
    var pre = b.parentElement.querySelector('pre');
    if (pre && navigator.clipboard) {
      navigator.clipboard.writeText(pre.textContent).then(function () { b.textContent = 'Copied'; }, function () {});
    }
  });
  // Back from the cache (history navigation): buttons left busy are usable again.
  window.addEventListener('pageshow', function (e) {
    if (!e.persisted) return;
    document.querySelectorAll('button[aria-busy=true]').forEach(function (b) { b.removeAttribute('aria-busy'); b.disabled = false; });
  });
  if (document.querySelector('[data-pending]')) {
    setTimeout(function () { window.location.reload(); }, 2000);
  }
})();
