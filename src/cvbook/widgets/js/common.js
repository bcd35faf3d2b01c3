// Helpers shared by the cvbook widgets. Python prepends this file to each widget's module
// (see cvbook/widgets/_base.py), so every widget stays one self-contained ES module, whether
// anywidget runs it in Jupyter or the static book page runs it from the saved widget state.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an HTML element: el("div", {class: "x"}, child, "text"). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** Create an SVG element. */
function svgEl(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  node.append(...children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** Area of an xyxy box (zero when degenerate). */
function boxArea(b) {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

/** Intersection box of two xyxy boxes, or null when they do not overlap. */
function boxIntersection(a, b) {
  const x1 = Math.max(a[0], b[0]), y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[2], b[2]), y2 = Math.min(a[3], b[3]);
  return x2 > x1 && y2 > y1 ? [x1, y1, x2, y2] : null;
}

/** Intersection area, union area and IoU of two xyxy boxes (IoU 0 when the union is empty). */
function boxIoU(a, b) {
  const inter = boxIntersection(a, b);
  const i = inter ? boxArea(inter) : 0;
  const u = boxArea(a) + boxArea(b) - i;
  return { inter: i, union: u, iou: u > 0 ? i / u : 0 };
}

/** Mouse/pointer position in the SVG's user coordinates (image pixels). */
function svgPoint(svg, event) {
  const p = svg.createSVGPoint();
  p.x = event.clientX;
  p.y = event.clientY;
  return p.matrixTransform(svg.getScreenCTM().inverse());
}

function clamp(x, lo, hi) {
  return Math.min(Math.max(x, lo), hi);
}

/** A number for display: integers as such, other values with `digits` decimals. */
function fmt(x, digits = 4) {
  return Number.isInteger(x) ? String(x) : x.toFixed(digits);
}

/** An SVG showing `model.get("image")` stretched over width × height user units. */
function imageSvg(model, maxWidth = 460) {
  const [w, h] = model.get("image_size");
  const svg = svgEl("svg", {
    viewBox: `0 0 ${w} ${h}`,
    width: Math.min(maxWidth, w),
    class: "cvbook-canvas",
    role: "img",
  });
  svg.append(svgEl("image", { href: model.get("image"), x: 0, y: 0, width: w, height: h, preserveAspectRatio: "none" }));
  return svg;
}

/**
 * A box the reader can move and resize: drag the inside to move, drag a corner to resize;
 * when focused, arrow keys move it by 1 px (Shift: 10 px), Alt+arrows move its bottom-right corner.
 * `get()` returns the current xyxy box, `set(box)` stores a new one (already clamped to the image).
 * Returns the SVG group; call `group.update()` after the box changed.
 */
function draggableBox(svg, { get, set, size, label, className }) {
  const [W, H] = size;
  const minSide = 1;
  const rect = svgEl("rect", { class: `cvbook-box ${className}`, tabindex: 0, role: "button", "aria-label": `${label}: drag to move, arrow keys move, Alt+arrow keys resize` });
  const text = svgEl("text", { class: `cvbook-label ${className}` });
  text.textContent = label;
  const corners = [0, 1, 2, 3].map((k) => svgEl("rect", { class: `cvbook-handle ${className}`, "data-corner": k }));
  const group = svgEl("g", { class: "cvbook-draggable", "data-label": label }, rect, text, ...corners);

  const cornerXY = (b, k) => [k === 0 || k === 3 ? b[0] : b[2], k < 2 ? b[1] : b[3]];
  const hs = Math.max(4, Math.min(W, H) / 40);

  group.update = () => {
    const b = get();
    setAttrs(rect, { x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1] });
    const fs = Math.max(10, Math.min(W, H) / 18);
    // the label sits above the box, or inside it when the box touches the top of the image
    setAttrs(text, { x: b[0] + 3, y: b[1] - 4 >= fs ? b[1] - 4 : b[1] + fs, "font-size": fs });
    corners.forEach((c, k) => {
      const [x, y] = cornerXY(b, k);
      setAttrs(c, { x: x - hs / 2, y: y - hs / 2, width: hs, height: hs });
    });
  };

  const fit = (b) => {
    // keep the box inside the image and at least minSide wide and high; integer pixels
    let [x1, y1, x2, y2] = b.map(Math.round);
    const w = clamp(x2 - x1, minSide, W), h = clamp(y2 - y1, minSide, H);
    x1 = clamp(x1, 0, W - w);
    y1 = clamp(y1, 0, H - h);
    return [x1, y1, x1 + w, y1 + h];
  };
  const resize = (b, k, x, y) => {
    // move corner k to (x, y), the opposite corner stays
    let [x1, y1, x2, y2] = b;
    if (k === 0 || k === 3) x1 = clamp(Math.round(x), 0, x2 - minSide);
    else x2 = clamp(Math.round(x), x1 + minSide, W);
    if (k < 2) y1 = clamp(Math.round(y), 0, y2 - minSide);
    else y2 = clamp(Math.round(y), y1 + minSide, H);
    return [x1, y1, x2, y2];
  };

  let drag = null;
  const onDown = (event, corner) => {
    event.preventDefault();
    event.stopPropagation();
    const p = svgPoint(svg, event);
    drag = { corner, start: [p.x, p.y], box: get().slice() };
    rect.focus({ preventScroll: true });
    window.addEventListener("pointermove", onMove);
    window.addEventListener("pointerup", onUp, { once: true });
  };
  const onMove = (event) => {
    if (!drag) return;
    const p = svgPoint(svg, event);
    const b = drag.box;
    if (drag.corner === null) {
      const dx = p.x - drag.start[0], dy = p.y - drag.start[1];
      set(fit([b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]));
    } else {
      set(resize(b, drag.corner, p.x, p.y));
    }
  };
  const onUp = () => {
    drag = null;
    window.removeEventListener("pointermove", onMove);
  };
  rect.addEventListener("pointerdown", (e) => onDown(e, null));
  corners.forEach((c, k) => c.addEventListener("pointerdown", (e) => onDown(e, k)));
  rect.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? 10 : 1;
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
    if (!d) return;
    event.preventDefault();
    event.stopPropagation(); // keep the arrow keys from Jupyter's own shortcuts
    const b = get();
    if (event.altKey) set(resize(b, 2, b[2] + d[0], b[3] + d[1]));
    else set(fit([b[0] + d[0], b[1] + d[1], b[2] + d[0], b[3] + d[1]]));
  });
  group.update();
  return group;
}

