// Receive form: a barcode scanner types a GS1 string into the lot field and usually ends
// with Enter. Catch it, ask the server's parser what it holds, and fill the fields.
// Without JavaScript the server parses the same string when the form is submitted.
(function () {
  "use strict";
  const form = document.getElementById("receive-form");
  if (!form) return;
  const lot = form.querySelector("[data-gs1-scan]");
  const status = document.getElementById("scan-status");
  const url = form.getAttribute("data-scan-url");
  const looksScanned = (v) => /^\(|^\][A-Za-z][0-9A-Za-z]|\x1d|<GS>|^01\d{14}/.test(v.trim());

  function set(id, value) {
    const el = document.getElementById(id);
    if (el && value !== undefined && value !== null && value !== "") {
      el.value = value;
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  async function parse() {
    const code = lot.value;
    if (!looksScanned(code)) return false;
    try {
      const response = await fetch(url + "?code=" + encodeURIComponent(code), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (!response.ok) {
        status.textContent = "Scan not read: " + (data.error || response.status);
        status.className = "small text-danger";
        return true;
      }
      lot.value = data.lot;
      set("id_expiry_date", data.expiry);
      set("id_gtin", data.gtin);
      set("id_serial", data.serial);
      if (data.product) set("id_product", String(data.product));
      status.textContent =
        "Scanned: lot " + (data.lot || "?") + ", expiry " + (data.expiry || "?") +
        (data.product_name ? ", " + data.product_name : data.gtin ? ", GTIN " + data.gtin + " is not in the catalogue" : "");
      status.className = "small text-success";
      const quantity = document.getElementById("id_quantity");
      if (quantity) quantity.focus();
    } catch (err) {
      status.textContent = "The scan could not be checked; it will be read when you submit.";
      status.className = "small text-muted";
      return false;
    }
    return true;
  }

  lot.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && looksScanned(lot.value)) {
      event.preventDefault();
      parse();
    }
  });
  lot.addEventListener("change", parse);
})();
