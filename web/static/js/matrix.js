// Evidence matrix: clicking a cell loads its findings (JSON twin of
// /matrix/<modality>/<category>) into the panel below the matrix. The
// links work without JavaScript (they open the cell's own page).
(function () {
  "use strict";
  var panel = document.getElementById("cell-panel");
  if (!panel) return;
  var title = document.getElementById("cell-panel-title");
  var summary = document.getElementById("cell-panel-summary");
  var list = document.getElementById("cell-panel-list");
  var permalink = document.getElementById("cell-panel-permalink");
  var levels = { 1: "systematic review or meta-analysis", 2: "randomized controlled trial", 3: "non-randomized trial or cohort study",
    4: "case series, case report or observational study", 5: "preclinical study or expert opinion" };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function entity(ref) {
    if (!ref) return el("span");
    if (!ref.id) return el("span", "ent", ref.label);
    var a = el("a", "ent ent-" + String(ref.category || "").toLowerCase(), ref.label);
    a.href = "/entity/" + encodeURIComponent(ref.id);
    return a;
  }

  function level(n) {
    var span = el("span", "level level-" + (n === null || n === undefined ? "none" : n), n === null || n === undefined ? "L?" : "L" + n);
    span.title = n ? "evidence level " + n + ": " + (levels[n] || "") : "no evidence level recorded";
    return span;
  }

  function sameSentence(f) {
    var li = el("li", "evidence evidence-same");
    var meta = el("div", "evidence-meta");
    meta.appendChild(el("span", "muted", "Same sentence: "));
    meta.appendChild(el("span", "badge " + (f.support === "REFUTE" ? "badge-refute" : "badge-support"), f.support === "REFUTE" ? "refutes" : "supports"));
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(triple(f));
    li.appendChild(meta);
    return li;
  }

  function triple(f) {
    var span = el("span", "triple");
    span.appendChild(entity(f.subject));
    span.appendChild(document.createTextNode(" "));
    span.appendChild(el("span", "rel", f.relation_label));
    span.appendChild(document.createTextNode(" "));
    span.appendChild(entity(f.object));
    if (f.context) {
      span.appendChild(document.createTextNode(" "));
      span.appendChild(el("span", "muted", "in"));
      span.appendChild(document.createTextNode(" "));
      span.appendChild(entity(f.context));
    }
    return span;
  }

  function finding(f, prev) {
    if (prev && prev.quote === f.quote && prev.study.id === f.study.id && prev.support === f.support) return sameSentence(f);
    var li = el("li", "evidence");
    li.appendChild(el("blockquote", "quote", f.quote));
    var meta = el("div", "evidence-meta");
    meta.appendChild(el("span", "badge " + (f.support === "REFUTE" ? "badge-refute" : "badge-support"), f.support === "REFUTE" ? "refutes" : "supports"));
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(triple(f));
    li.appendChild(meta);
    var source = el("div", "evidence-source");
    source.appendChild(level(f.study.level));
    source.appendChild(document.createTextNode(" "));
    var a = el("a", null, f.study.title);
    a.href = "/study/" + encodeURIComponent(f.study.id) + "#" + encodeURIComponent(f.id);
    source.appendChild(a);
    if (f.study.year) source.appendChild(el("span", "muted", " (" + f.study.year + ")"));
    li.appendChild(source);
    return li;
  }

  function show(link, data) {
    title.textContent = data.modality.label + " \u00d7 " + data.category.label;
    var n = data.studies;
    var text = n + (n === 1 ? " study supports" : " studies support") + " this cell";
    if (data.best_level !== null && data.best_level !== undefined) text += "; best evidence level L" + data.best_level;
    var page = data.findings_page || { total: data.findings.length, offset: 0 };
    var total = page.total;
    text += ". " + total + (total === 1 ? " finding" : " findings") + ", strongest evidence first";
    if (total > data.findings.length) {
      text += "; the first " + data.findings.length + " are shown here, all on the cell's page";
    }
    if (data.refuting_findings) text += " (" + data.refuting_findings + " refuting, listed last)";
    summary.textContent = text + ".";
    list.textContent = "";
    if (!data.findings.length) list.appendChild(el("li", "empty", "No finding in this corpus: an evidence gap."));
    data.findings.forEach(function (f, i) {
      list.appendChild(finding(f, i ? data.findings[i - 1] : null));
    });
    permalink.href = link.getAttribute("href");
    panel.hidden = false;
    var cells = document.querySelectorAll(".matrix .cell-link[aria-pressed]");
    for (var i = 0; i < cells.length; i++) cells[i].removeAttribute("aria-pressed");
    link.setAttribute("aria-pressed", "true");
    panel.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-cell]") : null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    summary.textContent = "Loading\u2026";
    list.textContent = "";
    panel.hidden = false;
    fetch(link.getAttribute("data-cell"), { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        show(link, data);
      })
      .catch(function (err) {
        summary.textContent = "Could not load the evidence (" + err.message + "). Open the cell's page instead.";
        permalink.href = link.getAttribute("href");
      });
  });
  document.getElementById("cell-panel-close").addEventListener("click", function () {
    panel.hidden = true;
  });
})();
