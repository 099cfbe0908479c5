// Treatment record form: a scanned GS1 box code selects the matching lot in the same line.
// The server reads the scan again on saving (products.gs1), so this is only a convenience.
(function () {
  "use strict";

  function lotNumber(text) {
    const t = text.trim();
    const bracketed = t.match(/\(10\)([^(]+)/);
    if (bracketed) return bracketed[1].trim();
    const plain = t.replace(/^\][A-Za-z][0-9A-Za-z]/, "").split(/[\x1d^|~]|<GS>|\{GS\}/);
    for (const part of plain) {
      let rest = part;
      if (/^01\d{14}/.test(rest)) rest = rest.slice(16);
      if (/^17\d{6}/.test(rest)) rest = rest.slice(8);
      if (rest.startsWith("10")) return rest.slice(2);
    }
    return t;
  }

  document.querySelectorAll("input[data-lot-scan]").forEach(function (input) {
    const prefix = input.name.replace(/-scan$/, "");
    const select = document.querySelector('select[name="' + prefix + '-lot"]');
    if (!select) return;
    input.addEventListener("change", function () {
      const number = lotNumber(input.value);
      if (!number) return;
      for (const option of select.options) {
        if (option.text.indexOf("lot " + number + " ") !== -1) {
          select.value = option.value;
          return;
        }
      }
    });
    input.addEventListener("keydown", function (event) {
      // Scanners end with Enter: select the lot instead of submitting the form.
      if (event.key === "Enter") {
        event.preventDefault();
        input.dispatchEvent(new Event("change"));
      }
    });
  });
})();
