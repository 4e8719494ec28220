// Exports (issue 13): the gallery's Export panel starts an export through the JSON API with the
// gallery's filters and follows it until its download link is ready; the exports page follows
// its running rows the same way. The session cookie authenticates, X-CSRF-Token guards the POST.
// The Export button is disabled while its POST is out, and each click sends one Idempotency-Key
// (a retried request is the same export). An answer that is not JSON (a proxy's 502 page) shows
// a visible error instead of freezing the status.
(function () {
  "use strict";
  const TERMINAL = new Set(["succeeded", "failed", "canceled", "timed_out", "terminated", "expired"]);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " kB";
  }

  // crypto.randomUUID needs a secure context (https or localhost); getRandomValues does not.
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // The JSON body of `response`, or null when it is not JSON (a proxy's error page).
  async function jsonOf(response) {
    try {
      return await response.json();
    } catch (err) {
      return null;
    }
  }

  function failure(response, e) {
    if (e && e.error && e.error.message) return e.error.message;
    return "the server answered " + response.status + (response.statusText ? " " + response.statusText : "") +
      "; try again shortly";
  }

  function describe(e) {
    if (e.status === "running") return "running " + e.progress.done + "/" + e.progress.total;
    if (e.error) return e.status + " (" + e.error.code + ": " + e.error.message + ")";
    return e.status;
  }

  async function follow(id, show) {
    for (;;) {
      let response, e;
      try {
        response = await fetch("/api/v1/exports/" + id, { credentials: "same-origin" });
        e = await jsonOf(response);
      } catch (err) {
        response = null;
      }
      if (!response || !response.ok || !e) {
        const message = response ? failure(response, e) : "the server cannot be reached; try again shortly";
        show({ status: "error", error: { code: response ? "http_" + response.status : "network", message: message } });
        return;
      }
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
      const button = document.getElementById("export-start");
      if (button.disabled) return;
      button.disabled = true;
      const key = newKey();
      status.textContent = "starting…";
      try {
        let response;
        try {
          response = await fetch("/api/v1/projects/" + form.dataset.project + "/exports", {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Idempotency-Key": key },
            body: JSON.stringify(body),
          });
        } catch (err) {
          status.textContent = "Export failed: the server cannot be reached; try again shortly";
          return;
        }
        const e = await jsonOf(response);
        if (!response.ok || !e) { status.textContent = "Export failed: " + failure(response, e); return; }
        follow(e.id, panelShow(status));
      } finally {
        button.disabled = false;
      }
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
