// Transposed convolution widget: step through "each input element scales the kernel, which is
// added into the output where it lands; overlaps are summed; then `padding` rows and columns are
// removed from every border; `output_padding` more rows and columns are kept at the bottom and right"
// (PyTorch's conv_transpose2d), and see the matrix Uᵀ.
// Model state: input, kernel (lists of rows), stride, padding, output_padding, step (how many input elements,
// in row-major order, have been added so far). Helpers come from common.js.

const TC_PRESETS = {
  "2x2": { label: "lecture: 2×2 ⊛ᵀ 2×2", input: [[0, 1], [2, 3]], kernel: [[0, 1], [2, 3]], stride: 1, padding: 0, output_padding: 0 },
  "16x4": { label: "lecture: the 16×4 matrix", input: [[2, 1], [4, 4]], kernel: [[1, 4, 1], [1, 4, 3], [3, 3, 1]], stride: 1, padding: 0, output_padding: 0 },
  stride2: { label: "×2 upsampling: 3×3, stride 2, padding 1, output padding 1", input: [[1, 2], [3, 4]], kernel: [[1, 1, 1], [1, 1, 1], [1, 1, 1]], stride: 2, padding: 1, output_padding: 1 },
};

/** The full (uncropped) output after adding the first `steps` input elements; `op` extra zero rows
 * and columns at the bottom and right (the output padding). */
function tcPartial(x, k, s, steps, op = 0) {
  const n = x.length, m = x[0].length, kh = k.length, kw = k[0].length;
  const H = (n - 1) * s + kh + op, W = (m - 1) * s + kw + op;
  const out = Array.from({ length: H }, () => new Array(W).fill(0));
  for (let q = 0; q < Math.min(steps, n * m); q++) {
    const i = Math.floor(q / m), j = q % m;
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) out[i * s + a][j * s + b] += x[i][j] * k[a][b];
  }
  return out;
}

/** Remove `p` rows and columns from every border. */
function tcCrop(full, p) {
  return full.slice(p, full.length - p).map((row) => row.slice(p, row.length - p));
}

/** Uᵀ: rows = output elements, columns = input elements (both row-major). */
function tcMatrix(x, k, s, p, op = 0) {
  const n = x.length, m = x[0].length;
  const columns = [];
  for (let q = 0; q < n * m; q++) {
    const onehot = Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => (i * m + j === q ? 1 : 0)));
    columns.push(tcCrop(tcPartial(onehot, k, s, n * m, op), p).flat());
  }
  return columns[0].map((_, r) => columns.map((col) => col[r]));
}

