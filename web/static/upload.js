/* Drag-and-drop upload of reference images: the API hands out a presigned PUT, the browser puts
   the bytes straight into S3, then asks the API to check and register them as an `upload` asset
   (POST /uploads/{id}/complete). The new asset is ticked as a reference of the task. */
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  if (!zone) return;
  var input = document.getElementById("upload-input");
  var statusList = document.getElementById("upload-status");
  var grid = document.getElementById("ref-grid");
  var project = zone.dataset.project;
  var TYPES = ["image/png", "image/jpeg", "image/webp"];

  function report(file, text, ok) {
    var li = document.createElement("li");
    li.className = ok ? "ok" : "error";
    li.textContent = file.name + ": " + text;
    statusList.appendChild(li);
  }

  function addReference(asset, file) {
    var empty = document.getElementById("no-refs");
    if (empty) empty.remove();
    var label = document.createElement("label");
    label.className = "ref";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = "reference_asset_ids";
    box.dataset.type = "multi";
    box.value = asset.id;
    box.checked = true;
    label.appendChild(box);
    if (asset.thumbnail_url) {
      var img = document.createElement("img");
      img.src = asset.thumbnail_url;
      img.alt = file.name;
      label.appendChild(img);
    } else {
      var ph = document.createElement("span");
      ph.className = "placeholder";
      ph.setAttribute("role", "img");
      ph.setAttribute("aria-label", file.name + " (no thumbnail yet)");
      ph.textContent = "no preview";
      label.appendChild(ph);
    }
    var caption = document.createElement("span");
    caption.className = "muted";
    caption.textContent = "upload";
    label.appendChild(caption);
    grid.prepend(label);
  }

  async function upload(file) {
    var declared = TYPES.indexOf(file.type) >= 0 ? file.type : (file.type || "application/octet-stream");
    var started = await window.studio.api("POST", "/api/v1/projects/" + project + "/uploads",
      { filename: file.name, content_type: declared, byte_size: file.size });
    if (!started.ok) { report(file, window.studio.errorMessage(started), false); return; }
    var put = await fetch(started.data.put_url, { method: "PUT", headers: started.data.put_headers, body: file });
    if (!put.ok) { report(file, "the storage refused the upload (HTTP " + put.status + ")", false); return; }
    var done = await window.studio.api("POST", "/api/v1/uploads/" + started.data.id + "/complete");
    if (!done.ok) { report(file, window.studio.errorMessage(done), false); return; }
    report(file, "uploaded", true);
    addReference(done.data, file);
  }

  function uploadAll(files) {
    return Promise.all(Array.from(files).map(function (f) {
      return upload(f).catch(function (e) { report(f, String(e), false); });
    }));
  }

  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    uploadAll(e.dataTransfer.files);
  });
  zone.addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  input.addEventListener("change", function () { uploadAll(input.files).then(function () { input.value = ""; }); });
})();
