// Study page: "show in text" scrolls to the evidence sentence and flashes it.
(function () {
  "use strict";
  function flash(id) {
    var target = document.getElementById("q-" + id);
    if (!target) return;
    var mark = target.tagName === "MARK" ? target : target.closest("mark");
    if (!mark) return;
    var current = document.querySelectorAll("mark.current");
    for (var i = 0; i < current.length; i++) current[i].classList.remove("current");
    mark.classList.add("current");
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-highlight]") : null;
    if (link) flash(link.getAttribute("data-highlight"));
  });
  if (window.location.hash.length > 1) {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var row = document.getElementById(id);
    if (row && row.tagName === "TR") row.classList.add("current");
    flash(id.replace(/^q-/, ""));
  }
})();
