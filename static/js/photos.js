// Photo pages (no inline scripts: the CSP forbids them).
// Upload: one row per chosen file (preview, before/after, view, area) with ids tag-<i>, view-<i>,
// area-<i> in the order of the file input, plus drag and drop onto the drop zone.
// A row's field shows the batch choice and follows it until the user changes that field; only
// then does it get a name and is submitted. An untouched field is not sent, so the server uses
// the batch choice as it is at submit time (never a stale copy of it).
// Compare: the view select submits its form; the range input wipes between the two photos.
(function () {
  "use strict";

  function readChoices(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : [];
  }

  function makeSelect(name, id, label, choices, selected) {
    const wrap = document.createElement("div");
    wrap.className = "col-sm-4";
    const lab = document.createElement("label");
    lab.className = "form-label small";
    lab.htmlFor = id;
    lab.textContent = label;
    const select = document.createElement("select");
    select.className = "form-select form-select-sm";
    select.id = id;
    select.setAttribute("data-follows", name.split("-")[0]);
    select.setAttribute("data-own-name", name);
    choices.forEach(function (choice) {
      const option = document.createElement("option");
      option.value = choice[0];
      option.textContent = choice[1];
      option.selected = choice[0] === selected;
      select.appendChild(option);
    });
    wrap.append(lab, select);
    return wrap;
  }

  function setupUpload(input) {
    const form = input.form;
    const rows = document.getElementById(input.getAttribute("data-rows"));
    const tags = readChoices(input.getAttribute("data-tags"));
    const views = readChoices(input.getAttribute("data-views"));
    const previews = [];

    function defaults() {
      return {
        tag: form.elements.tag ? form.elements.tag.value : "",
        view: form.elements.view ? form.elements.view.value : "",
        area: form.elements.area ? form.elements.area.value : "",
      };
    }

    function render() {
      previews.splice(0).forEach(URL.revokeObjectURL);
      rows.replaceChildren();
      const d = defaults();
      Array.from(input.files).forEach(function (file, i) {
        const box = document.createElement("fieldset");
        box.className = "photo-row border rounded p-2 mb-2";
        const legend = document.createElement("legend");
        legend.className = "h6 mb-1 text-break";
        legend.textContent = "Photo " + (i + 1) + ": " + file.name;
        const row = document.createElement("div");
        row.className = "row g-2 align-items-end";
        const thumb = document.createElement("div");
        thumb.className = "col-12 col-md-2";
        if (file.type.indexOf("image/") === 0) {
          const img = document.createElement("img");
          const url = URL.createObjectURL(file);
          previews.push(url);
          img.src = url;
          img.alt = "Preview of " + file.name;
          img.className = "photo-preview";
          // Browsers cannot preview HEIC; the server still accepts it.
          img.addEventListener("error", function () { img.hidden = true; });
          thumb.appendChild(img);
        }
        const fields = document.createElement("div");
        fields.className = "col-12 col-md-10 row g-2";
        const area = document.createElement("div");
        area.className = "col-sm-4";
        const areaLabel = document.createElement("label");
        areaLabel.className = "form-label small";
        areaLabel.htmlFor = "area-" + i;
        areaLabel.textContent = "Area";
        const areaInput = document.createElement("input");
        areaInput.className = "form-control form-control-sm";
        areaInput.id = "area-" + i;
        areaInput.setAttribute("data-follows", "area");
        areaInput.setAttribute("data-own-name", "area-" + i);
        areaInput.maxLength = 80;
        areaInput.value = d.area;
        area.append(areaLabel, areaInput);
        fields.append(
          makeSelect("tag-" + i, "tag-" + i, "Before, after or follow-up", tags, d.tag),
          makeSelect("view-" + i, "view-" + i, "View", views, d.view),
          area
        );
        row.append(thumb, fields);
        box.append(legend, row);
        rows.appendChild(box);
      });
      rows.querySelectorAll("[data-follows]").forEach(function (field) {
        function own() {
          // The user's own choice for this photo: submit it, stop following the batch choice.
          field.name = field.getAttribute("data-own-name");
        }
        field.addEventListener("change", own);
        field.addEventListener("input", own);
      });
    }

    // A change of the batch choice updates every row field the user has not set themselves.
    function follow(event) {
      const source = event.target;
      if (!source.name || ["tag", "view", "area"].indexOf(source.name) < 0) return;
      rows.querySelectorAll('[data-follows="' + source.name + '"]').forEach(function (field) {
        if (!field.name) field.value = source.value;
      });
    }

    input.addEventListener("change", render);
    form.addEventListener("change", follow);
    form.addEventListener("input", follow);

    const zone = input.closest("[data-photo-drop]");
    if (zone && window.DataTransfer) {
      ["dragenter", "dragover"].forEach(function (type) {
        zone.addEventListener(type, function (event) {
          event.preventDefault();
          zone.classList.add("is-dragging");
        });
      });
      ["dragleave", "drop"].forEach(function (type) {
        zone.addEventListener(type, function () { zone.classList.remove("is-dragging"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        const transfer = new DataTransfer();
        Array.from(input.files).forEach(function (f) { transfer.items.add(f); });
        Array.from(event.dataTransfer.files).forEach(function (f) { transfer.items.add(f); });
        input.files = transfer.files;
        render();
      });
    }
    if (input.files && input.files.length) render();
  }

  function setupOverlay(range) {
    const box = document.getElementById(range.getAttribute("data-overlay-range"));
    const top = box && box.querySelector("[data-overlay-top]");
    if (!top) return;
    function update() {
      const value = Number(range.value);
      // CSSOM, not a style attribute: allowed by the CSP.
      top.style.clipPath = "inset(0 " + (100 - value) + "% 0 0)";
      range.setAttribute("aria-valuetext", value + "% earlier");
    }
    range.addEventListener("input", update);
    update();
  }

  document.querySelectorAll("[data-photo-input]").forEach(setupUpload);
  document.querySelectorAll("[data-overlay-range]").forEach(setupOverlay);
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      // A new view: let the server pick its default pair.
      ["left", "right"].forEach(function (name) {
        const field = select.form.elements[name];
        if (field) field.disabled = true;
      });
      select.form.submit();
    });
  });
})();
