// Guided photo capture at the chair (no inline scripts: the CSP forbids them).
// The tablet's camera (rear by default, switchable) is shown with the patient's earlier photo
// of the chosen view as a ghost of adjustable opacity, a rule-of-thirds grid and face-thirds
// guides. "Take photo" grabs the frame at the camera's full resolution and posts it to the
// server, which stores it exactly as an upload (orientation, metadata stripped, renditions,
// hash, consent and audit). Without a camera, or if permission is refused, the page says so
// and points to the file upload.
(function () {
  "use strict";

  const root = document.querySelector("[data-capture]");
  if (!root) return;
  const $ = function (sel) { return root.querySelector(sel); };
  const ui = $("[data-capture-ui]");
  const video = $("[data-capture-video]");
  const ghost = $("[data-capture-ghost]");
  const guides = $("[data-capture-guides]");
  const note = $("[data-capture-baseline-note]");
  const status = $("[data-capture-status]");
  const opacity = $("[data-capture-opacity]");
  const shoot = $("[data-capture-shoot]");
  const switchButton = $("[data-capture-switch]");
  const canvas = $("[data-capture-canvas]");
  const token = root.querySelector('input[name="csrfmiddlewaretoken"]');
  let stream = null;
  let facing = "environment";
  let busy = false;

  $("[data-capture-nojs]").hidden = true;

  function fallback(text) {
    ui.hidden = true;
    const box = $("[data-capture-fallback]");
    $("[data-capture-fallback-text]").textContent = text;
    box.hidden = false;
  }

  function say(text, tone) {
    status.textContent = text;
    status.className = "small" + (tone ? " text-" + tone : "");
  }

  function currentView() {
    return root.querySelector('input[name="capture-view"]:checked');
  }

  function showBaseline() {
    const view = currentView();
    const url = view ? view.getAttribute("data-baseline-url") : null;
    if (url) {
      ghost.src = url;
      ghost.alt = "";
      ghost.hidden = false;
      note.textContent = "Ghost: " + view.getAttribute("data-label") + ", "
        + view.getAttribute("data-baseline-tag").toLowerCase() + " photo of "
        + view.getAttribute("data-baseline-when") + ".";
    } else {
      ghost.hidden = true;
      ghost.removeAttribute("src");
      note.textContent = view ? "No earlier " + view.getAttribute("data-label") + " photo: this one becomes the baseline." : "";
    }
    ghost.style.opacity = String((parseInt(opacity.value, 10) || 0) / 100);
  }

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
  }

  function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      fallback("This browser gives the page no camera (it needs a secure connection and camera support).");
      return;
    }
    stop();
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: { ideal: facing }, width: { ideal: 4096 }, height: { ideal: 3072 } }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        ui.hidden = false;
        return video.play();
      })
      .catch(function (error) {
        const refused = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
        fallback(refused ? "The camera was not allowed." : "No camera is available.");
      });
  }

  function taken(view, answer) {
    const badge = root.querySelector('[data-taken="' + view + '"]');
    if (badge) badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1);
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = answer.detail;
    const img = document.createElement("img");
    img.src = answer.thumb;
    img.alt = answer.view + ", " + answer.tag.toLowerCase();
    img.className = "capture-thumb";
    a.appendChild(img);
    li.appendChild(a);
    $("[data-capture-taken]").appendChild(li);
  }

  function nextView() {
    // Move on to the next view not taken yet, so a sitting runs through the views in order.
    const views = Array.prototype.slice.call(root.querySelectorAll('input[name="capture-view"]'));
    const here = views.indexOf(currentView());
    for (let k = 1; k <= views.length; k++) {
      const candidate = views[(here + k) % views.length];
      const badge = root.querySelector('[data-taken="' + candidate.value + '"]');
      if (badge && badge.textContent === "0") {
        candidate.checked = true;
        showBaseline();
        return;
      }
    }
  }

  shoot.addEventListener("click", function () {
    if (busy || !stream || !video.videoWidth) {
      say("The camera is not ready yet.", "danger");
      return;
    }
    const view = currentView();
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    busy = true;
    shoot.disabled = true;
    say("Saving the photo…", "muted");
    canvas.toBlob(function (blob) {
      const data = new FormData();
      data.append("photo", blob, "capture-" + view.value + ".jpg");
      data.append("view", view.value);
      data.append("tag", $("[data-capture-tag]").value);
      data.append("area", $("[data-capture-area]").value);
      fetch(root.getAttribute("data-upload-url"), {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "", Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
        })
        .then(function (result) {
          if (result.ok && result.answer.ok) {
            taken(view.value, result.answer);
            say("Saved: " + result.answer.view + ", " + result.answer.tag.toLowerCase() + ".", "success");
            nextView();
          } else {
            say("Not saved: " + (result.answer.error || "the server refused the photo."), "danger");
          }
        })
        .catch(function () {
          say("Not saved: the photo could not be sent (no connection?). Take it again.", "danger");
        })
        .finally(function () {
          busy = false;
          shoot.disabled = false;
        });
    }, "image/jpeg", 0.92);
  });

  switchButton.addEventListener("click", function () {
    facing = facing === "environment" ? "user" : "environment";
    start();
  });
  root.addEventListener("change", function (event) {
    if (event.target.name === "capture-view") showBaseline();
  });
  opacity.addEventListener("input", function () {
    $("[data-capture-opacity-value]").textContent = opacity.value;
    showBaseline();
  });
  $("[data-capture-grid]").addEventListener("change", function (event) {
    guides.classList.toggle("d-none", !event.target.checked);
  });
  window.addEventListener("pagehide", stop);

  showBaseline();
  start();
})();
