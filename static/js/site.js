// Site behaviour without inline scripts (the CSP forbids them).
document.addEventListener("submit", function (event) {
  const form = event.target;
  const message = form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
// Select elements marked data-autosubmit submit their form on change (filters).
document.addEventListener("change", function (event) {
  const el = event.target;
  if (el.matches && el.matches("[data-autosubmit]") && el.form) {
    el.form.requestSubmit();
  }
});
// Buttons marked data-print print the page (the print stylesheet lays it out).
document.addEventListener("click", function (event) {
  const button = event.target.closest ? event.target.closest("[data-print]") : null;
  if (button) {
    event.preventDefault();
    window.print();
  }
});
// An error summary ([data-error-summary], tabindex="-1") takes the focus when the page opens, so
// a screen reader reads it first and the keyboard starts from its links to the fields.
(function () {
  const summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
})();
