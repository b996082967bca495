/* Waits on the sign-in forms (CSP script-src 'self': no inline script).
 *
 * A form whose factor must wait before its next try is rendered with its
 * submit button disabled and a notice carrying data-wait="SECONDS". This
 * counts the notice down ("1 second", "N seconds") and enables the button
 * when the wait is over. Without JavaScript the notice asks to reload the
 * page, and the server refuses a try made too early, saying how long to wait.
 */
(function () {
  "use strict";

  // "1 second" / "N seconds" in the page's language: the notice carries both
  // forms (data-wait-one, data-wait-many with {n}); English without them.
  function words(notice, seconds) {
    var one = notice.getAttribute("data-wait-one") || "1 second";
    var many = notice.getAttribute("data-wait-many") || "{n} seconds";
    return seconds === 1 ? one : many.replace("{n}", String(seconds));
  }

  function countDown(notice) {
    var left = parseInt(notice.getAttribute("data-wait"), 10);
    var form = notice.closest("form");
    var buttons = form ? form.querySelectorAll("button[data-wait-button]") : [];
    var shown = notice.querySelector("[data-wait-words]");
    if (!(left > 0)) left = 0;

    function tick() {
      if (left <= 0) {
        for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
        notice.textContent = notice.getAttribute("data-wait-done") || "You can try again now.";
        return;
      }
      if (shown) shown.textContent = words(notice, left);
      left -= 1;
      window.setTimeout(tick, 1000);
    }
    tick();
  }

  function start() {
    var notices = document.querySelectorAll("[data-wait]");
    for (var i = 0; i < notices.length; i++) countDown(notices[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
