/* The task page: a two-image compare (side by side, or one over the other with a slider), and a
   reload when the task's stage changes (from the task's SSE stream; no polling). */
(function () {
  "use strict";
  function original(id) { return "/assets/" + id + "/original"; }

  var a = document.getElementById("cmp-a");
  if (a) {
    var b = document.getElementById("cmp-b");
    var side = document.getElementById("cmp-side");
    var slider = document.getElementById("cmp-slider");
    var range = document.getElementById("cmp-range");
    var top = document.getElementById("cmp-slide-a");
    var show = function () {
      document.getElementById("cmp-side-a").src = original(a.value);
      document.getElementById("cmp-side-b").src = original(b.value);
      top.src = original(a.value);
      document.getElementById("cmp-slide-b").src = original(b.value);
      var mode = document.querySelector('input[name="cmp-mode"]:checked').value;
      side.hidden = mode !== "side";
      slider.hidden = mode !== "slider";
    };
    var clip = function () { top.style.clipPath = "inset(0 " + (100 - Number(range.value)) + "% 0 0)"; };
    [a, b].forEach(function (el) { el.addEventListener("change", show); });
    document.querySelectorAll('input[name="cmp-mode"]').forEach(function (el) { el.addEventListener("change", show); });
    range.addEventListener("input", clip);
    show();
    clip();
  }

  var live = document.getElementById("task-live");
  var TERMINAL = ["succeeded", "failed", "canceled", "timed_out", "terminated"];
  if (live && window.EventSource && TERMINAL.indexOf(live.dataset.status) < 0 && live.dataset.stage !== "awaiting_review") {
    var source = new EventSource(live.dataset.events);
    source.addEventListener("status", function (event) {
      var view = JSON.parse(event.data);
      if (view.stage !== live.dataset.stage || view.status !== live.dataset.status) {
        live.dataset.stage = view.stage || "";
        live.dataset.status = view.status;
        if (TERMINAL.indexOf(view.status) >= 0 || view.stage === "awaiting_review") { source.close(); window.location.reload(); }
      }
    });
    source.addEventListener("end", function () { source.close(); });
  }
})();