function render({ model, el: root }) {
  root.classList.add("cvbook-widget", "cvbook-tconv");
  const nIn = () => model.get("input").length * model.get("input")[0].length;

  const setMany = (values) => {
    for (const [key, value] of Object.entries(values)) model.set(key, value);
    try {
      model.save_changes();
    } catch (err) {
      // static page: no kernel
    }
  };
  const resizeGrid = (grid, rows, cols, fill) =>
    Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (grid[i] && grid[i][j] !== undefined ? grid[i][j] : fill)));

  // controls
  const presetButtons = Object.entries(TC_PRESETS).map(([name, p]) =>
    el("button", { type: "button", "data-preset": name, onclick: () => setMany({ input: p.input, kernel: p.kernel, stride: p.stride, padding: p.padding, output_padding: p.output_padding, step: 0 }) }, p.label)
  );
  const select = (label, role, options, onchange) => {
    const s = el("select", { "data-role": role, "aria-label": label, onchange: (e) => onchange(Number(e.target.value)) },
      ...options.map((o) => el("option", { value: o }, String(o))));
    return [el("label", {}, label + " ", s), s];
  };
  const [inRowsL, inRows] = select("input rows", "in-rows", [2, 3, 4], (v) => setMany({ input: resizeGrid(model.get("input"), v, model.get("input")[0].length, 1), step: 0 }));
  const [inColsL, inCols] = select("cols", "in-cols", [2, 3, 4], (v) => setMany({ input: resizeGrid(model.get("input"), model.get("input").length, v, 1), step: 0 }));
  const [kSizeL, kSize] = select("kernel", "k-size", [1, 2, 3, 4], (v) => setMany({ kernel: resizeGrid(model.get("kernel"), v, v, 1), step: 0 }));
  const [strideL, strideSel] = select("stride", "stride", [1, 2, 3], (v) => setMany({ stride: v, output_padding: Math.min(model.get("output_padding"), v - 1), step: 0 }));
  const [padL, padSel] = select("padding", "padding", [0, 1, 2, 3], (v) => setMany({ padding: v, step: 0 }));
  const [opL, opSel] = select("output padding", "output-padding", [0, 1, 2], (v) => {
    if (v >= model.get("stride")) {
      message.textContent = `output padding must be smaller than the stride (${model.get("stride")})`;
      opSel.value = model.get("output_padding");
      return;
    }
    message.textContent = "";
    setMany({ output_padding: v, step: 0 });
  });

  const stepBtn = (label, role, f) => el("button", { type: "button", "data-role": role, onclick: () => commitTrait(model, "step", clamp(f(model.get("step")), 0, nIn())) }, label);
  const stepInfo = el("span", { "data-role": "step-info" });
  const stepper = el("div", { class: "cvbook-controls" },
    stepBtn("« start", "first", () => 0), stepBtn("◀ back", "prev", (t) => t - 1), stepBtn("step ▶", "next", (t) => t + 1), stepBtn("end »", "last", () => nIn()), stepInfo);

  const message = el("span", { class: "cvbook-error", role: "status" });
  const panels = el("div", {});
  const matrixBox = el("div", {});

  const gridTable = (grid, { role, editable = false, cls = () => "", onedit = null }) => {
    const table = el("table", { class: "cvbook-grid", "data-role": role });
    grid.forEach((row, i) => {
      const tr = el("tr", {});
      row.forEach((v, j) => {
        const td = el("td", { class: cls(i, j) });
        if (editable) {
          const input = el("input", { type: "number", value: v, step: "any", "aria-label": `${role}[${i}][${j}]` });
          input.addEventListener("change", () => {
            const x = Number(input.value);
            if (!Number.isFinite(x)) return void (message.textContent = "enter a number");
            message.textContent = "";
            onedit(i, j, x);
          });
          td.append(input);
        } else td.textContent = fmt(v, 2);
        tr.append(td);
      });
      table.append(tr);
    });
    return table;
  };
  const panel = (title, content) => el("div", { class: "cvbook-panel" }, el("b", {}, title), content);
  const edit = (name) => (i, j, v) => {
    const g = model.get(name).map((r) => r.slice());
    g[i][j] = v;
    setMany({ [name]: g });
  };

  const update = () => {
    const x = model.get("input"), k = model.get("kernel"), s = model.get("stride"), p = model.get("padding");
    const op = model.get("output_padding") || 0;
    const n = x.length, m = x[0].length, kh = k.length, kw = k[0].length, total = n * m;
    const t = clamp(model.get("step"), 0, total);
    inRows.value = n; inCols.value = m; kSize.value = kh; strideSel.value = s; padSel.value = p; opSel.value = op;
    const H = (n - 1) * s + kh + op, W = (m - 1) * s + kw + op;
    if (H - 2 * p < 1 || W - 2 * p < 1) {
      message.textContent = `padding ${p} removes the whole ${H}×${W} output: choose a smaller padding`;
      return;
    }
    const full = tcPartial(x, k, s, t, op);
    const cur = t > 0 ? [Math.floor((t - 1) / m), (t - 1) % m] : null;  // the element added last
    const landed = (r, c) => cur && r >= cur[0] * s && r < cur[0] * s + kh && c >= cur[1] * s && c < cur[1] * s + kw;
    const cropped = (r, c) => r < p || c < p || r >= H - p || c >= W - p;
    const padded = (r, c) => (r >= H - op || c >= W - op) && !cropped(r, c);
    const done = (i, j) => i * m + j < t;

    stepInfo.textContent = t === 0
      ? `step 0 of ${total}: the output starts at zero`
      : `step ${t} of ${total}: x[${cur[0]}][${cur[1]}] = ${fmt(x[cur[0]][cur[1]], 2)} scales the kernel, added at rows ${cur[0] * s}…${cur[0] * s + kh - 1}, columns ${cur[1] * s}…${cur[1] * s + kw - 1}` + (t === total ? " (done)" : "");

    const scaled = cur ? k.map((row) => row.map((v) => v * x[cur[0]][cur[1]])) : k.map((row) => row.map(() => 0));
    panels.replaceChildren(
      panel(`input ${n}×${m}`, gridTable(x, { role: "input", editable: true, onedit: edit("input"), cls: (i, j) => (cur && i === cur[0] && j === cur[1] ? "cvbook-hot" : done(i, j) ? "cvbook-done" : "") })),
      panel(`kernel ${kh}×${kw}`, gridTable(k, { role: "kernel", editable: true, onedit: edit("kernel") })),
      panel(cur ? `x[${cur[0]}][${cur[1]}] · kernel` : "x · kernel", gridTable(scaled, { role: "scaled", cls: () => (cur ? "cvbook-add" : "") })),
      panel(`sum so far, ${H}×${W}` + (p ? ` (grey: padding ${p}, removed)` : "") + (op ? `, with ${op} output-padding row(s) and column(s)` : ""), gridTable(full, { role: "full", cls: (r, c) => (landed(r, c) ? "cvbook-add" : cropped(r, c) ? "cvbook-crop" : padded(r, c) ? "cvbook-done" : "") })),
      panel(`output ${H - 2 * p}×${W - 2 * p}` + (t < total ? " (partial)" : ""), gridTable(tcCrop(full, p), { role: "output" }))
    );

    // Uᵀ · vec(input) = vec(output), with the column of the current input element highlighted
    const U = tcMatrix(x, k, s, p, op);
    const out = tcCrop(tcPartial(x, k, s, total, op), p).flat();
    const mat = el("table", { class: "cvbook-matrix", "data-role": "matrix" });
    const vecIn = x.flat();
    U.forEach((row, r) => {
      const tr = el("tr", {}, ...row.map((v, q) => el("td", { class: cur && q === t - 1 ? "cvbook-hot" : "" }, fmt(v, 2))));
      tr.append(el("td", {}, r === 0 ? "│" : "│"));
      tr.append(el("td", { "data-role": "vec-in" }, r < vecIn.length ? fmt(vecIn[r], 2) : ""));
      tr.append(el("td", {}, r === Math.floor(U.length / 2) ? "=" : ""));
      tr.append(el("td", { "data-role": "vec-out" }, fmt(out[r], 2)));
      mat.append(tr);
    });
    matrixBox.replaceChildren(
      el("b", {}, `Uᵀ (${U.length}×${vecIn.length}) · vec(input) = vec(output)`), mat
    );
  };

  const events = ["input", "kernel", "stride", "padding", "output_padding", "step"].map((k) => `change:${k}`);
  events.forEach((e) => model.on(e, update));
  root.replaceChildren(
    el("div", { class: "cvbook-controls" }, el("span", {}, "presets:"), ...presetButtons),
    el("div", { class: "cvbook-controls" }, inRowsL, inColsL, kSizeL, strideL, padL, opL, message),
    stepper, panels, matrixBox
  );
  update();
  return () => events.forEach((e) => model.off(e, update));
}

export default { render };
