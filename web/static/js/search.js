// Autocomplete for the header search box: suggestions from /api/search,
// keyboard and mouse selection, navigation to /entity/<id>. No inline code (CSP).
(function () {
  "use strict";
  var input = document.getElementById("site-search-input");
  var list = document.getElementById("site-search-list");
  if (!input || !list) return;
  var api = input.getAttribute("data-search-api") || "/api/search";
  var results = [];
  var active = -1;
  var timer = null;
  var seq = 0;

  function close() {
    list.hidden = true;
    list.textContent = "";
    input.setAttribute("aria-expanded", "false");
    active = -1;
  }

  function go(item) {
    window.location.href = "/entity/" + encodeURIComponent(item.id);
  }

  function highlight(index) {
    var items = list.querySelectorAll("li[role=option]");
    for (var i = 0; i < items.length; i++) {
      items[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
  }

  function render(items) {
    results = items;
    list.textContent = "";
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "search-none";
      none.textContent = "No entity matches";
      list.appendChild(none);
    }
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = "site-search-option-" + i;
      li.setAttribute("data-id", item.id);
      var label = document.createElement("span");
      label.className = "suggestion-label";
      label.textContent = item.label;
      li.appendChild(label);
      if (item.matched) {
        var syn = document.createElement("span");
        syn.className = "suggestion-synonym";
        syn.textContent = item.matched;
        li.appendChild(syn);
      }
      var cat = document.createElement("span");
      cat.className = "suggestion-category";
      cat.textContent = item.category_label;
      li.appendChild(cat);
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        go(item);
      });
      list.appendChild(li);
    });
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  function lookup() {
    var q = input.value.trim();
    if (!q) {
      close();
      return;
    }
    var mine = ++seq;
    fetch(api + "?limit=8&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.ok ? r.json() : { results: [] };
      })
      .then(function (data) {
        if (mine === seq && input.value.trim() === q) render(data.results || []);
      })
      .catch(function () {
        close();
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookup, 120);
  });
  input.addEventListener("keydown", function (event) {
    if (list.hidden) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      highlight(Math.min(results.length - 1, active + 1));
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      highlight(Math.max(0, active - 1));
    } else if (event.key === "Enter" && active >= 0 && results[active]) {
      event.preventDefault();
      go(results[active]);
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", function () {
    setTimeout(close, 150);
  });
})();
