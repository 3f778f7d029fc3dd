// The example browser of the report and of the live view (polyglot ui):
// filter by teacher, language, strategy and metric, order by value, search;
// a few examples per cell, more on request. Where the examples come from is
// the source's business: the report answers queries from the JSON embedded
// in the page (polyglotExamples.local), the live view asks its server for a
// page at a time (polyglotExamples.remote, core/live answers the same
// queries). Everything is rendered through textContent: model output is
// never parsed as HTML.
var polyglotExamples = (function () {
  var MORE = 10, CELLS = 30;
  var FIELDS = [["teacher", "teachers"], ["language", "languages"], ["strategy", "strategies"], ["metric", "metrics"]];

  function text(tag, cls, s) { var n = document.createElement(tag); if (cls) n.className = cls; n.textContent = s; return n; }
  function fmt(v) { return v === null ? "–" : Number(v.toPrecision(3)).toString(); }
  function cmpStr(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  // local answers queries over the report's embedded data (names are
  // indices into its lists) the way core/live answers them on the server.
  function local(D) {
    var E = D.examples || [], higher = {};
    (D.metrics || []).forEach(function (m, i) { higher[m] = D.higher[i]; });
    var lists = {teachers: D.teachers || [], languages: D.languages || [], strategies: D.strategies || [], metrics: D.metrics || []};
    function sorted(lists) { return lists.slice().sort(cmpStr); }
    function order(q, hi) {
      return function (a, b) {
        var va = a[5], vb = b[5];
        if (va === null || vb === null) return (va === null) - (vb === null);
        switch (q.order) {
          case "asc": return va - vb;
          case "desc": return vb - va;
          case "worst": return hi ? va - vb : vb - va;
          default: return hi ? vb - va : va - vb;
        }
      };
    }
    function item(e) { return {id: e[4], value: e[5], prompt: e[6], response: e[7]}; }
    return {
      shown: D.shown || 3,
      query: function (q, done) {
        var groups = {}, keys = [], matched = 0, s = (q.search || "").toLowerCase();
        E.forEach(function (e) {
          var n = [D.teachers[e[0]], D.languages[e[1]], D.strategies[e[2]], D.metrics[e[3]]];
          for (var i = 0; i < 4; i++) if (q[FIELDS[i][0]] !== null && q[FIELDS[i][0]] !== undefined && q[FIELDS[i][0]] !== n[i]) return;
          if (s && (e[4] + "\n" + e[6] + "\n" + e[7]).toLowerCase().indexOf(s) < 0) return;
          var k = JSON.stringify([n[3], n[1], n[0], n[2]]);
          if (!groups[k]) { groups[k] = []; keys.push(k); }
          groups[k].push(e); matched++;
        });
        keys.sort(function (a, b) {
          var x = JSON.parse(a), y = JSON.parse(b);
          return cmpStr(x[0], y[0]) || cmpStr(x[1], y[1]) || cmpStr(x[2], y[2]) || cmpStr(x[3], y[3]);
        });
        var page = {total: E.length, matched: matched, cells_total: keys.length, teachers: sorted(lists.teachers), languages: sorted(lists.languages),
          strategies: sorted(lists.strategies), metrics: sorted(lists.metrics), higher: higher, cells: []};
        function rows(k) { var x = JSON.parse(k); return groups[k].sort(order(q, higher[x[0]])); }
        if (q.cell) {
          var k = JSON.stringify([q.cell.metric, q.cell.language, q.cell.teacher, q.cell.strategy]);
          page.items = (groups[k] ? rows(k) : []).slice(q.from, q.from + q.count).map(item);
        } else {
          keys.slice(q.from, q.from + q.count).forEach(function (k) {
            var x = JSON.parse(k), es = rows(k);
            page.cells.push({metric: x[0], language: x[1], teacher: x[2], strategy: x[3], n: es.length, items: es.slice(0, q.shown).map(item)});
          });
        }
        done(page);
      }
    };
  }

  // remote asks url (the live view's examples.json) for each page; extra
  // is appended to every query string (the view's token).
  function remote(url, extra) {
    return {
      shown: 3,
      query: function (q, done, fail) {
        var p = new URLSearchParams(extra || "");
        FIELDS.forEach(function (x) { if (q[x[0]] !== null && q[x[0]] !== undefined) p.set(x[0], q[x[0]]); });
        p.set("order", q.order); p.set("from", q.from); p.set("count", q.count); p.set("shown", q.shown);
        if (q.search) p.set("q", q.search);
        if (q.cell) { p.set("cell", JSON.stringify(q.cell)); }
        fetch(url + "?" + p.toString(), {cache: "no-store"}).then(function (r) {
          if (!r.ok) return r.text().then(function (t) { throw new Error(t || ("the server answered " + r.status)); });
          return r.json();
        }).then(done).catch(fail || function () {});
      }
    };
  }

  // mount drives the page's #ex-* controls and #ex-list with src. It
  // returns {refresh} to query again (the live view, when new values land).
  function mount(src) {
    var f = {teacher: null, language: null, strategy: null, metric: null, order: "best", search: ""}, gen = 0, lists = {};
    var list = document.getElementById("ex-list"), count = document.getElementById("ex-count");
    FIELDS.forEach(function (x) {
      var sel = document.getElementById("ex-" + x[0]);
      sel.addEventListener("change", function () {
        f[x[0]] = sel.value === "" ? null : lists[x[1]][Number(sel.value)];
        draw();
      });
    });
    document.getElementById("ex-order").addEventListener("change", function (e) { f.order = e.target.value; draw(); });
    document.getElementById("ex-search").addEventListener("input", function (e) { f.search = e.target.value; draw(); });
    // options refills a filter's choices when the list changed (the live
    // view's grows), keeping the choice; option values index the list.
    function options(page) {
      FIELDS.forEach(function (x) {
        var names = page[x[1]] || [], sel = document.getElementById("ex-" + x[0]);
        if (JSON.stringify(names) === JSON.stringify(lists[x[1]])) return;
        lists[x[1]] = names;
        while (sel.options.length > 1) sel.remove(1);
        names.forEach(function (name, i) {
          var o = document.createElement("option"); o.value = String(i); o.textContent = (x[0] === "strategy" && name === "") ? "(none)" : name;
          if (name === f[x[0]]) o.selected = true;
          sel.appendChild(o);
        });
        sel.parentNode.hidden = names.length < 2 && f[x[0]] === null;
      });
    }
    function query(extra) {
      var q = {teacher: f.teacher, language: f.language, strategy: f.strategy, metric: f.metric, order: f.order, search: f.search, shown: src.shown};
      for (var k in extra) q[k] = extra[k];
      return q;
    }
    function failed(e) { count.textContent = "Cannot load the examples: " + e.message; }
    function item(c, e) {
      var d = document.createElement("div"); d.className = "exitem";
      d.appendChild(text("div", "muted", (e.id ? e.id + " · " : "") + c.metric + " = " + fmt(e.value)));
      d.appendChild(text("div", "lbl", "prompt"));
      var p = text("pre", "ex", e.prompt); p.dir = "auto"; d.appendChild(p);
      d.appendChild(text("div", "lbl", "response"));
      var r = text("pre", "ex", e.response); r.dir = "auto"; d.appendChild(r);
      return d;
    }
    function cellNode(c, my) {
      var node = document.createElement("div"), body = document.createElement("div"), at = 0, btn = null;
      node.className = "excell";
      node.appendChild(text("h4", "", c.metric + " — " + c.teacher + " / " + c.language + (c.strategy ? " / " + c.strategy : "") + " (" + c.n + ")"));
      node.appendChild(body);
      function add(items) {
        items.forEach(function (e) { body.appendChild(item(c, e)); });
        at += items.length;
        if (at < c.n && items.length > 0) {
          if (!btn) {
            btn = text("button", "more", ""); btn.type = "button"; node.appendChild(btn);
            btn.addEventListener("click", function () {
              src.query(query({cell: {metric: c.metric, teacher: c.teacher, language: c.language, strategy: c.strategy}, from: at, count: MORE}),
                function (page) { if (my === gen) add(page.items || []); }, failed);
            });
          }
          btn.textContent = "show " + Math.min(MORE, c.n - at) + " more (" + (c.n - at) + " left)";
        } else if (btn) { btn.remove(); btn = null; }
      }
      add(c.items);
      return node;
    }
    function addCells(page, drawn, my) {
      page.cells.forEach(function (c) { list.appendChild(cellNode(c, my)); });
      drawn += page.cells.length;
      var old = document.getElementById("ex-more-cells");
      if (old) old.remove();
      if (drawn < page.cells_total && page.cells.length > 0) {
        var b = text("button", "more", "show " + Math.min(CELLS, page.cells_total - drawn) + " more cells (" + (page.cells_total - drawn) + " left)");
        b.id = "ex-more-cells"; b.type = "button"; list.appendChild(b);
        b.addEventListener("click", function () {
          src.query(query({from: drawn, count: CELLS}), function (p) { if (my === gen) addCells(p, drawn, my); }, failed);
        });
      }
    }
    function draw() {
      var my = ++gen;
      src.query(query({from: 0, count: CELLS}), function (page) {
        if (my !== gen) return;
        options(page);
        list.textContent = "";
        count.textContent = page.matched + " of " + page.total + " examples in " + page.cells_total + " cells match.";
        addCells(page, 0, my);
      }, failed);
    }
    draw();
    return {refresh: draw};
  }

  return {local: local, remote: remote, mount: mount};
})();