/**
 * Four number inputs x1, y1, x2, y2 for a box. Typing a value and leaving the field (or Enter)
 * calls `set(box)`; invalid boxes (x2 ≤ x1, outside the image) are refused with a message.
 */
function boxInputs({ get, set, size, label, className }) {
  const names = ["x1", "y1", "x2", "y2"];
  const inputs = names.map((n, k) =>
    el("input", { type: "number", step: 1, min: 0, max: size[k % 2], "aria-label": `${label} ${n}`, "data-field": n, class: "cvbook-num" })
  );
  const msg = el("span", { class: "cvbook-error", role: "status" });
  const commit = () => {
    const b = inputs.map((i) => Number(i.value));
    if (b.some((v) => !Number.isFinite(v))) return void (msg.textContent = "enter numbers");
    if (b[2] <= b[0] || b[3] <= b[1]) return void (msg.textContent = "need x1 < x2 and y1 < y2");
    if (b[0] < 0 || b[1] < 0 || b[2] > size[0] || b[3] > size[1]) return void (msg.textContent = `stay inside 0…${size[0]} × 0…${size[1]}`);
    msg.textContent = "";
    set(b);
  };
  inputs.forEach((i) => {
    i.addEventListener("change", commit);
    i.addEventListener("keydown", (e) => e.key === "Enter" && commit());
  });
  const row = el("div", { class: `cvbook-boxrow ${className}`, "data-box": label },
    el("span", { class: `cvbook-swatch ${className}` }), el("b", {}, label), ...names.flatMap((n, k) => [el("label", {}, n, inputs[k])]), msg);
  row.update = () => {
    const b = get();
    inputs.forEach((i, k) => {
      if (document.activeElement !== i) i.value = b[k];
    });
  };
  row.update();
  return row;
}

/** Store `value` in the model and send it to the kernel (a no-op on a static page). */
function commitTrait(model, name, value) {
  model.set(name, value);
  try {
    model.save_changes();
  } catch (err) {
    // no kernel: the static book page keeps the state in the browser
  }
}
