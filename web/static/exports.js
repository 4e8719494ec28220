// Exports (issue 13): the gallery's Export panel starts an export through the JSON API with the
// gallery's filters and follows it until its download link is ready; the exports page follows
// its running rows the same way. The session cookie authenticates, X-CSRF-Token guards the POST.
(function () {
  "use strict";
  const TERMINAL = new Set(["succeeded", "failed", "canceled", "timed_out", "terminated", "expired"]);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " kB";
  }

  function describe(e) {
    if (e.status === "running") return "running " + e.progress.done + "/" + e.progress.total;
    if (e.error) return e.status + " (" + e.error.code + ": " + e.error.message + ")";
    return e.status;
  }

  async function follow(id, show) {
    for (;;) {
      const response = await fetch("/api/v1/exports/" + id, { credentials: "same-origin" });
      const e = await response.json();
      if (!response.ok) { show({ status: "error", error: e.error }); return; }
      show(e);
      if (TERMINAL.has(e.status)) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function panelShow(status) {
    return function (e) {
      status.textContent = describe(e) + " ";
      if (e.url) {
        const link = document.createElement("a");
        link.href = e.url;
        link.id = "export-download";
        link.setAttribute("download", "");
        link.textContent = "Download " + e.format.replace("_", " ") + " (" + sizeText(e.size) + ")";
        status.appendChild(link);
      }
    };
  }

  const form = document.getElementById("export-form");
  if (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const status = document.getElementById("export-status");
      const filters = JSON.parse(form.dataset.filters || "{}");
      const body = { format: document.getElementById("export-format").value };
      if (Object.keys(filters).length) body.filter = filters;
      status.textContent = "starting…";
      const response = await fetch("/api/v1/projects/" + form.dataset.project + "/exports", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
      const e = await response.json();
      if (!response.ok) { status.textContent = e.error ? e.error.message : "the export was refused"; return; }
      follow(e.id, panelShow(status));
    });
  }

  document.querySelectorAll("tr[data-export-id]").forEach(function (row) {
    if (TERMINAL.has(row.dataset.status)) return;
    follow(row.dataset.exportId, function (e) {
      row.querySelector(".export-status").textContent = describe(e);
      if (e.url) {
        const cell = row.querySelector(".export-link");
        cell.innerHTML = "";
        const link = document.createElement("a");
        link.href = e.url;
        link.setAttribute("download", "");
        link.textContent = "Download";
        cell.appendChild(link);
      }
    });
  });
})();
