// Injection map of a treatment record's product line (no inline scripts: the CSP forbids them).
// Markup: treatments/includes/injection_map_input.html, one [data-injection-map] per line.
//
// Points are kept as JSON in the line's hidden field (data-field names it):
//   [{"view": "face_front", "x": 0.4213, "y": 0.3312, "volume_ml": "0.02", "depth_mm": "1.0"}]
// x and y are fractions (4 decimals) of the diagrams' common 300 x 360 viewBox; the server reads
// them with treatments.injection_map.parse_map_points. After every change the field gets the new
// JSON and a bubbling "change" event; the line's <prefix>-points input gets the number of points
// and, when every point has the same volume, <prefix>-volume_per_point_ml that volume (both with
// "input" and "change" events), so the form's own scripts see the map like typed values.
//
// The line's inputs are found by name (<prefix>-<name>) inside the closest [data-line] or
// fieldset; any of them may be missing. A topical line (route "topical") marks areas instead of
// points: a tap toggles the area under it and its <prefix>-areas checkbox.
(function () {
  "use strict";

  const WIDTH = 300;
  const HEIGHT = 360;
  const OUTSIDE = "outside the marked regions";
  const SVG_NS = "http://www.w3.org/2000/svg";
  // Movement (CSS px) that turns a press into a drag: a finger wobbles more than a mouse.
  const DRAG_THRESHOLD = { mouse: 4, pen: 6, touch: 8 };
  const STEP = 2; // viewBox units per arrow key; Shift: BIG_STEP
  const BIG_STEP = 10;

  function clamp(value) {
    return Math.min(1, Math.max(0, value));
  }

  // Positions are kept exact while editing (arrow steps add up) and written to 4 decimals.
  function round4(value) {
    return Math.round(clamp(value) * 10000) / 10000;
  }

  // Volumes in thousandths of a mL, so sums are exact ("0.1" + "0.2" is 300, not 0.30000000000000004).
  function thousandths(text) {
    const value = String(text || "").trim();
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value)) return NaN;
    return Math.round(parseFloat(value) * 1000);
  }

  function formatMl(milli) {
    const text = (milli / 1000).toFixed(3);
    return milli % 10 === 0 ? text.slice(0, -1) : text;
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  // The transform from an element's own user space to its <svg>'s viewBox space, read from the
  // transform attributes (no layout needed, so it works on the views not shown).
  function toSvgMatrix(element, svg) {
    const chain = [];
    for (let node = element; node && node !== svg; node = node.parentNode) chain.unshift(node);
    let matrix = new DOMMatrix();
    chain.forEach(function (node) {
      const list = node.transform && node.transform.baseVal;
      const consolidated = list && list.numberOfItems ? list.consolidate() : null;
      if (consolidated) {
        const m = consolidated.matrix;
        matrix = matrix.multiply(new DOMMatrix([m.a, m.b, m.c, m.d, m.e, m.f]));
      }
    });
    return matrix;
  }

  function setup(root) {
    if (root.hasAttribute("data-map-ready")) return; // the script loaded twice, or setup called again
    root.setAttribute("data-map-ready", "");
    const prefix = root.getAttribute("data-prefix") || "";
    const hidden = root.querySelector('input[name="' + root.getAttribute("data-field") + '"]');
    const ui = root.querySelector(".injection-map-ui");
    if (!hidden || !ui) return;
    const scope = root.closest("[data-line], fieldset") || root.closest("form") || document;
    const stage = ui.querySelector(".injection-map-stage");
    const canvases = Array.from(ui.querySelectorAll(".injection-map-canvas"));
    const switcher = Array.from(ui.querySelectorAll("[data-map-view]"));
    const list = ui.querySelector("[data-map-list]");
    const summary = ui.querySelector("[data-map-summary]");
    const warning = ui.querySelector("[data-map-warning]");
    const status = ui.querySelector("[data-map-status]");
    const hint = ui.querySelector("[data-map-hint]");
    const addButton = ui.querySelector("[data-map-add]");
    const idBase = root.id || "map";
    const pointHint = hint.textContent;

    ui.hidden = false;
    root.querySelectorAll(".injection-map-nojs").forEach(function (note) {
      note.hidden = true;
    });

    const views = {};
    const viewOrder = [];
    canvases.forEach(function (svg) {
      const key = svg.getAttribute("data-view");
      viewOrder.push(key);
      views[key] = {
        key: key,
        label: svg.getAttribute("data-label"),
        svg: svg,
        layer: svg.querySelector(".map-points"),
        // Topmost first: the region drawn last wins, as it does on screen.
        regions: Array.from(svg.querySelectorAll("[data-region]"))
          .reverse()
          .map(function (el) {
            return { el: el, label: el.getAttribute("data-region"), area: el.getAttribute("data-area"), inverse: null };
          }),
        areas: Array.from(svg.querySelectorAll(".map-area[data-area]"))
          .reverse()
          .map(function (el) {
            return { el: el, area: el.getAttribute("data-area"), inverse: null };
          }),
      };
    });
    const areaLabels = {};
    canvases.forEach(function (svg) {
      svg.querySelectorAll(".map-area[data-area]").forEach(function (el) {
        const title = el.querySelector("title");
        areaLabels[el.getAttribute("data-area")] = title ? title.textContent : el.getAttribute("data-area");
      });
    });

    let points = [];
    let current = viewOrder[0];
    let selected = null; // the selected point object
    let returnFocus = null; // where Escape on the stage goes back to
    let gesture = null;
    let moveTimer = null;
    const localAreas = new Set(); // areas marked when the line has no area checkboxes

    // --- The line's other inputs ----------------------------------------------------------
    function fieldName(name) {
      return prefix ? prefix + "-" + name : name;
    }
    function input(name) {
      return scope.querySelector('[name="' + fieldName(name) + '"]');
    }
    function setValue(element, value) {
      if (!element || element.value === value) return;
      element.value = value;
      element.dispatchEvent(new Event("input", { bubbles: true }));
      element.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function route() {
      const inputs = scope.querySelectorAll('[name="' + fieldName("route") + '"]');
      for (const element of inputs) {
        if (element.type === "radio" || element.type === "checkbox") {
          if (element.checked) return element.value;
        } else {
          return element.value;
        }
      }
      return "";
    }
    function isTopical() {
      return route() === "topical";
    }
    function areaBox(area) {
      return scope.querySelector(
        'input[type="checkbox"][name="' + fieldName("areas") + '"][value="' + CSS.escape(area) + '"]'
      );
    }
    function markedAreas() {
      const marked = new Set(localAreas);
      scope.querySelectorAll('input[type="checkbox"][name="' + fieldName("areas") + '"]').forEach(function (box) {
        if (box.checked) marked.add(box.value);
      });
      return marked;
    }
    function drawnMilli() {
      const volume = input("volume_ml");
      const typed = volume ? thousandths(volume.value) : NaN;
      if (typed > 0) return typed;
      const vials = input("vials");
      const perVial = parseFloat(root.getAttribute("data-vial-volume") || "");
      const count = vials ? parseInt(vials.value, 10) : NaN;
      if (count > 0 && perVial > 0) return Math.round(count * perVial * 1000);
      return NaN;
    }

    // --- Geometry -------------------------------------------------------------------------
    function hit(shapes, svg, x, y) {
      const point = new DOMPoint(x, y);
      for (const shape of shapes) {
        if (!shape.inverse) shape.inverse = toSvgMatrix(shape.el, svg).inverse();
        if (shape.el.isPointInFill(shape.inverse.transformPoint(point))) return shape;
      }
      return null;
    }
    function regionOf(point) {
      const view = views[point.view];
      if (!view) return { label: OUTSIDE, area: null };
      const found = hit(view.regions, view.svg, point.x * WIDTH, point.y * HEIGHT);
      return found ? { label: found.label, area: found.area } : { label: OUTSIDE, area: null };
    }
    function eventPosition(event, svg) {
      const matrix = svg.getScreenCTM();
      if (!matrix) return null;
      const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
      return { x: clamp(p.x / WIDTH), y: clamp(p.y / HEIGHT) };
    }

    // --- Reading what the form holds --------------------------------------------------------
    function load() {
      let data = [];
      const text = hidden.value.trim();
      if (text) {
        try {
          data = JSON.parse(text);
        } catch (error) {
          data = null;
        }
      }
      if (!Array.isArray(data)) {
        announce("The saved map could not be read; place the points again.");
        data = [];
      }
      data.forEach(function (item) {
        if (!item || !views[item.view] || typeof item.x !== "number" || typeof item.y !== "number") return;
        const point = {
          view: item.view,
          x: clamp(item.x),
          y: clamp(item.y),
          volume: item.volume_ml === null || item.volume_ml === undefined ? "" : String(item.volume_ml),
          depth: item.depth_mm === null || item.depth_mm === undefined ? "" : String(item.depth_mm),
        };
        point.region = regionOf(point);
        points.push(point);
      });
      const first = points[0];
      if (first) current = first.view;
    }

    function write() {
      hidden.value = points.length
        ? JSON.stringify(
            points.map(function (p) {
              return {
                view: p.view,
                x: round4(p.x),
                y: round4(p.y),
                volume_ml: p.volume.trim(),
                depth_mm: p.depth.trim() || null,
              };
            })
          )
        : "";
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
      setValue(input("points"), points.length ? String(points.length) : "");
      const volumes = new Set(points.map(function (p) { return thousandths(p.volume); }));
      const perPoint = input("volume_per_point_ml");
      if (perPoint && points.length && volumes.size === 1) {
        const only = points[0].volume.trim();
        if (thousandths(only) > 0 && thousandths(perPoint.value) !== thousandths(only)) setValue(perPoint, only);
      }
    }

    // --- Drawing --------------------------------------------------------------------------
    function announce(text) {
      // The same words twice in a row are still read out.
      status.textContent = status.textContent === text ? text + "\u00a0" : text;
    }

    function describe(point) {
      return "Point " + (points.indexOf(point) + 1) + " · " + views[point.view].label + " · " + point.region.label;
    }

    function drawPoints() {
      viewOrder.forEach(function (key) {
        views[key].layer.replaceChildren();
      });
      points.forEach(function (point, index) {
        const g = document.createElementNS(SVG_NS, "g");
        g.setAttribute("class", "map-point" + (point === selected ? " is-selected" : "") + (index >= 99 ? " is-long" : ""));
        g.setAttribute("data-index", String(index));
        g.setAttribute("transform", "translate(" + point.x * WIDTH + " " + point.y * HEIGHT + ")");
        const hitArea = document.createElementNS(SVG_NS, "circle");
        hitArea.setAttribute("class", "map-point-hit");
        hitArea.setAttribute("r", "8");
        const dot = document.createElementNS(SVG_NS, "circle");
        dot.setAttribute("class", "map-point-dot");
        dot.setAttribute("r", "6");
        const label = document.createElementNS(SVG_NS, "text");
        label.textContent = String(index + 1);
        g.append(hitArea, dot, label);
        views[point.view].layer.appendChild(g);
        point.node = g;
      });
    }

    function placeNode(point) {
      if (point.node) point.node.setAttribute("transform", "translate(" + point.x * WIDTH + " " + point.y * HEIGHT + ")");
    }

    function drawCounts() {
      switcher.forEach(function (button) {
        const key = button.getAttribute("data-map-view");
        const count = points.filter(function (p) { return p.view === key; }).length;
        button.querySelector("[data-map-count]").textContent = String(count);
        const word = button.querySelector("[data-map-count-word]");
        if (word) word.textContent = count === 1 ? " point" : " points";
      });
    }

    function drawAreas() {
      const topical = isTopical();
      const marked = markedAreas();
      viewOrder.forEach(function (key) {
        views[key].areas.forEach(function (shape) {
          const on = marked.has(shape.area);
          shape.el.classList.toggle("is-marked", topical && on);
          shape.el.classList.toggle("is-cued", !topical && on);
        });
      });
    }

    function drawSummary() {
      warning.hidden = true;
      if (isTopical()) {
        const marked = Array.from(markedAreas()).map(function (a) { return areaLabels[a] || a; });
        summary.textContent = marked.length
          ? "Topical: " + plural(marked.length, "area") + " marked (" + marked.join(", ") + ")"
          : "Topical: no area marked yet.";
        if (points.length) {
          warning.textContent =
            plural(points.length, "injection point") +
            (points.length === 1 ? " stays" : " stay") +
            " on the map; choose an injection route to edit or remove " +
            (points.length === 1 ? "it." : "them.");
          warning.hidden = false;
        }
        return;
      }
      if (!points.length) {
        summary.textContent = "No points on the map yet.";
        return;
      }
      const total = points.reduce(function (sum, p) {
        const milli = thousandths(p.volume);
        return sum + (milli > 0 ? milli : 0);
      }, 0);
      summary.textContent = plural(points.length, "point") + " · " + formatMl(total) + " mL on the map";
      const drawn = drawnMilli();
      if (drawn > 0 && Math.abs(drawn - total) > drawn * 0.1) {
        warning.textContent =
          "The map totals " + formatMl(total) + " mL; " + formatMl(drawn) + " mL is recorded as drawn.";
        warning.hidden = false;
      }
    }

    function field(kind, point, index) {
      const number = index + 1;
      const id = idBase + "-point-" + number + "-" + kind;
      const wrap = document.createElement("div");
      wrap.className = "col-6";
      const label = document.createElement("label");
      label.className = "form-label small mb-0";
      label.htmlFor = id;
      const hiddenText = document.createElement("span");
      hiddenText.className = "visually-hidden";
      hiddenText.textContent = " of point " + number;
      label.append(kind === "volume" ? "Volume" : "Depth", hiddenText, kind === "volume" ? " (mL)" : " (mm)");
      const box = document.createElement("input");
      box.type = "number";
      box.inputMode = "decimal";
      box.step = "any";
      box.min = "0";
      box.className = "form-control";
      box.id = id;
      box.value = kind === "volume" ? point.volume : point.depth;
      box.setAttribute("data-point-field", kind);
      box.setAttribute("aria-describedby", id + "-help");
      const help = document.createElement("div");
      help.className = "invalid-feedback";
      help.id = id + "-help";
      wrap.append(label, box, help);
      return wrap;
    }

    function button(text, action, number, style) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn btn-touch " + style;
      b.setAttribute("data-action", action);
      const extra = document.createElement("span");
      extra.className = "visually-hidden";
      extra.textContent = " point " + number;
      b.append(text, extra);
      return b;
    }

    function decimals(text) {
      const match = /\.(\d*?)0*$/.exec(text.trim());
      return match ? match[1].length : 0;
    }

    // The server's rules (treatments.injection_map), said at once beside the input.
    function problem(kind, text) {
      const value = text.trim();
      const milli = thousandths(value);
      if (kind === "volume") {
        if (!value) return "Enter the volume in mL.";
        if (!(milli > 0)) return "Enter a volume above 0 mL, e.g. 0.02.";
        if (milli > 5000) return "A point takes at most 5 mL.";
        if (decimals(value) > 3) return "At most 3 decimals, e.g. 0.025.";
        return "";
      }
      if (!value) return "";
      if (!(milli > 0)) return "Enter a depth above 0 mm, or leave it empty.";
      if (milli > 10000) return "At most 10 mm.";
      if (decimals(value) > 2) return "At most 2 decimals, e.g. 1.25.";
      return "";
    }

    function check(box) {
      const message = problem(box.getAttribute("data-point-field"), box.value);
      box.classList.toggle("is-invalid", Boolean(message));
      box.setAttribute("aria-invalid", message ? "true" : "false");
      const help = document.getElementById(box.getAttribute("aria-describedby"));
      if (help) help.textContent = message;
    }

    function drawList() {
      list.replaceChildren();
      if (isTopical()) {
        list.setAttribute("aria-label", "Areas marked");
        Array.from(markedAreas()).forEach(function (area) {
          const li = document.createElement("li");
          li.className = "map-item d-flex align-items-center gap-2";
          li.setAttribute("data-area", area);
          const name = document.createElement("span");
          name.className = "flex-grow-1";
          name.textContent = areaLabels[area] || area;
          const unmark = document.createElement("button");
          unmark.type = "button";
          unmark.className = "btn btn-touch btn-outline-secondary";
          unmark.setAttribute("data-action", "unmark");
          const extra = document.createElement("span");
          extra.className = "visually-hidden";
          extra.textContent = " " + (areaLabels[area] || area);
          unmark.append("Unmark", extra);
          li.append(name, unmark);
          list.appendChild(li);
        });
        return;
      }
      list.setAttribute("aria-label", "Points on the map");
      points.forEach(function (point, index) {
        const number = index + 1;
        const li = document.createElement("li");
        li.className = "map-item" + (point === selected ? " is-selected" : "");
        li.setAttribute("data-index", String(index));
        const head = document.createElement("div");
        head.className = "d-flex align-items-start gap-1 mb-1";
        const title = document.createElement("p");
        title.className = "map-item-label flex-grow-1 mb-0";
        title.textContent = describe(point);
        head.append(
          title,
          button("Move", "move", number, "btn-outline-secondary btn-sm"),
          button("Remove", "remove", number, "btn-outline-danger btn-sm")
        );
        const row = document.createElement("div");
        row.className = "row g-2";
        row.append(field("volume", point, index), field("depth", point, index));
        li.append(head, row);
        list.appendChild(li);
        li.querySelectorAll("[data-point-field]").forEach(check);
        point.item = li;
      });
    }

    function drawMode() {
      const topical = isTopical();
      root.classList.toggle("is-topical", topical);
      addButton.hidden = topical;
      hint.textContent = topical
        ? "Topical line: tap an area of the diagram to mark it treated; tap it again to unmark it. The line's area boxes follow."
        : pointHint;
    }

    function drawAll() {
      drawMode();
      drawPoints();
      drawCounts();
      drawAreas();
      drawList();
      drawSummary();
    }

    function showView(key) {
      if (!views[key]) return;
      current = key;
      canvases.forEach(function (svg) {
        svg.classList.toggle("is-current", svg.getAttribute("data-view") === key);
      });
      switcher.forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-map-view") === key ? "true" : "false");
      });
      stage.setAttribute("aria-label", "Injection map, " + views[key].label);
      if (selected && selected.view !== key) select(null);
    }

    function select(point) {
      selected = point;
      points.forEach(function (p) {
        if (p.node) p.node.classList.toggle("is-selected", p === point);
        if (p.item) p.item.classList.toggle("is-selected", p === point);
      });
      if (point && point.node) point.node.parentNode.appendChild(point.node); // on top of its neighbours
    }

    // --- Changes --------------------------------------------------------------------------
    function tickArea(area) {
      if (!area) return "";
      const box = areaBox(area);
      if (box && !box.checked) {
        box.checked = true;
        box.dispatchEvent(new Event("change", { bubbles: true }));
        return "; " + (areaLabels[area] || area) + " ticked in the areas";
      }
      return "";
    }

    function addPoint(x, y, view) {
      const volume = input("volume_per_point_ml");
      const depth = input("depth_mm");
      const point = {
        view: view,
        x: x,
        y: y,
        volume: volume ? volume.value.trim() : "",
        depth: depth ? depth.value.trim() : "",
      };
      point.region = regionOf(point);
      points.push(point);
      selected = point;
      const ticked = tickArea(point.region.area);
      write();
      drawAll();
      announce(
        "Point " + points.length + " added at " + point.region.label + ticked +
          (point.volume ? "." : "; it has no volume yet: enter it in the list.")
      );
      return point;
    }

    function removePoint(point) {
      const index = points.indexOf(point);
      if (index < 0) return -1;
      points.splice(index, 1);
      if (selected === point) selected = null;
      write();
      drawAll();
      announce("Point " + (index + 1) + " removed." + (index < points.length ? " The points after it are renumbered." : ""));
      return index;
    }

    function movedTo(point) {
      point.region = regionOf(point);
      const ticked = tickArea(point.region.area);
      if (point.item) point.item.querySelector(".map-item-label").textContent = describe(point);
      write();
      drawSummary();
      return ticked;
    }

    function toggleArea(area) {
      const label = areaLabels[area] || area;
      const box = areaBox(area);
      let on;
      if (box) {
        box.checked = !box.checked;
        on = box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      } else {
        on = !localAreas.has(area);
        if (on) localAreas.add(area);
        else localAreas.delete(area);
        drawAreas();
        drawList();
        drawSummary();
      }
      announce(label + (on ? " marked." : " unmarked."));
    }

    function centreOf(view) {
      const main = view.svg.querySelector("[data-main]") || view.svg.querySelector(".map-area");
      if (!main) return { x: 0.5, y: 0.5 };
      const box = main.getBBox();
      const centre = new DOMPoint(box.x + box.width / 2, box.y + box.height / 2).matrixTransform(
        toSvgMatrix(main, view.svg)
      );
      return { x: centre.x / WIDTH, y: centre.y / HEIGHT };
    }

    function freeSpot(view) {
      // Repeated "Add a point" presses fan out instead of stacking on one spot.
      const centre = centreOf(views[view]);
      for (let ring = 0; ring < 40; ring += 1) {
        const angle = ring * 2.4;
        const radius = ring ? 8 + ring * 2 : 0;
        const x = clamp(centre.x + (Math.cos(angle) * radius) / WIDTH);
        const y = clamp(centre.y + (Math.sin(angle) * radius) / HEIGHT);
        const taken = points.some(function (p) {
          return p.view === view && Math.hypot((p.x - x) * WIDTH, (p.y - y) * HEIGHT) < 8;
        });
        if (!taken) return { x: x, y: y };
      }
      return { x: clamp(centre.x), y: clamp(centre.y) };
    }

    // --- Pointer: tap to place (or to mark an area), drag to move ----------------------------
    canvases.forEach(function (svg) {
      svg.addEventListener(
        "touchstart",
        function (event) {
          // A touch that starts on a point drags it; it must not scroll the page.
          if (event.target.closest && event.target.closest(".map-point") && !isTopical()) event.preventDefault();
        },
        { passive: false }
      );
      svg.addEventListener("pointerdown", function (event) {
        if (gesture || (event.pointerType === "mouse" && event.button !== 0)) return;
        // Focus for the arrow keys, without the keyboard focus ring a tap does not need.
        stage.classList.add("is-pointer");
        stage.focus({ preventScroll: true });
        returnFocus = null;
        const node = isTopical() ? null : event.target.closest(".map-point");
        const point = node ? points[Number(node.getAttribute("data-index"))] : null;
        gesture = {
          id: event.pointerId,
          svg: svg,
          x: event.clientX,
          y: event.clientY,
          point: point,
          from: point ? { x: point.x, y: point.y } : null,
          dragging: false,
          threshold: DRAG_THRESHOLD[event.pointerType] || 6,
        };
        // Captured, so the press always ends here (capture does not stop a touch scrolling).
        svg.setPointerCapture(event.pointerId);
        if (point) event.preventDefault();
      });
      svg.addEventListener("pointermove", function (event) {
        if (!gesture || event.pointerId !== gesture.id) return;
        if (!gesture.dragging && Math.hypot(event.clientX - gesture.x, event.clientY - gesture.y) > gesture.threshold) {
          gesture.dragging = true;
          if (gesture.point) select(gesture.point);
        }
        if (gesture.dragging && gesture.point) {
          const where = eventPosition(event, svg);
          if (!where) return;
          gesture.point.x = where.x;
          gesture.point.y = where.y;
          placeNode(gesture.point);
        }
      });
      svg.addEventListener("pointerup", function (event) {
        if (!gesture || event.pointerId !== gesture.id) return;
        const done = gesture;
        gesture = null;
        if (done.point) {
          if (done.dragging) {
            const ticked = movedTo(done.point);
            announce("Point " + (points.indexOf(done.point) + 1) + " moved to " + done.point.region.label + ticked + ".");
          } else {
            select(done.point);
            announce(describe(done.point) + " selected.");
          }
          return;
        }
        if (done.dragging) return; // a drag on the background places nothing
        const where = eventPosition(event, svg);
        if (!where) return;
        if (isTopical()) {
          const area = hit(views[current].areas, svg, where.x * WIDTH, where.y * HEIGHT);
          if (area) toggleArea(area.area);
          else announce("No area there.");
        } else {
          addPoint(where.x, where.y, current);
        }
      });
      function cancel(event) {
        // A scroll took the touch over, or the capture was lost: nothing placed, a drag undone.
        if (!gesture || event.pointerId !== gesture.id) return;
        if (gesture.point && gesture.from) {
          gesture.point.x = gesture.from.x;
          gesture.point.y = gesture.from.y;
          placeNode(gesture.point);
        }
        gesture = null;
      }
      svg.addEventListener("pointercancel", cancel);
      svg.addEventListener("lostpointercapture", cancel);
    });

    // --- Keyboard on the diagram ------------------------------------------------------------
    stage.addEventListener("blur", function () {
      stage.classList.remove("is-pointer");
    });
    stage.addEventListener("keydown", function (event) {
      stage.classList.remove("is-pointer");
      if (isTopical()) return;
      const point = selected;
      if (event.key === "Escape") {
        if (point) {
          select(null);
          announce("No point selected.");
        }
        if (returnFocus && document.body.contains(returnFocus)) returnFocus.focus();
        returnFocus = null;
        return;
      }
      const arrows = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"];
      if (!point) {
        if (arrows.indexOf(event.key) >= 0) {
          event.preventDefault();
          announce("No point selected: choose Move beside a point in the list, or Add a point.");
        }
        return;
      }
      if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        removePoint(point);
        return;
      }
      const step = event.shiftKey ? BIG_STEP : STEP;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      const move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      point.x = clamp(point.x + move[0] / WIDTH);
      point.y = clamp(point.y + move[1] / HEIGHT);
      placeNode(point);
      const ticked = movedTo(point);
      clearTimeout(moveTimer);
      // Said once the keys stop, not at every step.
      moveTimer = setTimeout(function () {
        if (points.indexOf(point) >= 0) announce("Point " + (points.indexOf(point) + 1) + " at " + point.region.label + ticked + ".");
      }, 500);
    });

    // --- Buttons and the list ---------------------------------------------------------------
    switcher.forEach(function (b) {
      b.addEventListener("click", function () {
        showView(b.getAttribute("data-map-view"));
      });
    });

    addButton.addEventListener("click", function () {
      const spot = freeSpot(current);
      const point = addPoint(spot.x, spot.y, current);
      returnFocus = addButton;
      stage.focus();
      announce(
        "Point " + points.length + " added at " + point.region.label + ". Arrow keys move it; Escape goes back." +
          (point.volume ? "" : " It has no volume yet.")
      );
    });

    list.addEventListener("click", function (event) {
      const action = event.target.closest("[data-action]");
      if (!action) return;
      const item = action.closest(".map-item");
      if (action.getAttribute("data-action") === "unmark") {
        const area = item.getAttribute("data-area");
        const index = Array.from(list.children).indexOf(item);
        toggleArea(area);
        const buttons = list.querySelectorAll('[data-action="unmark"]');
        (buttons[Math.min(index, buttons.length - 1)] || stage).focus();
        return;
      }
      const point = points[Number(item.getAttribute("data-index"))];
      if (!point) return;
      if (action.getAttribute("data-action") === "remove") {
        const index = removePoint(point);
        const removeButtons = list.querySelectorAll('[data-action="remove"]');
        (removeButtons[Math.min(index, removeButtons.length - 1)] || addButton).focus();
      } else {
        showView(point.view);
        select(point);
        returnFocus = action;
        stage.focus();
        announce(describe(point) + " selected. Arrow keys move it; Delete removes it; Escape goes back.");
      }
    });

    list.addEventListener("input", function (event) {
      const box = event.target;
      const kind = box.getAttribute("data-point-field");
      const item = box.closest(".map-item");
      const point = item ? points[Number(item.getAttribute("data-index"))] : null;
      if (!kind || !point) return;
      if (kind === "volume") point.volume = box.value;
      else point.depth = box.value;
      check(box);
      write();
      drawSummary();
    });

    list.addEventListener("focusin", function (event) {
      const item = event.target.closest(".map-item[data-index]");
      if (item) select(points[Number(item.getAttribute("data-index"))] || null);
    });

    // --- The rest of the line ---------------------------------------------------------------
    function watched(event) {
      const name = event.target && event.target.name;
      if (!name) return;
      if (name === fieldName("route")) {
        select(null);
        drawAll();
      } else if (name === fieldName("areas")) {
        drawAreas();
        if (isTopical()) drawList();
        drawSummary();
      } else if (name === fieldName("volume_ml") || name === fieldName("vials")) {
        drawSummary();
      }
    }
    scope.addEventListener("input", watched);
    scope.addEventListener("change", watched);
    new MutationObserver(drawSummary).observe(root, { attributes: true, attributeFilter: ["data-vial-volume"] });

    load();
    showView(current);
    drawAll();
  }

  // Lines added to the page later (a cloned line form) are set up by calling this with their
  // container; maps already set up are left alone.
  window.injectionMapSetup = function (container) {
    (container || document).querySelectorAll("[data-injection-map]").forEach(setup);
  };
  window.injectionMapSetup(document);
})();
