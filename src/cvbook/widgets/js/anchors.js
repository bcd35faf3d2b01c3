// Anchor-box widget (cvbook.detection.anchors.multibox_prior): a feature map of h × w cells over a
// photo; at every cell n + m − 1 anchors, from n sizes s and m ratios r: each size with ratios[0],
// then sizes[0] with each other ratio. An anchor is s/√r of the image high and s·√r·a of it wide,
// with a = h/w of the feature map (convention "d2l": ratio 1 is square only when the map has the
// photo's aspect ratio) or a = H/W of the photo (convention "square": ratio r in the photo's pixels).
// Click a cell to see its anchors (cells count from 0, row then column, as in Python); move the
// ground-truth box to see each anchor's IoU and which anchors are assigned (IoU ≥ threshold, plus
// the best-overlapping anchor, as in d2l). Assigned anchors are drawn as thin outlines so that the
// photo stays readable; only the selected cell's assigned anchors are filled.
// Model state: image, image_size [W, H], feature_size [h, w], sizes, ratios, location [i, j],
// gt_box [x1, y1, x2, y2] (pixels), threshold, convention. Helpers come from common.js.

const ANCHOR_COLORS = ["#1f6fd1", "#e07000", "#c2185b", "#7b1fa2", "#00838f", "#6d4c41", "#455a64", "#9e9d24"];

/** Shapes of the anchors at one cell: [{size, ratio, w, h}] with w, h fractions of the image;
 *  aspectH / aspectW is the feature map's h / w ("d2l") or the photo's H / W ("square"). */
function anchorShapes(sizes, ratios, aspectH, aspectW) {
  const shapes = sizes.map((s) => ({ size: s, ratio: ratios[0] }));
  ratios.slice(1).forEach((r) => shapes.push({ size: sizes[0], ratio: r }));
  return shapes.map((a) => ({ ...a, w: (a.size * Math.sqrt(a.ratio) * aspectH) / aspectW, h: a.size / Math.sqrt(a.ratio) }));
}

const ASSIGNED_STYLE = "fill: none; stroke-opacity: 0.6; stroke-width: 1px;";
const SELECTED_ASSIGNED_STYLE = "fill: rgba(24, 163, 74, 0.18); stroke-opacity: 1; stroke-width: 1.5px;";

/** All anchors in pixels, cell by cell (row-major), d2l's order: Array of [x1, y1, x2, y2]. */
function allAnchors(shapes, fh, fw, W, H) {
  const out = [];
  for (let i = 0; i < fh; i++)
    for (let j = 0; j < fw; j++) {
      const cx = (j + 0.5) / fw, cy = (i + 0.5) / fh;
      for (const a of shapes) out.push([(cx - a.w / 2) * W, (cy - a.h / 2) * H, (cx + a.w / 2) * W, (cy + a.h / 2) * H]);
    }
  return out;
}

/** Indices of the anchors assigned to the single ground-truth box (d2l's assign_anchor_to_bbox). */
function assignedAnchors(ious, threshold) {
  let best = 0;
  ious.forEach((v, k) => {
    if (v > ious[best]) best = k;  // first maximum, like torch.argmax
  });
  const chosen = new Set(ious.flatMap((v, k) => (v >= threshold ? [k] : [])));
  if (ious.length) chosen.add(best);
  return [...chosen].sort((a, b) => a - b);
}

function parseList(text) {
  const values = text.split(/[\s,;]+/).filter(Boolean).map(Number);
  return values.length && values.every((v) => Number.isFinite(v) && v > 0) ? values : null;
}

