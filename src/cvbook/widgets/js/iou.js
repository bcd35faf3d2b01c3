// IoU widget: two boxes over an image; intersection, union and IoU computed live.
// Model state: image (data URL), image_size [W, H], boxes [[x1, y1, x2, y2], [x1, y1, x2, y2]],
// threshold (the verdict IoU ≥ threshold). Helpers come from common.js.

function render({ model, el: root }) {
  const size = model.get("image_size");
  const names = ["A", "B"];
  const classes = ["cvbook-a", "cvbook-b"];
  const svg = imageSvg(model);
  svg.setAttribute("aria-label", "two boxes over a photo; their intersection is shaded");
  const interRect = svgEl("rect", { class: "cvbook-inter" });
  svg.append(interRect);

  const getBox = (k) => () => model.get("boxes")[k];
  const setBox = (k) => (box) => {
    const boxes = model.get("boxes").map((b) => b.slice());
    boxes[k] = box;
    commitTrait(model, "boxes", boxes);
  };
  const shapes = names.map((label, k) =>
    draggableBox(svg, { get: getBox(k), set: setBox(k), size, label, className: classes[k] })
  );
  svg.append(...shapes);
  const rows = names.map((label, k) => boxInputs({ get: getBox(k), set: setBox(k), size, label, className: classes[k] }));

  const out = {};
  const readout = el("table", { class: "cvbook-readout" });
  for (const [key, text] of [["area_a", "area(A)"], ["area_b", "area(B)"], ["inter", "intersection |A ∩ B|"], ["union", "union |A ∪ B|"], ["iou", "IoU = |A ∩ B| / |A ∪ B|"], ["verdict", ""]]) {
    out[key] = el("td", { "data-role": key });
    const th = el("th", {}, text);
    if (key === "verdict") out.verdictLabel = th;
    readout.append(el("tr", {}, th, out[key]));
  }

  const update = () => {
    const [a, b] = model.get("boxes");
    const t = model.get("threshold");
    const r = boxIoU(a, b);
    const inter = boxIntersection(a, b);
    if (inter) setAttrs(interRect, { x: inter[0], y: inter[1], width: inter[2] - inter[0], height: inter[3] - inter[1], visibility: "visible" });
    else interRect.setAttribute("visibility", "hidden");
    shapes.forEach((s) => s.update());
    rows.forEach((row) => row.update());
    out.area_a.textContent = fmt(boxArea(a), 1);
    out.area_b.textContent = fmt(boxArea(b), 1);
    out.inter.textContent = fmt(r.inter, 1);
    out.union.textContent = fmt(r.union, 1);
    out.iou.textContent = r.iou.toFixed(4);
    out.iou.dataset.value = String(r.iou);
    out.verdictLabel.textContent = `IoU ≥ ${t}?`;
    const ok = r.iou >= t;
    out.verdict.textContent = ok ? "yes: a correct detection" : "no";
    out.verdict.className = ok ? "cvbook-yes" : "cvbook-no";
  };
  model.on("change:boxes", update);
  model.on("change:threshold", update);
  update();

  root.classList.add("cvbook-widget", "cvbook-iou");
  root.replaceChildren(
    el("div", { class: "cvbook-row" }, svg, el("div", { class: "cvbook-side" }, ...rows, readout,
      el("p", { class: "cvbook-help" }, "Drag a box or a corner; or focus a box and use the arrow keys (Shift: 10 px, Alt: resize); or type coordinates.")))
  );
  return () => {
    model.off("change:boxes", update);
    model.off("change:threshold", update);
  };
}

export default { render };
