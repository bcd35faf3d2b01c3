// Loaded on book pages that show widgets, after require.js and before the ipywidgets HTML
// manager (see nb_ipywidgets_js in _config.yml): RequireJS finds anywidget's front end next to
// this file, so the manager never falls back to a CDN and the page works offline.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");
  window.requirejs.config({ paths: { anywidget: here + "anywidget" } });
})();
