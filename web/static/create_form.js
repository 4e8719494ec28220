/* The create form: the asset type's exact output size, its fixed aspect ratio, and image sizes
   offered only by models that take them (the API stays the judge: it refuses what is wrong). */
(function () {
  "use strict";
  var form = document.getElementById("create-form");
  if (!form) return;
  var model = form.querySelector("#f-model");
  var kind = form.querySelector("#f-asset-type");
  var ratio = form.querySelector("#f-ratio");
  var size = form.querySelector("#f-size");
  var out = document.getElementById("output-size");
  var FACTOR = { "": 1, "1K": 1, "2K": 2, "4K": 4 };

  function update() {
    var m = model.selectedOptions[0];
    var t = kind.selectedOptions[0];
    var sizes = (m.dataset.sizes || "").split(",").filter(Boolean);
    size.disabled = sizes.length === 0;
    if (size.disabled) size.value = "";
    var fixedRatio = t.dataset.ratio;
    ratio.disabled = Boolean(fixedRatio);
    if (fixedRatio) ratio.value = fixedRatio;
    var text;
    if (t.dataset.width) {
      text = "Output: " + t.dataset.width + " × " + t.dataset.height + " px (" + fixedRatio + ", resized and cropped)";
    } else {
      var base = JSON.parse(m.dataset.sizes1k || "{}")[ratio.value];
      var f = size.disabled ? 1 : FACTOR[size.value || ""];
      text = base ? "Output: " + base[0] * f + " × " + base[1] * f + " px" : "";
    }
    out.textContent = text;
  }

  [model, kind, ratio, size].forEach(function (el) { el.addEventListener("change", update); });
  update();
})();
