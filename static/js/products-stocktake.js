// Stock-take count page: a scanner types the box's code into the scan field and ends with
// Enter. Ask the server which row it is (the same GS1 parser as receiving), then focus that
// row's count field. A typed lot number works too, and the count fields never need this.
(function () {
  "use strict";
  const scan = document.getElementById("stocktake-scan");
  if (!scan) return;
  const status = document.getElementById("scan-status");
  const url = scan.getAttribute("data-scan-url");

  function say(text, tone) {
    status.textContent = text;
    status.className = "small mb-0 mt-1 text-" + tone;
  }

  function focusLine(id) {
    const row = document.getElementById("row-" + id);
    if (!row) return false;
    document.querySelectorAll(".count-row.scanned").forEach((el) => el.classList.remove("scanned"));
    row.classList.add("scanned");
    const input = row.querySelector("input");
    row.scrollIntoView({ block: "center" });
    if (input) {
      input.focus();
      input.select();
    }
    return true;
  }

  function localMatch(code) {
    const wanted = code.trim().toLowerCase();
    const row = Array.from(document.querySelectorAll(".count-row")).find(
      (el) => (el.getAttribute("data-lot-number") || "").toLowerCase() === wanted
    );
    return row ? row.getAttribute("data-line") : null;
  }

  async function lookUp() {
    const code = scan.value;
    if (!code.trim()) return;
    try {
      const response = await fetch(url + "?code=" + encodeURIComponent(code), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (!response.ok || !data.lines || !data.lines.length) {
        say(data.error || "This box is not on the count.", "danger");
        const add = document.getElementById("add-lot-code");
        if (data.addable && add) add.value = code;
        scan.select();
        return;
      }
      scan.value = "";
      say("Lot " + data.lot + ": enter the count." + (data.lines.length > 1 ? " (" + data.lines.length + " rows)" : ""), "success");
      focusLine(data.lines[0]);
    } catch (err) {
      const id = localMatch(code);
      if (id && focusLine(id)) {
        scan.value = "";
        say("Lot found: enter the count.", "success");
      } else {
        say("The scan could not be checked; type the count in the lot's row.", "muted");
      }
    }
  }

  scan.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      lookUp();
    }
  });
  // Enter in a count field moves to the next one instead of submitting the form (a tablet
  // keypad's "Go"): counts are saved with the buttons.
  const inputs = Array.from(document.querySelectorAll(".count-input"));
  inputs.forEach((input, i) => {
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const next = inputs[i + 1];
      if (next) {
        next.focus();
        next.select();
      } else {
        scan.focus();
      }
    });
  });
})();
