// nats-trace HTML page: details on hover, click, Enter and Space; the copy button. The data
// is JSON in <script type="application/json" class="nt-data"> (escaped for <script>), shown
// with textContent only. Problems (script errors, blocked requests) are recorded on <html>
// for the browser tests.
"use strict";
(function () {
  var root = document.documentElement;
  var problems = [];
  function problem(text) {
    problems.push(String(text));
    root.setAttribute("data-problems", problems.join(" | "));
  }
  window.addEventListener("error", function (e) { problem("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) { problem("rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    problem("blocked: " + e.blockedURI + " (" + e.violatedDirective + ")");
  });

  var data = {};
  document.querySelectorAll("script.nt-data").forEach(function (s) {
    var part = JSON.parse(s.textContent);
    Object.keys(part).forEach(function (k) { data[k] = part[k]; });
  });

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function list(title, rows) {
    var box = document.createDocumentFragment();
    if (!rows || !rows.length) { return box; }
    if (title) { box.appendChild(el("h4", title)); }
    var dl = el("dl");
    rows.forEach(function (r) { dl.appendChild(el("dt", r[0])); dl.appendChild(el("dd", r[1])); });
    box.appendChild(dl);
    return box;
  }
  function show(scope, id) {
    var d = data[id];
    var body = scope.querySelector(".detail-body");
    if (!d || !body) { return; }
    body.textContent = "";
    body.appendChild(el("h4", d.t));
    body.appendChild(list(null, d.r));
    body.appendChild(list("Headers", d.h));
    if (d.e && d.e.length) {
      var ul = el("ul", undefined, "errs");
      d.e.forEach(function (x) { ul.appendChild(el("li", x)); });
      body.appendChild(el("h4", "Errors"));
      body.appendChild(ul);
    }
    scope.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
    scope.querySelectorAll('[data-node="' + id + '"]').forEach(function (n) { n.classList.add("selected"); });
  }
  function scopeOf(node) { return node.closest(".trace") || document; }
  var pinned = null;
  function target(e) { return e.target.closest ? e.target.closest("[data-node]") : null; }
  document.addEventListener("mouseover", function (e) {
    var t = target(e);
    if (t && !pinned) { show(scopeOf(t), t.getAttribute("data-node")); }
  });
  document.addEventListener("click", function (e) {
    var t = target(e);
    if (t) { pinned = t.getAttribute("data-node"); show(scopeOf(t), pinned); }
  });
  document.addEventListener("keydown", function (e) {
    var t = target(e);
    if (t && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      pinned = t.getAttribute("data-node");
      show(scopeOf(t), pinned);
    }
  });
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () {
      var section = b.closest("section");
      var pre = section.querySelector("pre.tree");
      var done = section.querySelector(".copied");
      function fallback() {
        var range = document.createRange();
        range.selectNodeContents(pre);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
        done.textContent = ok ? "Copied." : "Selected: press Ctrl+C to copy.";
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(pre.textContent).then(function () { done.textContent = "Copied."; }, fallback);
      } else { fallback(); }
    });
  });
  // Show the first server of each trace at once.
  document.querySelectorAll(".trace").forEach(function (scope) {
    var first = scope.querySelector(".graph .node.server[data-node]") || scope.querySelector(".graph [data-node]");
    if (first) { show(scope, first.getAttribute("data-node")); }
  });
  root.setAttribute("data-nodes", String(Object.keys(data).length));
  root.setAttribute("data-ready-ms", performance.now().toFixed(1));
})();
