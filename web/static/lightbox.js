/* The gallery's lightbox: left/right browse, `a` approve, `x` archive, Esc close; download, make
   public or private (with the public link to copy), delete with confirmation, remix, use as
   reference, and the lineage as thumbnails. Changes go through the JSON API. */
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var box = document.getElementById("lightbox");
  if (!grid || !box) return;
  var project = grid.dataset.project;
  var current = null;
  var opener = null;
  var $ = function (id) { return document.getElementById(id); };

  function tiles() { return Array.from(grid.querySelectorAll(".tile")); }

  function fill(tile) {
    current = tile;
    var id = tile.dataset.id;
    $("lb-img").src = "/assets/" + id + "/original";
    $("lb-img").alt = tile.dataset.label;
    $("lb-label").textContent = tile.dataset.label;
    $("lb-state").textContent = tile.dataset.state;
    $("lb-visibility").textContent = tile.dataset.visibility;
    $("lb-size").textContent = tile.dataset.size + " px · " + tile.dataset.type;
    $("lb-download").href = "/assets/" + id + "/download";
    $("lb-remix").href = "/projects/" + project + "/create?remix=" + id;
    $("lb-remix").hidden = !tile.dataset.task;
    $("lb-reference").href = "/projects/" + project + "/create?ref=" + id;
    $("lb-task").href = tile.dataset.task ? "/tasks/" + tile.dataset.task : "#";
    $("lb-task").hidden = !tile.dataset.task;
    var isPublic = tile.dataset.visibility === "public";
    $("lb-visibility-toggle").textContent = isPublic ? "Make private" : "Make public";
    $("lb-public").hidden = !isPublic;
    $("lb-public-url").value = grid.dataset.publicBase + "/api/v1/public/assets/" + id;
    $("lb-error").textContent = "";
    $("lb-lineage").innerHTML = "";
    window.htmx.ajax("GET", "/assets/" + id + "/lineage", { target: "#lb-lineage", swap: "innerHTML" });
  }

  function open(tile) {
    opener = document.activeElement;
    box.hidden = false;
    document.body.classList.add("lb-open");
    fill(tile);
    $("lb-close").focus();
  }

  function close() {
    box.hidden = true;
    document.body.classList.remove("lb-open");
    $("lb-img").removeAttribute("src");
    if (opener && opener.focus) opener.focus();
    current = null;
  }

  function step(delta) {
    var all = tiles();
    var i = all.indexOf(current);
    var next = all[i + delta];
    if (next) fill(next);
  }

  function mark(tile, field, value) {
    tile.dataset[field] = value;
    if (field === "state") {
      tile.className = tile.className.replace(/state-\w+/, "state-" + value);
      tile.querySelector(".badge.state").textContent = value;
    }
  }

  async function patch(changes) {
    var tile = current;
    var result = await window.studio.api("PATCH", "/api/v1/rendered-assets/" + tile.dataset.id, changes);
    if (!result.ok) { $("lb-error").textContent = window.studio.errorMessage(result); return; }
    if (changes.state) mark(tile, "state", result.data.state);
    if (changes.visibility) mark(tile, "visibility", result.data.visibility);
    if (current === tile) fill(tile);
  }

  async function remove() {
    var tile = current;
    if (!window.confirm("Delete this image for good? Its file is removed from storage.")) return;
    var result = await window.studio.api("DELETE", "/api/v1/rendered-assets/" + tile.dataset.id);
    if (!result.ok) { $("lb-error").textContent = window.studio.errorMessage(result); return; }
    var all = tiles();
    var next = all[all.indexOf(tile) + 1] || all[all.indexOf(tile) - 1];
    tile.remove();
    if (next) fill(next); else close();
  }

  grid.addEventListener("click", function (e) {
    var tile = e.target.closest(".tile");
    if (tile) open(tile);
  });
  $("lb-close").addEventListener("click", close);
  $("lb-approve").addEventListener("click", function () { patch({ state: "approved" }); });
  $("lb-archive").addEventListener("click", function () { patch({ state: "archived" }); });
  $("lb-delete").addEventListener("click", remove);
  $("lb-visibility-toggle").addEventListener("click", function () {
    patch({ visibility: current.dataset.visibility === "public" ? "private" : "public" });
  });
  $("lb-copy").addEventListener("click", function () {
    var field = $("lb-public-url");
    field.select();
    if (navigator.clipboard) navigator.clipboard.writeText(field.value).catch(function () {});
    $("lb-copy").textContent = "Copied";
    setTimeout(function () { $("lb-copy").textContent = "Copy"; }, 1500);
  });
  $("lb-lineage").addEventListener("click", function (e) {
    var link = e.target.closest("[data-lineage]");
    if (!link) return;
    var tile = $("tile-" + link.dataset.lineage);
    if (tile) { e.preventDefault(); fill(tile); }
  });
  box.addEventListener("click", function (e) { if (e.target === box) close(); });
  // A field the user types in keeps its keys (a read-only one, like the public link after Copy
  // selected it, does not); Escape always closes; shortcuts with a modifier (Ctrl/Cmd+A select
  // all, Ctrl+X cut, Alt+arrows history) belong to the browser.
  function typing(target) {
    if (!target || !target.matches) return false;
    if (target.isContentEditable) return true;
    return target.matches("textarea, select, input") && !target.readOnly && !target.disabled;
  }

  document.addEventListener("keydown", function (e) {
    if (box.hidden || !current) return;
    if (e.key === "Escape") { e.preventDefault(); close(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) return;
    if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
    else if (e.key === "a") { e.preventDefault(); patch({ state: "approved" }); }
    else if (e.key === "x") { e.preventDefault(); patch({ state: "archived" }); }
  });
})();
