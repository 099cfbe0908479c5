// Patient type-ahead for the front desk (no inline scripts: the CSP forbids them).
// An input with data-patient-search="<json url>" lists matches as you type.
// data-mode="navigate": each match is a link to the patient.
// data-mode="select": clicking a match fills the hidden input named by data-target.
(function () {
  "use strict";

  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function setup(input) {
    const url = input.getAttribute("data-patient-search");
    const mode = input.getAttribute("data-mode") || "navigate";
    const list = document.getElementById(input.getAttribute("data-results"));
    const status = document.getElementById(input.getAttribute("data-status"));
    let sequence = 0;
    let current = [];

    function clear() {
      list.replaceChildren();
      list.hidden = true;
      current = [];
    }

    function choose(patient) {
      const target = document.getElementById(input.getAttribute("data-target"));
      const chosen = document.getElementById(input.getAttribute("data-chosen"));
      target.value = patient.id;
      chosen.textContent = patient.name + " (born " + patient.born + ")";
      input.value = "";
      clear();
      if (status) status.textContent = patient.name + " chosen";
    }

    function render(results) {
      list.replaceChildren();
      current = results;
      results.forEach(function (patient) {
        const item = document.createElement(mode === "select" ? "button" : "a");
        item.className = "list-group-item list-group-item-action";
        if (mode === "select") {
          item.type = "button";
          item.addEventListener("click", function () { choose(patient); });
        } else {
          item.href = patient.url;
        }
        const name = document.createElement("strong");
        name.textContent = patient.name;
        const meta = document.createElement("span");
        meta.className = "small text-muted ms-2";
        meta.textContent = "born " + patient.born + (patient.phone ? " · " + patient.phone : "") + " · " + patient.location;
        item.append(name, meta);
        list.append(item);
      });
      list.hidden = results.length === 0;
      if (status) {
        status.textContent = results.length ? results.length + " matching patients" : "No matching patient";
      }
    }

    const search = debounce(function () {
      const q = input.value.trim();
      if (q.length < 2) {
        clear();
        return;
      }
      const mine = ++sequence;
      fetch(url + "?q=" + encodeURIComponent(q), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (mine === sequence) render(data.results || []);
        })
        .catch(function () { /* offline: the plain search form still works */ });
    }, 200);

    input.addEventListener("input", search);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        clear();
      } else if (event.key === "Enter" && mode === "select") {
        // Enter picks the first match instead of submitting the booking form.
        event.preventDefault();
        if (current.length) choose(current[0]);
      } else if (event.key === "ArrowDown" && !list.hidden && list.firstElementChild) {
        event.preventDefault();
        list.firstElementChild.focus();
      }
    });
    list.addEventListener("keydown", function (event) {
      const item = event.target;
      if (event.key === "ArrowDown" && item.nextElementSibling) {
        event.preventDefault();
        item.nextElementSibling.focus();
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        (item.previousElementSibling || input).focus();
      } else if (event.key === "Escape") {
        clear();
        input.focus();
      }
    });
  }

  document.querySelectorAll("[data-patient-search]").forEach(setup);
})();
