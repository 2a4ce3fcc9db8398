// partnermatch pages: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Live preview of the clinical areas found in a description (profile and needs forms).
  function renderAreas(box, areas) {
    var list = box.querySelector(".chips");
    list.textContent = "";
    if (!areas.length) {
      var none = document.createElement("span");
      none.className = "muted";
      none.textContent = list.getAttribute("data-empty") || "";
      list.appendChild(none);
      return;
    }
    areas.forEach(function (area) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = area.label;
      if (area.evidence && area.evidence.length) chip.title = area.evidence.join(" · ");
      list.appendChild(chip);
      list.appendChild(document.createTextNode(" "));
    });
  }

  function preview(textarea) {
    var box = document.getElementById(textarea.getAttribute("data-preview"));
    if (!box || !window.fetch) return;
    var timer = null, controller = null, last = null;
    function run() {
      var text = textarea.value;
      if (text === last) return;
      last = text;
      if (controller) controller.abort();
      controller = window.AbortController ? new AbortController() : null;
      fetch("/web/preview-areas", {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
        body: JSON.stringify({text: text}),
        signal: controller ? controller.signal : undefined
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          box.hidden = false;
          renderAreas(box, data.areas || []);
        })
        .catch(function () { /* aborted or offline: keep the last preview */ });
    }
    textarea.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 350);
    });
    if (textarea.value.trim()) run();
  }

  document.querySelectorAll("textarea[data-preview]").forEach(preview);

  // Buttons that erase something ask first.
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // After a failed submit, take keyboard and screen-reader focus to the list of problems.
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
})();
