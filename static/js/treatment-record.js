// The treatment record form at the chair (no inline scripts: the CSP forbids them).
//
// - Product first: a line's "Take from" list shows that product's opened vials and lots only,
//   and choosing a product takes its first option (an opened vial before a new one).
// - Only the fields a line needs are shown (and posted): vials for whole sealed vials, the
//   volume for a draw, the technique for an injected route.
// - A scan asks the server what the box is: it selects exactly that lot, or says next to the
//   scan field why it cannot be used and leaves nothing selected. Enter never submits.
// - Every change asks the server's own check (the one that guards the save) and shows its
//   answer in the line it concerns and above the Save button.
// Without JavaScript the form still posts; the server checks everything again on saving.
(function () {
  "use strict";

  const form = document.getElementById("record-form");
  if (!form) return;
  const checkUrl = form.getAttribute("data-check-url");
  const total = form.querySelector('input[name$="-TOTAL_FORMS"]');

  function field(line, name) {
    return line.querySelector('[name="' + line.getAttribute("data-line") + "-" + name + '"]');
  }

  function checked(line, name) {
    const input = line.querySelector('input[name="' + line.getAttribute("data-line") + "-" + name + '"]:checked');
    return input ? input.value : "";
  }

  function show(el, visible) {
    el.hidden = !visible;
    el.querySelectorAll("input, select, textarea").forEach(function (input) {
      input.disabled = !visible;
    });
  }

  function refresh(line) {
    const take = checked(line, "take");
    // The map compares its total with what was drawn: whole vials hold the product's volume.
    const map = line.querySelector("[data-injection-map]");
    const option = take ? line.querySelector('input[name$="-take"][value="' + take + '"]') : null;
    const card = option ? option.closest("[data-vial-volume]") : null;
    if (map && card) map.setAttribute("data-vial-volume", card.getAttribute("data-vial-volume"));
    const kind = take ? take.split(":")[0] : "";
    const source = checked(line, "source") || "sealed";
    const route = (field(line, "route") || {}).value || "";
    line.querySelectorAll("[data-when-take]").forEach(function (el) {
      show(el, kind === "lot");
    });
    line.querySelectorAll('[data-when-source="sealed"]').forEach(function (el) {
      show(el, kind !== "vial" && source === "sealed");
    });
    line.querySelectorAll('[data-when-source="draw"]').forEach(function (el) {
      show(el, kind === "vial" || (kind === "lot" && source === "open_new"));
    });
    line.querySelectorAll('[data-when-route="injected"]').forEach(function (el) {
      show(el, route !== "topical");
    });
  }

  function filterTake(line, chooseFirst) {
    const product = (field(line, "product") || {}).value || "";
    let first = null;
    let keep = false;
    line.querySelectorAll("[data-product-group]").forEach(function (group) {
      const mine = !product || group.getAttribute("data-product-group") === product;
      group.hidden = !mine;
      group.querySelectorAll('input[type="radio"]').forEach(function (radio) {
        if (mine && !first) first = radio;
        if (mine && radio.checked) keep = true;
        if (!mine) radio.checked = false;
      });
    });
    if (chooseFirst && product && !keep && first) first.checked = true;
  }

  function setStatus(line, text, tone) {
    const status = line.querySelector("[data-scan-status]");
    if (!status) return;
    status.textContent = text;
    status.className = "scan-status small" + (tone ? " text-" + tone : "");
    const scan = field(line, "scan");
    if (scan) scan.classList.toggle("is-invalid", tone === "danger");
  }

  function clearTake(line) {
    line.querySelectorAll('input[name$="-take"]').forEach(function (radio) {
      radio.checked = false;
    });
  }

  function resolveScan(line) {
    const scan = field(line, "scan");
    const code = scan.value.trim();
    if (!code) {
      setStatus(line, "", "");
      return;
    }
    const url = new URL(line.getAttribute("data-scan-url"), window.location.href);
    url.searchParams.set("code", code);
    const product = field(line, "product");
    if (product && product.value) url.searchParams.set("product", product.value);
    setStatus(line, "Looking up the box…", "muted");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) {
        if (!answer.ok) {
          clearTake(line);
          setStatus(line, answer.message, "danger");
        } else {
          if (product) product.value = answer.product;
          filterTake(line, false);
          clearTake(line);
          const radio = line.querySelector('input[name$="-take"][value="' + answer.take + '"]');
          if (radio) {
            radio.checked = true;
            setStatus(line, "Selected: " + answer.label + ".", "success");
          } else {
            setStatus(line, answer.label + " can be used; it was not in stock here when this page opened, "
              + "and saving will use it.", "success");
          }
        }
        refresh(line);
        scheduleCheck();
      })
      .catch(function () {
        clearTake(line);
        setStatus(line, "The box could not be looked up (no connection?). Nothing is selected: "
          + "choose the lot from the list, or scan again.", "danger");
        refresh(line);
      });
  }

  function setupLine(line) {
    const product = field(line, "product");
    if (product) {
      product.addEventListener("change", function () {
        // Another product: an earlier scan (and what it said) no longer applies.
        const scanned = field(line, "scan");
        if (scanned) scanned.value = "";
        setStatus(line, "", "");
        filterTake(line, true);
        refresh(line);
      });
    }
    line.addEventListener("change", function (event) {
      const name = event.target.name || "";
      if (name.endsWith("-take")) {
        const scan = field(line, "scan");
        // A lot chosen by hand replaces whatever was scanned.
        if (scan && scan.value) {
          scan.value = "";
          setStatus(line, "", "");
        }
      }
      if (name.endsWith("-take") || name.endsWith("-source") || name.endsWith("-route")) refresh(line);
    });
    const scan = field(line, "scan");
    if (scan) {
      scan.addEventListener("keydown", function (event) {
        // Scanners end with Enter: look the box up instead of submitting the form.
        if (event.key === "Enter") {
          event.preventDefault();
          resolveScan(line);
        }
      });
      scan.addEventListener("change", function () {
        resolveScan(line);
      });
    }
    const remove = line.querySelector("[data-remove-line]");
    if (remove) {
      remove.addEventListener("click", function () {
        clearTake(line);
        if (scan) scan.value = "";
        show(line, false);
        const add = form.querySelector("[data-add-line]");
        if (add) add.focus();
        scheduleCheck();
      });
    }
    filterTake(line, false);
    refresh(line);
  }

  // --- Adding lines -----------------------------------------------------------------------
  const template = form.querySelector("template[data-line-template]");
  const addButton = form.querySelector("[data-add-line]");
  if (template && addButton && total) {
    addButton.addEventListener("click", function (event) {
      event.preventDefault();
      const index = parseInt(total.value, 10) || 0;
      const max = parseInt(addButton.getAttribute("data-max-lines"), 10) || 8;
      if (index >= max) return;
      const html = template.innerHTML.replace(/__prefix__/g, String(index));
      const holder = document.createElement("div");
      holder.innerHTML = html.trim();
      const line = holder.firstElementChild;
      form.querySelector("[data-lines]").appendChild(line);
      total.value = String(index + 1);
      const number = line.querySelector("[data-line-number]");
      const first = parseInt(form.querySelector("[data-lines]").getAttribute("data-first-number"), 10) || 1;
      const shown = form.querySelectorAll("[data-lines] > [data-line]:not([hidden])").length;
      if (number) number.textContent = String(first + shown - 1);
      const remove = line.querySelector("[data-remove-line]");
      if (remove) remove.hidden = false;
      setupLine(line);
      if (window.injectionMapSetup) window.injectionMapSetup(line);
      if (index + 1 >= max) addButton.disabled = true;
      const productField = field(line, "product");
      if (productField) productField.focus();
    });
  }

  // --- Live checks --------------------------------------------------------------------------
  let timer = null;
  let sequence = 0;

  function list(items, tone) {
    const ul = document.createElement("ul");
    ul.className = "mb-1 small text-" + tone;
    items.forEach(function (text) {
      const li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    });
    return ul;
  }

  function render(answer) {
    const general = form.querySelector("[data-record-checks]");
    if (general) {
      general.replaceChildren();
      const messages = answer.general.slice();
      Object.values(answer.errors || {}).forEach(function (errs) {
        messages.push.apply(messages, errs);
      });
      if (messages.length) {
        const p = document.createElement("p");
        p.className = "mb-1 small fw-semibold";
        p.textContent = "Before saving:";
        general.append(p, list(messages, "danger"));
      } else if (answer.ok) {
        const p = document.createElement("p");
        p.className = "mb-1 small text-success";
        p.textContent = "Checked: nothing stops this record from being saved.";
        general.appendChild(p);
      }
    }
    const lines = Array.prototype.slice.call(form.querySelectorAll("[data-lines] > [data-line]"));
    lines.forEach(function (line, k) {
      const box = line.querySelector("[data-line-checks]");
      if (!box) return;
      box.replaceChildren();
      const result = (answer.lines || [])[k];
      if (!result || line.hidden) return;
      const errors = [];
      Object.keys(result.errors || {}).forEach(function (name) {
        if (name === "scan") return; // shown by the scan field itself
        errors.push.apply(errors, result.errors[name]);
      });
      const refusals = errors.concat(result.refusals || []);
      if (refusals.length) box.appendChild(list(refusals, "danger"));
      if ((result.warnings || []).length) box.appendChild(list(result.warnings, "warning-emphasis"));
    });
  }

  function runCheck() {
    if (!checkUrl) return;
    const data = new FormData(form);
    data.set("action", "check");
    const mine = ++sequence;
    fetch(checkUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) {
        if (mine === sequence) render(answer);
      })
      .catch(function () {
        /* The save checks everything again; a failed live check only leaves the old one shown. */
      });
  }

  function scheduleCheck() {
    window.clearTimeout(timer);
    timer = window.setTimeout(runCheck, 400);
  }

  form.addEventListener("change", function (event) {
    if ((event.target.name || "").endsWith("-scan")) return; // the scan lookup checks after it
    scheduleCheck();
  });
  form.addEventListener("keydown", function (event) {
    // Enter in a field never submits: it checks instead (Save is pressed, not typed).
    const el = event.target;
    if (event.key === "Enter" && el.tagName === "INPUT" && el.type !== "submit" && el.type !== "button") {
      event.preventDefault();
      if (!el.hasAttribute("data-lot-scan")) scheduleCheck();
    }
  });

  form.querySelectorAll("[data-lines] > [data-line]").forEach(setupLine);
  scheduleCheck();
})();
