// live.js: the UI's one script. It keeps a page current without a full
// reload: every few seconds it fetches the same page and swaps each section
// marked data-live (by id) whose HTML changed. A section the server sends
// without data-live (a job that is final) is swapped in once more and then
// left alone; when no live section is left, the script stops. Nothing
// else: no inline script, no eval, so the CSP stays script-src 'self'.
// Without it the pages work the same, they just do not refresh.
(function () {
  'use strict';
  var seconds = Number(document.documentElement.dataset.refresh) || 5;
  if (!document.querySelector('[data-live][id]')) {
    return;
  }
  // typing is true while the user is in a form field: a swap would lose it.
  function typing() {
    var a = document.activeElement;
    return a && (a.tagName === 'INPUT' || a.tagName === 'SELECT' || a.tagName === 'TEXTAREA');
  }
  function refresh() {
    if (document.hidden || typing()) {
      return;
    }
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.redirected) { // the session ended: show the login form
        location.assign(r.url);
        return null;
      }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) {
        return;
      }
      var doc = new DOMParser().parseFromString(html, 'text/html');
      document.querySelectorAll('[data-live][id]').forEach(function (old) {
        var fresh = doc.getElementById(old.id);
        if (fresh && fresh.outerHTML !== old.outerHTML) { // outer: data-live itself may have gone
          old.replaceWith(document.importNode(fresh, true));
        }
      });
      document.documentElement.dataset.refreshed = String(Date.now());
      if (!document.querySelector('[data-live][id]')) {
        clearInterval(timer); // nothing here changes any more
      }
    }).catch(function () { /* pushd restarting or offline: next time */ });
  }
  var timer = setInterval(refresh, seconds * 1000);
})();
