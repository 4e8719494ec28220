/* Render Studio: the page side of the JSON API. Every state-changing call carries the session's
   CSRF token (X-CSRF-Token); errors show the API's own message next to the field it names. */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /* fetch the JSON API with the session cookie and the CSRF token; resolves {ok, status, data}. */
  async function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var response = await fetch(path, init);
    var data = null;
    var text = await response.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = { error: { code: "http_" + response.status, message: text } }; } }
    return { ok: response.ok, status: response.status, data: data };
  }

  function errorMessage(result) {
    var err = result.data && result.data.error;
    if (!err) return "request failed (HTTP " + result.status + ")";
    return err.message + " (" + err.code + ")";
  }

  function setPath(target, path, value) {
    var parts = path.split(".");
    var node = target;
    for (var i = 0; i < parts.length - 1; i++) { node = node[parts[i]] = node[parts[i]] || {}; }
    node[parts[parts.length - 1]] = value;
  }

  /* The JSON body of a form: data-type int | bool | list (comma-separated) | multi (checked
     boxes); an empty field is left out, or sent as null with data-empty="null"; dotted names nest. */
  function formBody(form) {
    var body = {};
    var multi = {};
    form.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (el) {
      if (el.disabled) return;
      var type = el.dataset.type || "";
      if (type === "multi") {
        multi[el.name] = multi[el.name] || [];
        if (el.checked) multi[el.name].push(el.value);
        return;
      }
      if (type === "bool") { setPath(body, el.name, el.checked); return; }
      var raw = el.value.trim();
      if (type === "list") {
        setPath(body, el.name, raw ? raw.split(",").map(function (s) { return s.trim(); }).filter(Boolean) : []);
        return;
      }
      if (raw === "") {
        if (el.dataset.empty === "null") setPath(body, el.name, null);
        return;
      }
      setPath(body, el.name, type === "int" ? Number(raw) : el.value);
    });
    Object.keys(multi).forEach(function (name) { setPath(body, name, multi[name]); });
    return body;
  }

  /* Which field an API error is about: the path of pydantic's first error, else the field
     whose name the message mentions first (model-level rules name their field), else the form. */
  function errorField(form, result) {
    var err = (result.data && result.data.error) || {};
    var names = Array.from(form.querySelectorAll("[data-error-for]")).map(function (el) { return el.dataset.errorFor; });
    var detail = err.details && err.details[0];
    if (detail && detail.loc) {
      var path = detail.loc.filter(function (p) { return p !== "body" && typeof p === "string"; }).join(".");
      for (var i = path.split(".").length; i > 0; i--) {
        var candidate = path.split(".").slice(0, i).join(".");
        if (names.indexOf(candidate) >= 0) return candidate;
      }
    }
    var message = err.message || "";
    var best = "_form", at = Infinity;
    names.forEach(function (name) {
      if (name === "_form") return;
      var match = new RegExp("(^|[^\\w.])" + name.replace(".", "\\.") + "(?![\\w])").exec(message);
      if (match && match.index < at) { best = name; at = match.index; }
    });
    return best;
  }

  function clearErrors(scope) {
    scope.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    scope.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showError(form, result) {
    var field = errorField(form, result);
    var slot = form.querySelector('[data-error-for="' + field + '"]') || form.querySelector('[data-error-for="_form"]');
    if (slot) slot.textContent = errorMessage(result);
    var input = form.querySelector('[name="' + field + '"]');
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }

  function after(then, data) {
    if (!then) return;
    if (then === "reload") { window.location.reload(); return; }
    if (then.indexOf("go:") === 0) {
      window.location.assign(then.slice(3).replace("{id}", data && data.id ? data.id : ""));
    }
  }

  document.addEventListener("submit", async function (event) {
    var form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    clearErrors(form);
    var button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      var result = await api(form.dataset.method || "POST", form.dataset.api, formBody(form));
      if (result.ok) { after(form.dataset.then, result.data); return; }
      showError(form, result);
    } finally {
      if (button) button.disabled = false;
    }
  });

  /* Buttons that call the API: data-api-action (path), data-method (POST), data-body (JSON),
     data-confirm (a question first), data-then (reload | go:/path/{id}). */
  document.addEventListener("click", async function (event) {
    var button = event.target.closest("[data-api-action]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    var scope = button.closest(".actions, figcaption, li, section") || document;
    var slot = scope.querySelector("[data-action-error]");
    if (slot) slot.textContent = "";
    button.disabled = true;
    var body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    var result = await api(button.dataset.method || "POST", button.dataset.apiAction, body);
    button.disabled = false;
    if (result.ok) { after(button.dataset.then, result.data); return; }
    if (slot) slot.textContent = errorMessage(result);
  });

  window.studio = { api: api, csrf: csrf, errorMessage: errorMessage };
})();
