// Refresh the JavaScript the book serves itself (run in tools/vendor: `npm run vendor`).
// 1. `npm pack` the pinned packages of package.json ("vendored") into a temporary folder and
//    copy only the files the book's pages load (no node_modules);
// 2. copy anywidget's AMD build from the installed anywidget Python package (the version the
//    kernel uses), so that the ipywidgets HTML manager finds "anywidget" in the book.
// static/cvbook-widgets/amd-config.js is ours, not vendored.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
const widgets = resolve("static", "cvbook-widgets");
const mathjax = resolve("static", "mathjax");
const files = {
  "@jupyter-widgets/html-manager": [["package/dist/embed-amd.js", join(widgets, "embed-amd.js")]],
  requirejs: [["package/require.js", join(widgets, "require.js")]],
  // MathJax 3, which Sphinx loads from a CDN by default: the combined component, the fonts it
  // fetches next to itself, and the components it may load on demand.
  mathjax: [
    ["package/LICENSE", join(mathjax, "LICENSE")],
    ["package/es5/tex-mml-chtml.js", join(mathjax, "tex-mml-chtml.js")],
    ["package/es5/output/chtml/fonts/woff-v2", join(mathjax, "output/chtml/fonts/woff-v2")],
    ["package/es5/input/tex/extensions", join(mathjax, "input/tex/extensions")],
    ["package/es5/a11y", join(mathjax, "a11y")],
    ["package/es5/ui", join(mathjax, "ui")],
  ],
};
rmSync(mathjax, { recursive: true, force: true });
const tmp = mkdtempSync(join(tmpdir(), "cvbook-vendor-"));
for (const [name, version] of Object.entries(pkg.vendored)) {
  const tarball = execFileSync("npm", ["pack", `${name}@${version}`, "--silent"], { cwd: tmp, encoding: "utf8" }).trim();
  execFileSync("tar", ["xzf", tarball], { cwd: tmp });
  for (const [from, to] of files[name]) cpSync(join(tmp, from), to, { recursive: true });
  rmSync(join(tmp, "package"), { recursive: true });
}
rmSync(tmp, { recursive: true });
const python = process.env.PYTHON || "../../.venv/bin/python";
const anywidget = execFileSync(python, ["-c", "import anywidget, pathlib; print(pathlib.Path(anywidget.__file__).parent / 'nbextension' / 'index.js')"], { encoding: "utf8" }).trim();
cpSync(anywidget, join(widgets, "anywidget.js"));
console.log("vendored into tools/vendor/static");
