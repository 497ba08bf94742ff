/* The SPARQL editor page: YASGUI on /sparql, examples from /api/examples,
   and a Cytoscape.js drawing of CONSTRUCT/DESCRIBE results. */
(function () {
  "use strict";
  var root = document.getElementById("yasgui");
  if (!root || typeof Yasgui === "undefined") return;
  var status = document.getElementById("query-status");
  var initial = document.getElementById("initial-query").value;
  var prefixes = JSON.parse(root.getAttribute("data-prefixes") || "{}");
  var examples = {};
  var cy = null;

  // YASGUI's share links put the query in the fragment (#query=...): honour them here,
  // since its own URL reading (populateFromUrl) is off: it splits ?query= on ";"
  var shared = new URLSearchParams(window.location.hash.slice(1)).get("query");
  var run = root.getAttribute("data-run") === "true";
  if (shared) { initial = shared; run = true; }
  // an absolute URL: YASGUI's error display does new URL(endpoint)
  var endpoint = new URL(root.getAttribute("data-endpoint"), window.location.href).href;

  var yasgui = new Yasgui(root, {
    requestConfig: { endpoint: endpoint, method: "POST" },
    populateFromUrl: false,
    copyEndpointOnNewTab: false,
    persistenceId: null, /* no stale tabs from localStorage: a fresh load shows our query */
    endpointCatalogueOptions: { getData: function () { return [{ endpoint: endpoint }]; } },
    yasqe: { value: initial, autocompleters: ["prefixes", "variables"], persistenceId: null, showQueryButton: true, consumeShareLink: null },
    yasr: { persistenceId: null, prefixes: prefixes, maxPersistentResponseSize: 0 },
    tabName: "Query",
  });

  function tab() { return yasgui.getTab(); }

  // YASR shows a failed query's error itself; the rejected promise needs no second report
  function runQuery(t) {
    var done = t.query();
    if (done && done.catch) done.catch(function () {});
  }

  function load(query, run) {
    var t = tab();
    t.setQuery(query);
    if (run) runQuery(t);
  }

  function markCurrent(name) {
    document.querySelectorAll(".example").forEach(function (b) {
      if (b.getAttribute("data-name") === name) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    });
  }

  fetch("/api/examples", { headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      data.examples.forEach(function (ex) { examples[ex.name] = ex; });
    });

  document.querySelectorAll(".example").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.getAttribute("data-name");
      var go = function (ex) {
        markCurrent(name);
        status.textContent = ex.title + ": " + ex.description;
        load(ex.query, true);
        if (window.history && window.history.replaceState) window.history.replaceState(null, "", "/query?example=" + encodeURIComponent(name));
      };
      if (examples[name]) go(examples[name]);
      else fetch("/api/examples").then(function (r) { return r.json(); }).then(function (d) {
        d.examples.forEach(function (ex) { examples[ex.name] = ex; });
        if (examples[name]) go(examples[name]);
      });
    });
  });

  // A fresh page shows the server's query (persistence is off, but be explicit).
  if (tab().getQuery() !== initial) tab().setQuery(initial);
  if (run) runQuery(tab());

  yasgui.on("queryResponse", function (_y, t) {
    var yasr = t.getYasr();
    var type = t.getYasqe().getQueryType ? t.getYasqe().getQueryType() : "";
    var section = document.getElementById("construct-graph");
    if (type !== "CONSTRUCT" && type !== "DESCRIBE") { section.hidden = true; return; }
    // YASR parses the response after this event: wait for its results
    var tries = 0;
    (function wait() {
      var bindings = null;
      try { bindings = yasr.results && yasr.results.getBindings(); } catch (e) { bindings = null; }
      if (bindings || tries++ > 40) drawTriples(bindings || []);
      else setTimeout(wait, 50);
    })();
  });

  function short(iri) {
    for (var p in prefixes) {
      if (Object.prototype.hasOwnProperty.call(prefixes, p) && iri.indexOf(prefixes[p]) === 0) return p + ":" + iri.slice(prefixes[p].length);
    }
    return iri;
  }

  function drawTriples(bindings) {
    var section = document.getElementById("construct-graph");
    var note = document.getElementById("construct-note");
    var max = 300;
    var nodes = {};
    var edges = [];
    bindings.slice(0, max).forEach(function (b, i) {
      if (!b.subject || !b.predicate || !b.object) return;
      var s = b.subject.value;
      var o = b.object.type === "literal" ? "lit:" + i : b.object.value;
      nodes[s] = nodes[s] || { data: { id: s, label: short(s), kind: "iri" } };
      if (!nodes[o]) {
        var text = b.object.value;
        nodes[o] = { data: { id: o, label: b.object.type === "literal" ? (text.length > 40 ? text.slice(0, 40) + "…" : text) : short(text), kind: b.object.type === "literal" ? "literal" : "iri" } };
      }
      edges.push({ data: { id: "t" + i, source: s, target: o, label: short(b.predicate.value) } });
    });
    section.hidden = false;
    note.textContent = bindings.length > max ? "Showing the first " + max + " of " + bindings.length + " triples." : bindings.length + " triples.";
    if (cy) cy.destroy();
    cy = cytoscape({
      container: document.getElementById("construct-cy"),
      elements: Object.values(nodes).concat(edges),
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 10, "background-color": "#1f5fa8", color: "#1d2433", "text-valign": "bottom", "text-margin-y": 3, width: 14, height: 14 } },
        { selector: "node[kind = 'literal']", style: { shape: "round-rectangle", "background-color": "#c4c9d2", width: 10, height: 10, "text-valign": "top", "text-margin-y": -3, color: "#5b6475" } },
        { selector: "edge", style: { label: "data(label)", "font-size": 8, width: 1.2, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#9aa3b2", "target-arrow-color": "#9aa3b2", color: "#5b6475", "text-rotation": "autorotate" } },
      ],
      layout: { name: "cose", animate: false, nodeRepulsion: function () { return 400000; }, idealEdgeLength: function () { return 110; }, nodeOverlap: 20, padding: 20 },
    });
  }
})();
