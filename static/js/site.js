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
