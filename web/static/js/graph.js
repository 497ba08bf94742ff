/* The graph explorer: Cytoscape.js over /api/graph/* (all graph logic on the server). */
(function () {
  "use strict";
  var container = document.getElementById("cy");
  if (!container || typeof cytoscape === "undefined") return;

  var COLORS = {
    Therapy: "#1f5fa8", TumorType: "#8e44ad", Barrier: "#c0392b", Toxicity: "#d35400",
    Strategy: "#1e7a46", Antigen: "#b7950b", MechanisticAttribute: "#5b6475", Other: "#95a5a6",
  };
  var SHAPES = {
    Therapy: "round-rectangle", TumorType: "ellipse", Barrier: "diamond", Toxicity: "triangle",
    Strategy: "hexagon", Antigen: "tag", MechanisticAttribute: "rectangle", Other: "ellipse",
  };
  // Relation labels come from the server (the ontology's rdfs:label, /api/graph/options).
  var RELATION_LABELS = {};
  var CATEGORY_LABELS = {
    Therapy: "therapy", TumorType: "tumor type", Barrier: "barrier", Toxicity: "toxicity", Strategy: "strategy",
    Antigen: "antigen", MechanisticAttribute: "mechanistic attribute", Other: "other",
  };

  var style = [
    { selector: "node", style: {
      label: "data(label)", "font-size": 11, "text-wrap": "wrap", "text-max-width": 120, "text-valign": "bottom",
      "text-margin-y": 4, color: "#1d2433", "text-outline-color": "#ffffff", "text-outline-width": 2,
      width: 22, height: 22, "border-width": 1, "border-color": "#ffffff" } },
    { selector: "node[role = 'center'], node[role = 'therapy'], node[role = 'from'], node[role = 'to']",
      style: { "border-width": 4, "border-color": "#14213d", width: 30, height: 30, "font-weight": "bold" } },
    { selector: "node:selected", style: { "overlay-color": "#ffd54a", "overlay-opacity": 0.35, "overlay-padding": 6 } },
    { selector: "edge", style: {
      width: "mapData(weight, 0, 8, 1, 9)", "curve-style": "bezier", "target-arrow-shape": "triangle",
      "line-color": "#a7b0bf", "target-arrow-color": "#a7b0bf", opacity: 0.85, "arrow-scale": 0.9 } },
    { selector: "edge[weight = 0]", style: { "line-style": "dashed", width: 1.5 } },
    { selector: "edge[relation = 'facesBarrier']", style: { "line-color": "#e3a39b", "target-arrow-color": "#e3a39b" } },
    { selector: "edge[relation = 'addressesBarrier']", style: { "line-color": "#8cc7a4", "target-arrow-color": "#8cc7a4" } },
    { selector: "edge[relation = 'subClassOf']", style: { "line-style": "dashed", width: 1.5, "target-arrow-shape": "triangle-tee" } },
    { selector: "edge:selected, edge.hover", style: { label: "data(relationLabel)", "font-size": 10, "text-rotation": "autorotate",
      "text-background-color": "#ffffff", "text-background-opacity": 0.9, "line-color": "#14213d", "target-arrow-color": "#14213d" } },
  ];
  Object.keys(COLORS).forEach(function (cat) {
    style.push({ selector: "node[category = '" + cat + "']", style: { "background-color": COLORS[cat], shape: SHAPES[cat] } });
  });

  var cy = cytoscape({ container: container, elements: [], style: style, minZoom: 0.2, maxZoom: 3 });
  window.tkgGraph = cy; // for the browser tests and the console
  var details = document.getElementById("details");
  var notice = document.getElementById("graph-notice");
  var titleEl = document.getElementById("graph-title");
  var countEl = document.getElementById("graph-count");
  var depthEl = document.getElementById("depth");

  // -- helpers -------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function api(path, params) {
    var qs = new URLSearchParams(params || {});
    return fetch(path + "?" + qs.toString(), { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || r.statusText);
        return body;
      });
    });
  }

  function filterParams() {
    var p = new URLSearchParams();
    document.querySelectorAll("#filter-modality input:checked").forEach(function (i) { p.append("modality", i.value); });
    document.querySelectorAll("#filter-relation input:checked").forEach(function (i) { p.append("relation", i.value); });
    var tumor = document.querySelector("input[name=tumor]:checked");
    if (tumor && tumor.value) p.set("tumor", tumor.value);
    var level = document.getElementById("filter-level").value;
    if (level) p.set("level", level);
    var from = document.getElementById("filter-year-from").value;
    var to = document.getElementById("filter-year-to").value;
    if (from) p.set("year_from", from);
    if (to) p.set("year_to", to);
    return p;
  }

  function withFilters(extra) {
    var p = filterParams();
    Object.keys(extra).forEach(function (k) { p.set(k, extra[k]); });
    return p;
  }

  function showNotice(text) {
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  function updateCount() {
    var n = cy.nodes().length, m = cy.edges().length;
    countEl.textContent = n + " nodes, " + m + " edges";
    countEl.setAttribute("data-nodes", String(n));
    countEl.setAttribute("data-edges", String(m));
  }

  function prepare(elements) {
    elements.forEach(function (e) {
      if (e.group === "edges") e.data.relationLabel = RELATION_LABELS[e.data.relation] || e.data.relation;
    });
    return elements;
  }

  function layout(fit) {
    cy.layout({ name: "cose", animate: false, fit: fit !== false, padding: 30, nodeRepulsion: function () { return 9000; },
      idealEdgeLength: function () { return 80; }, randomize: false }).run();
  }

  var CATEGORY_ORDER = ["Therapy", "Barrier", "Strategy", "Toxicity", "TumorType", "Antigen", "MechanisticAttribute", "Other"];
  function byCategory(a, b) {
    var d = CATEGORY_ORDER.indexOf(a.data("category")) - CATEGORY_ORDER.indexOf(b.data("category"));
    return d || (a.data("label") < b.data("label") ? -1 : 1);
  }

  function rings() {
    // the searched node in the middle, its neighbors around it grouped by colour, the next step further out
    var nodes = cy.nodes().sort(byCategory);
    nodes.layout({ name: "concentric", fit: true, padding: 30, minNodeSpacing: 34, animate: false, startAngle: Math.PI / 2,
      concentric: function (n) { return 10 - (n.data("distance") || 0); }, levelWidth: function () { return 1; } }).run();
  }

  function columns() {
    // therapy (and products) | barriers faced | strategies, left to right; strategies placed beside their barriers
    var gap = 44;
    var left = cy.nodes("[role = 'therapy'], [role = 'product']").sort(byCategory);
    var barriers = cy.nodes("[role = 'barrier']").sort(function (a, b) { return a.data("label") < b.data("label") ? -1 : 1; });
    var strategies = cy.nodes("[role = 'strategy']");
    var height = Math.max(left.length, barriers.length, strategies.length) * gap;
    function place(nodes, x) {
      var step = nodes.length > 1 ? height / nodes.length : 0;
      nodes.forEach(function (n, i) { n.position({ x: x, y: step * (i + 0.5) }); });
    }
    place(left, 0);
    place(barriers, 380);
    var y = {};
    strategies.forEach(function (n) {
      var ys = n.outgoers("node").map(function (b) { return b.position("y"); });
      y[n.id()] = ys.length ? ys.reduce(function (a, b) { return a + b; }, 0) / ys.length : 0;
    });
    place(strategies.sort(function (a, b) { return y[a.id()] - y[b.id()]; }), 760);
    cy.fit(undefined, 30);
  }

  function replace(elements, title, how) {
    cy.elements().remove();
    cy.add(prepare(elements));
    if (how === "rings") rings(); else if (how !== "none") layout(true);
    titleEl.textContent = title;
    updateCount();
  }

  function add(elements, around) {
    var fresh = prepare(elements).filter(function (e) { return cy.getElementById(e.data.id).empty(); });
    var nodes = fresh.filter(function (e) { return e.group === "nodes"; });
    var edges = fresh.filter(function (e) { return e.group === "edges"; });
    // new neighbors go on a ring around the node that was expanded, away from the middle of the drawing
    var c = around.position();
    var mid = cy.nodes().boundingBox();
    var away = Math.atan2(c.y - (mid.y1 + mid.y2) / 2, c.x - (mid.x1 + mid.x2) / 2);
    var many = nodes.length > 8;
    var radius = many ? 40 + 9 * nodes.length : 110;
    var spread = many ? 2 * Math.PI : Math.PI;
    // a big ring sits outside the drawing, beside the expanded node; a few nodes fan out from it
    var shift = many ? radius + 70 : 0;
    var o = { x: c.x + shift * Math.cos(away), y: c.y + shift * Math.sin(away) };
    nodes.forEach(function (n, i) {
      var angle = away + Math.PI - spread / 2 + spread * (i + 0.5) / nodes.length + (many ? 0 : Math.PI);
      n.position = { x: o.x + radius * Math.cos(angle), y: o.y + radius * Math.sin(angle) };
    });
    cy.add(nodes);
    cy.add(edges.filter(function (e) { return !cy.getElementById(e.data.source).empty() && !cy.getElementById(e.data.target).empty(); }));
    cy.animate({ fit: { eles: cy.elements(), padding: 30 }, duration: 250 });
    updateCount();
    return nodes.length;
  }

  // -- views ---------------------------------------------------------------------
  function neighborhood(id, label) {
    showNotice("");
    return api("/api/graph/neighborhood", withFilters({ id: id, depth: depthEl.value })).then(function (data) {
      replace(data.elements, "Neighborhood of " + data.label + " (" + data.depth + (data.depth === 1 ? " step" : " steps") + ")", "rings");
      if (data.capped) showNotice("Only the " + data.max_nodes + " most strongly linked nodes are shown (the neighborhood is larger).");
      var center = cy.getElementById(data.center);
      center.select();
      showNode(center);
      if (window.history && window.history.replaceState) window.history.replaceState(null, "", "/graph?id=" + encodeURIComponent(id));
    }).catch(function (err) { showNotice(err.message); });
  }

  function expand(node) {
    var before = cy.nodes().length;
    return api("/api/graph/neighborhood", withFilters({ id: node.id(), depth: 1 })).then(function (data) {
      var added = add(data.elements, node);
      showNotice(added ? "Added " + added + " neighbors of " + node.data("label") + "." :
        "All neighbors of " + node.data("label") + " are already shown" + (filterParams().toString() ? " (with these filters)." : "."));
      if (data.capped) showNotice("Added the " + (cy.nodes().length - before) + " most strongly linked neighbors of " + node.data("label") + " (capped at " + data.max_nodes + ").");
    }).catch(function (err) { showNotice(err.message); });
  }

  function strategies(id) {
    showNotice("");
    return api("/api/graph/strategies", withFilters({ therapy: id })).then(function (data) {
      replace(data.elements, "Barriers of " + data.label + " and the strategies that address them", "none");
      columns();
      showStrategyList(data);
      if (!data.barriers.length) showNotice("No barrier of " + data.label + " is recorded" + (filterParams().toString() ? " with these filters." : "."));
    }).catch(function (err) { showNotice(err.message); });
  }

  function path(from, to) {
    showNotice("");
    return api("/api/graph/path", withFilters({ from: from, to: to })).then(function (data) {
      if (!data.connected) {
        showNotice("No path links these two entities" + (filterParams().toString() ? " with these filters." : "."));
        return;
      }
      replace(data.elements, "Shortest paths (" + data.length + " steps) from " + data.paths[0][0].label + " to " + data.paths[0][data.paths[0].length - 1].label, "none");
      cy.layout({ name: "breadthfirst", roots: cy.nodes("[role = 'from']"), padding: 30, spacingFactor: 1.1 }).run();
      details.replaceChildren(el("h2", { text: "Paths" }), el("ol", { className: "path-list" }, data.paths.map(function (p) {
        return el("li", { text: p.map(function (n) { return n.label; }).join(" → ") });
      })), el("p", { className: "muted small", text: data.capped ? "Showing the first " + data.paths.length + " shortest paths." : "All shortest paths (ignoring arrow direction)." }));
    }).catch(function (err) { showNotice(err.message); });
  }

  // -- side panel ------------------------------------------------------------------
  function showNode(node) {
    var d = node.data();
    var actions = el("div", { className: "panel-actions" });
    var expandBtn = el("button", { type: "button", text: "Expand neighbors" });
    expandBtn.addEventListener("click", function () { expand(node); });
    actions.appendChild(expandBtn);
    var centerBtn = el("button", { type: "button", className: "secondary", text: "Center on it" });
    centerBtn.addEventListener("click", function () { neighborhood(d.id, d.label); });
    actions.appendChild(centerBtn);
    if (d.category === "Therapy") {
      var sBtn = el("button", { type: "button", id: "strategies-button", text: "Strategies for its barriers" });
      sBtn.addEventListener("click", function () { strategies(d.id); });
      actions.appendChild(sBtn);
    }
    var degree = node.connectedEdges().length;
    details.replaceChildren(
      el("h2", { text: d.label }),
      el("p", {}, [el("span", { className: "tag cat-tag cat-" + d.category, text: CATEGORY_LABELS[d.category] || d.category }),
        d.is_modality ? " therapy modality" : "", d.is_product ? " product" : "", d.tumor_kind ? " (" + (d.tumor_kind === "heme" ? "hematologic" : "solid") + ")" : ""]),
      el("p", {}, [el("a", { href: d.url, text: "Open the entity page →" })]),
      el("p", { className: "muted small", text: degree + " relations shown here. Clicking a node adds its neighbors; “Center on it” shows only its own neighborhood." }),
      actions
    );
    document.getElementById("path-from").value = d.label;
    document.getElementById("path-from").setAttribute("data-id", d.id);
  }

  function showEdge(edge) {
    var d = edge.data();
    if (d.relation === "subClassOf") {
      details.replaceChildren(el("h2", { text: "Hierarchy" }), el("p", { text: edge.source().data("label") + " is a kind of " + edge.target().data("label") + " (from the ontology)." }));
      return;
    }
    details.replaceChildren(el("h2", { text: "Evidence" }), el("p", { className: "muted", text: "Loading…" }));
    api("/api/graph/edge", { source: d.source, relation: d.relation, target: d.target }).then(function (data) {
      var e = data.edge;
      var summary = el("p", { className: "edge-summary" }, [
        el("a", { href: data.source.url, text: data.source.label }), " ", el("strong", { text: RELATION_LABELS[e.relation] || e.relation }), " ",
        el("a", { href: data.target.url, text: data.target.label })]);
      var meta = el("p", { className: "muted small", text: e.studies + (e.studies === 1 ? " supporting study" : " supporting studies") +
        (e.refuted_by ? ", " + e.refuted_by + " refuting" : "") + (e.best_level ? " · best evidence level " + e.best_level : "") +
        (e.first_year ? " · " + e.first_year + (e.last_year !== e.first_year ? "–" + e.last_year : "") : "") });
      var list = el("ol", { className: "evidence-list" }, data.findings.map(function (f) {
        return el("li", { className: f.support === "REFUTE" ? "refute" : "support" }, [
          el("blockquote", { text: f.quote || "(no quote)" }),
          el("div", { className: "evidence-meta" }, [
            f.support === "REFUTE" ? el("span", { className: "badge refute", text: "refutes" }) : null,
            el("a", { href: f.study_url, text: f.title || f.study }), " ",
            el("span", { className: "muted", text: [f.year, f.level ? "level " + f.level : null, f.context_label ? "in " + f.context_label : null, f.method].filter(Boolean).join(" · ") })])]);
      }));
      details.replaceChildren(el("h2", { text: "Evidence" }), summary, meta, list);
    }).catch(function (err) { details.replaceChildren(el("h2", { text: "Evidence" }), el("p", { className: "warning", text: err.message })); });
  }

  function showStrategyList(data) {
    var items = data.barriers.map(function (b) {
      var strategies = b.strategies.length ? b.strategies.map(function (s) { return s.label + (s.via !== b.barrier ? " (via " + s.via + ")" : ""); }).join(", ") : "no strategy recorded";
      return el("li", {}, [el("strong", { text: b.label }), " (" + b.studies + (b.studies === 1 ? " study" : " studies") + (b.faced_by !== data.therapy ? ", via " + b.faced_by : "") + "): ", strategies]);
    });
    details.replaceChildren(el("h2", { text: "Strategies for the barriers of " + data.label }),
      el("p", { className: "muted small", text: "Barriers the therapy or one of its products faces (red arrows), and strategies that address the barrier or one of its sub-barriers (green arrows)." }),
      el("ul", { className: "strategy-list" }, items));
  }

  // -- events ----------------------------------------------------------------------
  cy.on("tap", "node", function (evt) {
    var node = evt.target;
    showNode(node);
    expand(node);
  });
  cy.on("tap", "edge", function (evt) { showEdge(evt.target); });
  cy.on("mouseover", "edge", function (evt) { evt.target.addClass("hover"); });
  cy.on("mouseout", "edge", function (evt) { evt.target.removeClass("hover"); });

  document.getElementById("fit").addEventListener("click", function () { cy.fit(undefined, 30); });
  document.getElementById("relayout").addEventListener("click", function () { layout(true); });
  document.getElementById("start-cart").addEventListener("click", function () { neighborhood("CART"); });

  function currentCenter() {
    var c = cy.nodes("[role = 'center'], [role = 'therapy']");
    return c.nonempty() ? c[0].id() : null;
  }
  document.getElementById("apply-filters").addEventListener("click", function () {
    var c = currentCenter();
    if (c) neighborhood(c);
  });
  document.getElementById("clear-filters").addEventListener("click", function () {
    document.querySelectorAll("#filters input[type=checkbox]").forEach(function (i) { i.checked = false; });
    document.querySelector("input[name=tumor][value='']").checked = true;
    document.getElementById("filter-level").value = "";
    document.getElementById("filter-year-from").value = "";
    document.getElementById("filter-year-to").value = "";
    var c = currentCenter();
    if (c) neighborhood(c);
  });

  // -- autocomplete ------------------------------------------------------------------
  function autocomplete(input, list, onPick) {
    var timer = null;
    var results = [];
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); }
    function render() {
      list.replaceChildren.apply(list, results.map(function (r, i) {
        var li = el("li", { role: "option", id: (list.id || input.id + "-list") + "-" + i }, [
          el("span", { className: "sugg-label", text: r.label }),
          r.matched && r.matched !== r.label ? el("span", { className: "sugg-syn", text: " (" + r.matched + ")" }) : null,
          el("span", { className: "sugg-cat cat-" + r.category, text: CATEGORY_LABELS[r.category] || r.category })]);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(r); });
        return li;
      }));
      if (!results.length) list.replaceChildren(el("li", { className: "none", text: "no entity matches" }));
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }
    function pick(r) {
      input.value = r.label;
      input.setAttribute("data-id", r.id);
      close();
      onPick(r);
    }
    input.addEventListener("input", function () {
      input.removeAttribute("data-id");
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q) { close(); return; }
      timer = setTimeout(function () {
        api("/api/graph/nodes", { q: q, limit: 10 }).then(function (data) {
          if (input.value.trim() !== q) return;
          results = data.results;
          render();
        }).catch(function () { close(); });
      }, 120);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && results.length && !list.hidden) { e.preventDefault(); pick(results[0]); }
      if (e.key === "Escape") close();
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  autocomplete(document.getElementById("node-search"), document.getElementById("node-suggestions"), function (r) { neighborhood(r.id, r.label); });
  var pathFrom = document.getElementById("path-from"), pathTo = document.getElementById("path-to");
  autocomplete(pathFrom, pathFrom.nextElementSibling, function () {});
  autocomplete(pathTo, pathTo.nextElementSibling, function () {});
  document.getElementById("graph-search").addEventListener("submit", function (e) { e.preventDefault(); });
  document.getElementById("path-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var resolve = function (input) {
      var id = input.getAttribute("data-id");
      if (id) return Promise.resolve(id);
      return api("/api/graph/nodes", { q: input.value, limit: 1 }).then(function (d) {
        if (!d.results.length) throw new Error("no entity matches “" + input.value + "”");
        return d.results[0].id;
      });
    };
    Promise.all([resolve(pathFrom), resolve(pathTo)]).then(function (ids) { path(ids[0], ids[1]); }).catch(function (err) { showNotice(err.message); });
  });

  // -- filter options and the initial view ---------------------------------------------
  var ready = api("/api/graph/options").then(function (opts) {
    RELATION_LABELS = opts.relation_labels || {};
    var mod = document.getElementById("filter-modality");
    opts.modalities.forEach(function (m) {
      mod.appendChild(el("label", {}, [el("input", { type: "checkbox", value: m.id }), " " + m.label]));
    });
    var rel = document.getElementById("filter-relation");
    opts.relations.forEach(function (r) {
      rel.appendChild(el("label", {}, [el("input", { type: "checkbox", value: r }), " " + (RELATION_LABELS[r] || r)]));
    });
    if (opts.years.length) {
      document.getElementById("filter-year-from").title = "studies from " + opts.years[0] + " to " + opts.years[1];
      document.getElementById("filter-year-to").title = "latest: " + opts.years[1];
    }
  }).catch(function (err) { showNotice(err.message); });
  var params = new URLSearchParams(window.location.search);
  ready.then(function () {  // the first view is drawn once the labels are known
    if (params.get("therapy")) strategies(params.get("therapy"));
    else if (params.get("id")) neighborhood(params.get("id"));
  });
})();
