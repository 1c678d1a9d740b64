// MediSlot's progressive enhancements. Every page works without this script; with it:
// - the browser's time zone is sent along (cookie and hidden `tz` fields), so times are also
//   shown in the viewer's zone;
// - a submitted form shows that its request is in flight and cannot be sent twice (a retry of
//   the same form still carries the same idempotency key);
// - destructive buttons ask first; a hold or a waitlist offer counts down, and says so when it
//   lapses;
// - submitted filters move the focus to the results.
(function () {
  "use strict";

  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    zone = "";
  }
  if (zone) {
    var hadCookie = document.cookie.split("; ").some(function (c) {
      return c.indexOf("medislot_tz=") === 0;
    });
    // Zone names are letters, digits and "/_+-": safe in a cookie as they are.
    if (/^[A-Za-z0-9\/_+-]+$/.test(zone)) {
      document.cookie = "medislot_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
    document.querySelectorAll("input[data-browser-tz]").forEach(function (input) {
      if (!input.value) input.value = zone;
    });
    // The first page ever shown was rendered before the server knew the zone: show it again.
    var shown = document.body.getAttribute("data-tz");
    if (!hadCookie && shown && shown !== zone && document.cookie.indexOf("medislot_tz=") !== -1
        && !sessionStorage.getItem("medislot_tz_reloaded")) {
      sessionStorage.setItem("medislot_tz_reloaded", "1");
      location.reload();
      return;
    }
  }

  // After the filters are submitted, the results are what the visitor came for: focus them, so
  // that the next Tab reaches the first slot. (Without this script the #results fragment moves
  // the starting point of Tab there.)
  if (location.hash === "#results") {
    var results = document.getElementById("results");
    if (results) results.focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (form.getAttribute("data-sent") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "1");
    form.setAttribute("aria-busy", "true");
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    // Not `disabled`: a disabled button's name and value would not be submitted.
    form.querySelectorAll("button").forEach(function (b) {
      b.setAttribute("aria-disabled", "true");
    });
    if (button && button.getAttribute("data-busy-label")) {
      button.textContent = button.getAttribute("data-busy-label");
    }
  });

  // Coming back with the Back button restores the page as it was left: make it usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button").forEach(function (b) { b.removeAttribute("aria-disabled"); });
    });
  });

  // A hold (or a waitlist offer: within its [data-countdown-scope]) counts down.
  document.querySelectorAll("[data-countdown-until]").forEach(function (el) {
    var end = Date.now() + 1000 * parseInt(el.getAttribute("data-countdown-seconds") || "0", 10);
    var scope = el.closest("[data-countdown-scope]") || document;
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      if (left === 0) {
        // Say what the server now says: the hold lapsed; offer to book the slot again.
        el.textContent = el.getAttribute("data-countdown-lapsed")
          || "It was not confirmed in time, so the slot was released.";
        var badge = document.getElementById("booking-status");
        if (badge && scope === document) {
          badge.textContent = "EXPIRED";
          badge.className = "badge badge-EXPIRED";
        }
        scope.querySelectorAll("[data-lapsed-text]").forEach(function (e) {
          e.textContent = e.getAttribute("data-lapsed-text");
        });
        scope.querySelectorAll("[data-while-held]").forEach(function (e) { e.hidden = true; });
        scope.querySelectorAll(".book-again[hidden]").forEach(function (e) { e.hidden = false; });
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = "Held for " + (m ? m + " min " : "") + (s < 10 && m ? "0" : "") + s + " s more. Confirm to keep it.";
      setTimeout(tick, 1000);
    }
    el.setAttribute("aria-live", "polite");
    tick();
  });
})();
