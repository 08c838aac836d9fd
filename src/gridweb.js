// gridweb: live updates. The pages are whole without this script; with it,
// every event of gr:events (server-sent events from /api/events) makes the
// page fetch itself again, at most once a second, and put the new version
// of each element marked data-live in place of the old one. The clock in
// the header ticks. No framework, no inline script, nothing from outside.
"use strict";

(function () {
  var live = document.getElementById("live");
  var clock = document.getElementById("clock");
  var pending = false, busy = false, last = 0;
  var MIN_GAP_MS = 1000, QUIET_REFRESH_MS = 30000;

  function setLive(on, text) {
    if (!live) return;
    live.className = on ? "live on" : "live off";
    live.textContent = text;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelectorAll("[data-live][id]");
    for (var i = 0; i < fresh.length; i++) {
      var old = document.getElementById(fresh[i].id);
      if (old) old.replaceWith(document.importNode(fresh[i], true));
    }
  }

  function refresh() {
    if (busy) { pending = true; return; }
    var wait = last + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      if (!pending) { pending = true; setTimeout(function () { pending = false; refresh(); }, wait); }
      return;
    }
    busy = true;
    last = Date.now();
    fetch(location.href, { headers: { "Accept": "text/html" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(swap)
      .catch(function () { /* the next event or the quiet refresh tries again */ })
      .then(function () {
        busy = false;
        if (pending) { pending = false; refresh(); }
      });
  }

  // the time of the rules' zone (the page says which), whatever the browser's is
  var fmt = null;
  try {
    fmt = new Intl.DateTimeFormat("zh-CN", {
      timeZone: clock && clock.dataset.tz || undefined, month: "numeric", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
    });
  } catch (e) { fmt = null; }

  function tick() {
    if (clock && fmt) clock.textContent = fmt.format(new Date());
  }

  if (document.querySelector("[data-live]") && window.EventSource) {
    var es = new EventSource("/api/events");
    es.onopen = function () { setLive(true, "实时"); refresh(); };
    es.onmessage = function () { refresh(); };
    es.onerror = function () { setLive(false, "重新连接中"); };
    setInterval(refresh, QUIET_REFRESH_MS);
  }
  tick();
  setInterval(tick, 1000);
})();
