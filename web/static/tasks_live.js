/* The live task list: one EventSource per page (the project's stream); each `task` event carries
   a row rendered by the server, which replaces the task's row or is added on top. */
(function () {
  "use strict";
  var list = document.getElementById("task-list");
  if (!list || !window.EventSource) return;
  var source = new EventSource(list.dataset.stream);
  source.addEventListener("task", function (event) {
    var data = JSON.parse(event.data);
    var holder = document.createElement("ul");
    holder.innerHTML = data.html.trim();
    var row = holder.firstElementChild;
    var old = document.getElementById("task-" + data.id);
    if (old) { old.replaceWith(row); } else { list.prepend(row); }
    var empty = document.getElementById("no-tasks");
    if (empty) empty.remove();
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