function render({ model, el: root }) {
  root.classList.add("cvbook-widget", "cvbook-anchors");
  const size = model.get("image_size");
  const [W, H] = size;
  const svg = imageSvg(model);
  svg.setAttribute("aria-label", "anchor boxes over a photo");
  const grid = svgEl("g", {});
  const assignedLayer = svgEl("g", {});
  const anchorLayer = svgEl("g", {});
  const cells = svgEl("rect", { class: "cvbook-cells", x: 0, y: 0, width: W, height: H });
  svg.append(grid, cells, assignedLayer, anchorLayer);
  cells.addEventListener("pointerdown", (event) => {
    const [fh, fw] = model.get("feature_size");
    const p = svgPoint(svg, event);
    commitTrait(model, "location", [clamp(Math.floor((p.y / H) * fh), 0, fh - 1), clamp(Math.floor((p.x / W) * fw), 0, fw - 1)]);
  });
  const gtArgs = { get: () => model.get("gt_box"), set: (b) => commitTrait(model, "gt_box", b), size, label: "ground truth", className: "cvbook-gt" };
  const gt = draggableBox(svg, gtArgs);
  svg.append(gt);
  const gtRow = boxInputs(gtArgs);

  // controls
  const message = el("span", { class: "cvbook-error", role: "status" });
  // first = 1 for sizes (1..16), 0 for cell indices (0..15, as in Python)
  const numSelect = (label, role, max, first, onchange) => {
    const s = el("select", { "data-role": role, "aria-label": label, onchange: (e) => onchange(Number(e.target.value)) },
      ...Array.from({ length: max }, (_, k) => el("option", { value: k + first }, String(k + first))));
    return [el("label", {}, label + " ", s), s];
  };
  const [fhL, fhSel] = numSelect("feature map h", "fh", 16, 1, (v) => {
    commitTrait(model, "feature_size", [v, model.get("feature_size")[1]]);
    commitTrait(model, "location", [Math.min(model.get("location")[0], v - 1), model.get("location")[1]]);
  });
  const [fwL, fwSel] = numSelect("w", "fw", 16, 1, (v) => {
    commitTrait(model, "feature_size", [model.get("feature_size")[0], v]);
    commitTrait(model, "location", [model.get("location")[0], Math.min(model.get("location")[1], v - 1)]);
  });
  const listInput = (label, role) => {
    const input = el("input", { type: "text", size: 14, "data-role": role, "aria-label": label });
    input.addEventListener("change", () => {
      const values = parseList(input.value);
      if (!values) return void (message.textContent = `${label}: positive numbers separated by commas`);
      message.textContent = "";
      commitTrait(model, role, values);
    });
    return [el("label", {}, label + " ", input), input];
  };
  const [sizesL, sizesIn] = listInput("sizes", "sizes");
  const [ratiosL, ratiosIn] = listInput("ratios", "ratios");
  const thr = el("input", { type: "number", min: 0, max: 1, step: 0.05, "data-role": "threshold", "aria-label": "IoU threshold", class: "cvbook-num" });
  thr.addEventListener("change", () => {
    const t = Number(thr.value);
    if (!(t >= 0 && t <= 1)) return void (message.textContent = "threshold: a number in [0, 1]");
    message.textContent = "";
    commitTrait(model, "threshold", t);
  });
  const [rowL, rowSel] = numSelect("cell row", "loc-i", 16, 0, (v) => commitTrait(model, "location", [v, model.get("location")[1]]));
  const [colL, colSel] = numSelect("column", "loc-j", 16, 0, (v) => commitTrait(model, "location", [model.get("location")[0], v]));
  const conv = el("select", { "data-role": "convention", "aria-label": "anchor shapes",
    onchange: (e) => commitTrait(model, "convention", e.target.value) },
    el("option", { value: "d2l" }, "d2l: ratio on the map's grid"),
    el("option", { value: "square" }, "square: ratio in the photo's pixels"));
  const summary = el("p", { "data-role": "summary" });
  const table = el("table", { class: "cvbook-anchors-table", "data-role": "anchors" });

  const update = () => {
    const [fh, fw] = model.get("feature_size");
    const sizes = model.get("sizes"), ratios = model.get("ratios"), t = model.get("threshold");
    const convention = model.get("convention");
    const [li, lj] = model.get("location");
    fhSel.value = fh; fwSel.value = fw; rowSel.value = li; colSel.value = lj; conv.value = convention;
    [...rowSel.options].forEach((o) => (o.disabled = Number(o.value) >= fh));
    [...colSel.options].forEach((o) => (o.disabled = Number(o.value) >= fw));
    if (document.activeElement !== sizesIn) sizesIn.value = sizes.join(", ");
    if (document.activeElement !== ratiosIn) ratiosIn.value = ratios.join(", ");
    if (document.activeElement !== thr) thr.value = t;

    const shapes = convention === "square" ? anchorShapes(sizes, ratios, H, W) : anchorShapes(sizes, ratios, fh, fw);
    const k = shapes.length;
    const anchors = allAnchors(shapes, fh, fw, W, H);
    const box = model.get("gt_box");
    const ious = anchors.map((a) => boxIoU(a, box).iou);
    const assigned = assignedAnchors(ious, t);
    const assignedSet = new Set(assigned);

    grid.replaceChildren(
      ...Array.from({ length: fh - 1 }, (_, i) => svgEl("line", { class: "cvbook-gridline", x1: 0, x2: W, y1: ((i + 1) * H) / fh, y2: ((i + 1) * H) / fh })),
      ...Array.from({ length: fw - 1 }, (_, j) => svgEl("line", { class: "cvbook-gridline", y1: 0, y2: H, x1: ((j + 1) * W) / fw, x2: ((j + 1) * W) / fw }))
    );
    const first = (li * fw + lj) * k;
    assignedLayer.replaceChildren(...assigned.map((a) => {
      const b = anchors[a], selected = a >= first && a < first + k;
      return svgEl("rect", { class: "cvbook-assigned", x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], "data-index": a,
        style: selected ? SELECTED_ASSIGNED_STYLE : ASSIGNED_STYLE });
    }));
    anchorLayer.replaceChildren(
      ...shapes.map((_, q) => {
        const b = anchors[first + q];
        return svgEl("rect", { class: "cvbook-anchor", x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], stroke: ANCHOR_COLORS[q % ANCHOR_COLORS.length] });
      }),
      svgEl("circle", { class: "cvbook-center", cx: ((lj + 0.5) * W) / fw, cy: ((li + 0.5) * H) / fh, r: Math.min(W, H) / 90 })
    );
    gt.update();
    gtRow.update();

    table.replaceChildren(el("tr", {}, ...["", "index", "size", "ratio", "x1", "y1", "x2", "y2", "IoU", "assigned", "w/h px"].map((h) => el("th", {}, h))));
    shapes.forEach((a, q) => {
      const index = first + q, b = anchors[index];
      table.append(el("tr", { "data-index": index },
        el("td", {}, el("span", { class: "cvbook-swatch", style: `background:${ANCHOR_COLORS[q % ANCHOR_COLORS.length]}` })),
        el("td", {}, String(index)), el("td", {}, String(a.size)), el("td", {}, String(a.ratio)),
        ...b.map((v) => el("td", {}, v.toFixed(1))),
        el("td", { "data-role": "iou", "data-value": String(ious[index]) }, ious[index].toFixed(4)),
        el("td", { class: assignedSet.has(index) ? "cvbook-yes" : "" }, assignedSet.has(index) ? "yes" : ""),
        el("td", { "data-role": "pixel-ratio" }, ((b[2] - b[0]) / (b[3] - b[1])).toFixed(2))));
    });
    summary.textContent = `${fh}×${fw} cells × (${sizes.length} + ${ratios.length} − 1) = ${anchors.length} anchors; ` +
      `${assigned.length} assigned to the ground truth (IoU ≥ ${t}, plus the best one: thin green outlines, ` +
      `filled for the selected cell ${li}, ${lj}).`;
    summary.dataset.assigned = assigned.join(",");
  };
  const events = ["feature_size", "sizes", "ratios", "location", "gt_box", "threshold", "convention"].map((k) => `change:${k}`);
  events.forEach((e) => model.on(e, update));

  root.replaceChildren(
    el("div", { class: "cvbook-controls" }, fhL, fwL, sizesL, ratiosL, el("label", {}, "IoU threshold ", thr),
      el("label", {}, "anchor shapes ", conv), message),
    el("div", { class: "cvbook-row" }, svg, el("div", { class: "cvbook-side" },
      el("div", { class: "cvbook-controls" }, rowL, colL), gtRow, summary, table,
      el("p", { class: "cvbook-help" }, "Click a cell (outside the green box) to see its anchors; cells count from 0, " +
        "as in Python. Drag the green box or its corners, or type its coordinates. With d2l's shapes, ratio 1 is " +
        "square only when the feature map has the photo's aspect ratio; choose \"square\" to measure ratios in pixels.")))
  );
  update();
  return () => events.forEach((e) => model.off(e, update));
}

export default { render };
