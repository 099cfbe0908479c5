// Signature pad for consent forms (no inline scripts: the CSP forbids them).
// <canvas data-signature-pad data-target="<hidden input id>">: drawing with a finger, stylus
// or mouse (pointer events) writes the PNG data URL into the hidden input after each stroke.
// <button data-signature-clear="<hidden input id>"> clears it.
(function () {
  "use strict";

  function setup(canvas) {
    const target = document.getElementById(canvas.getAttribute("data-target"));
    const form = canvas.closest("form");
    const status = form ? form.querySelector("[data-signature-status]") : null;
    const ctx = canvas.getContext("2d");
    let drawing = false;
    let last = null;
    let inked = false;

    ctx.lineWidth = 2.5;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111";

    function point(event) {
      const rect = canvas.getBoundingClientRect();
      return {
        x: ((event.clientX - rect.left) * canvas.width) / rect.width,
        y: ((event.clientY - rect.top) * canvas.height) / rect.height,
      };
    }

    function save() {
      if (target) target.value = inked ? canvas.toDataURL("image/png") : "";
      if (status) status.textContent = inked ? "Signature captured." : "";
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      last = point(event);
      if (canvas.setPointerCapture) canvas.setPointerCapture(event.pointerId);
      ctx.beginPath();
      ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fill();
      inked = true;
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      event.preventDefault();
      const p = point(event);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      last = p;
    });
    function end() {
      if (!drawing) return;
      drawing = false;
      save();
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    canvas.addEventListener("pointerleave", end);

    document.querySelectorAll('[data-signature-clear="' + canvas.getAttribute("data-target") + '"]').forEach(
      function (button) {
        button.addEventListener("click", function () {
          ctx.clearRect(0, 0, canvas.width, canvas.height);
          inked = false;
          save();
        });
      }
    );
    // A re-displayed form (validation error) starts blank: the signature must be drawn again.
    if (target) target.value = "";
  }

  document.querySelectorAll("canvas[data-signature-pad]").forEach(setup);
})();
