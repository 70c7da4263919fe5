/* Live explorers of the course "Noise Schedules in Diffusion Models".
 *
 * Each <div class="sl-explorer"> holds a <script type="application/json" class="sl-data"> written at build
 * time by sched_lib.explorers: the controls, the panels and every series sched_lib computed over the
 * controls' steps. This script only builds the controls, SELECTS the series whose "when"/"member" match
 * the current setting, and draws them with uPlot. It computes no schedule, weight or grid. The one formula
 * here is the noised image of the schedule explorer, x_t = sqrt(abar) x0 + sqrt(1 - abar) eps shown as
 * clip((x_t + 1) / 2, 0, 1) (sched_lib.plotting.noisy and to_display), from the embedded abar, image and
 * noise; tests/test_site_explorers.py reads the canvas back and compares it with sched_lib.
 *
 * For tests and curious readers: window.SchedLibExplorers[id] has state(), set(name, value) and drawn()
 * (per panel, the label, x and y of every series handed to uPlot).
 */
(function () {
  "use strict";
  if (window.SchedLibExplorers) { mountAll(); return; }
  window.SchedLibExplorers = {};

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmt(v) { return (typeof v === "number") ? String(v) : String(v); }

  function shown(series, state) {
    var k;
    for (k in (series.when || {})) if (state[k] !== series.when[k]) return false;
    for (k in (series.member || {})) if (state[k].indexOf(series.member[k]) < 0) return false;
    return true;
  }

  function decodeBase64(text) {
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function Explorer(root) {
    var spec = JSON.parse(root.querySelector("script.sl-data").textContent);
    var self = this;
    this.spec = spec;
    this.root = root;
    this.state = {};
    this.plots = {};
    this.drawnData = {};
    spec.controls.forEach(function (c) {        // a multi-select's value is kept in the order of its options
      self.state[c.name] = c.kind === "multi" ? c.options.filter(function (v) { return c.value.indexOf(v) >= 0; }) : c.value;
    });

    var fallback = root.querySelector("img.sl-fallback");
    if (fallback) fallback.remove();
    root.classList.add("sl-live");
    var controls = el("div", { "class": "sl-controls" });
    spec.controls.forEach(function (c) { controls.appendChild(self.control(c)); });
    root.appendChild(controls);
    this.grid = el("div", { "class": "sl-panels" });
    root.appendChild(this.grid);
    this.panelBoxes = {};
    spec.panels.forEach(function (p) {
      var box = el("div", { "class": "sl-panel", "data-panel": p.id });
      box.appendChild(el("div", { "class": "sl-title" }, p.title));
      self.grid.appendChild(box);
      self.panelBoxes[p.id] = box;
    });
    if (spec.image) {
      this.imageRow = el("div", { "class": "sl-images" });
      root.appendChild(this.imageRow);
      var img = spec.image;
      this.eps = new Float32Array(decodeBase64(img.eps_float32).buffer);
      this.x0 = {};
      for (var key in img.images) this.x0[key] = decodeBase64(img.images[key]);
    }
    this.draw();
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.draw(); }, 150);
    });
    window.SchedLibExplorers[spec.id] = {
      state: function () { return JSON.parse(JSON.stringify(self.state)); },
      set: function (name, value) { self.setValue(name, value); },
      drawn: function () { return JSON.parse(JSON.stringify(self.drawnData)); },
      images: function () { return JSON.parse(JSON.stringify(self.imagesShown || [])); },
      uplot: function (panel) {           // what uPlot itself holds: series labels and the aligned data
        var u = self.plots[panel];
        return { labels: u.series.slice(1).map(function (s) { return s.label; }), data: u.data };
      }
    };
    root.setAttribute("data-ready-ms", performance.now().toFixed(1));   // time from navigation to drawn
    root.setAttribute("data-ready", "1");
  }

  Explorer.prototype.control = function (c) {
    var self = this;
    var wrap = el("div", { "class": "sl-control sl-" + c.kind, "data-control": c.name });
    var labels = c.labels || (c.options || []).map(fmt);
    if (c.kind === "multi") {
      wrap.appendChild(el("span", { "class": "sl-label" }, c.label + ":"));
      c.options.forEach(function (opt, i) {
        var lab = el("label", { "class": "sl-option" });
        var box = el("input", { type: "checkbox", value: opt, "data-option": opt });
        box.checked = self.state[c.name].indexOf(opt) >= 0;
        box.addEventListener("change", function () {
          var cur = self.state[c.name].filter(function (v) { return v !== opt; });
          if (box.checked) cur.push(opt);
          self.state[c.name] = c.options.filter(function (v) { return cur.indexOf(v) >= 0; });
          self.draw();
        });
        lab.appendChild(box);
        lab.appendChild(document.createTextNode(" " + labels[i]));
        wrap.appendChild(lab);
      });
    } else if (c.kind === "check") {
      var lab = el("label");
      var box = el("input", { type: "checkbox" });
      box.checked = !!self.state[c.name];
      box.addEventListener("change", function () { self.state[c.name] = box.checked; self.draw(); });
      lab.appendChild(box);
      lab.appendChild(document.createTextNode(" " + c.label));
      wrap.appendChild(lab);
    } else if (c.kind === "slider") {
      var out = el("output", { "class": "sl-value" }, labels[c.options.indexOf(c.value)]);
      var lab2 = el("label", {}, c.label + " ");
      var range = el("input", { type: "range", min: 0, max: c.options.length - 1, step: 1,
                                value: c.options.indexOf(c.value), "aria-label": c.label });
      range.addEventListener("input", function () {
        var i = parseInt(range.value, 10);
        self.state[c.name] = c.options[i];
        out.textContent = labels[i];
        self.draw();
      });
      lab2.appendChild(range);
      wrap.appendChild(lab2);
      wrap.appendChild(out);
    } else if (c.kind === "select") {
      var lab3 = el("label", {}, c.label + " ");
      var sel = el("select", { "aria-label": c.label });
      c.options.forEach(function (opt, i) {
        var o = el("option", { value: String(i) }, labels[i]);
        if (opt === c.value) o.selected = true;
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () { self.state[c.name] = c.options[parseInt(sel.value, 10)]; self.draw(); });
      lab3.appendChild(sel);
      wrap.appendChild(lab3);
    }
    return wrap;
  };

  /* Set a control from code (tests): updates the form element too. */
  Explorer.prototype.setValue = function (name, value) {
    var c = this.spec.controls.filter(function (x) { return x.name === name; })[0];
    if (!c) throw new Error("unknown control " + name);
    var wrap = this.root.querySelector('[data-control="' + name + '"]');
    if (c.kind === "multi") {
      wrap.querySelectorAll("input").forEach(function (b) { b.checked = value.indexOf(b.value) >= 0; });
      this.state[name] = c.options.filter(function (v) { return value.indexOf(v) >= 0; });
    } else if (c.kind === "check") {
      wrap.querySelector("input").checked = !!value;
      this.state[name] = !!value;
    } else {
      var i = c.options.indexOf(value);
      if (i < 0) throw new Error(name + ": " + value + " is not one of " + c.options.join(", "));
      var input = wrap.querySelector("input, select");
      input.value = String(i);
      var out = wrap.querySelector("output");
      if (out) out.textContent = (c.labels || c.options.map(fmt))[i];
      this.state[name] = value;
    }
    this.draw();
  };

  Explorer.prototype.visible = function (panel) {
    var self = this, spec = this.spec;
    return spec.series.filter(function (s) { return s.panel === panel.id && shown(s, self.state); })
      .map(function (s) {
        return { label: s.label, color: s.color, kind: s.kind || "line",
                 x: Array.isArray(s.x) ? s.x : spec.xs[s.x], y: s.y };
      });
  };

  Explorer.prototype.draw = function () {
    var self = this, spec = this.spec;
    var width = this.root.clientWidth || 600;
    var minWidth = spec.panel_min_width || 300;
    var cols = width < 560 ? 1 : Math.min(spec.panels.length, Math.max(1, Math.floor(width / minWidth)));
    var w = Math.floor(width / cols) - 12;
    spec.panels.forEach(function (p) {
      var vis = self.visible(p);
      self.drawnData[p.id] = vis.map(function (s) { return { label: s.label, x: s.x, y: s.y }; });
      var box = self.panelBoxes[p.id];
      if (self.plots[p.id]) { self.plots[p.id].destroy(); delete self.plots[p.id]; }
      var tables = vis.map(function (s) {
        var xs = [], ys = [];
        for (var i = 0; i < s.x.length; i++) if (s.x[i] !== null) { xs.push(s.x[i]); ys.push(s.y[i]); }
        return [xs, ys];
      });
      var data = tables.length ? uPlot.join(tables) : [spec.xs[p.x] || [], []];
      if (!tables.length) data = [data[0]];
      var series = [{ label: p.xlabel }].concat(vis.map(function (s) {
        var one = { label: s.label, stroke: s.color, width: 1.6, spanGaps: false };
        if (s.kind === "points") {
          one.paths = function () { return null; };
          one.points = { show: true, size: 7, fill: s.color, stroke: s.color, space: 0 };
        } else {
          one.points = { show: false };
        }
        return one;
      }));
      var seen = {};
      series.forEach(function (s, i) {          // one legend entry per label (e.g. many grids, one colour)
        if (i === 0) return;
        if (seen[s.label]) s.label = s.label + " ";
        seen[s.label] = true;
      });
      var scales = { x: { time: false } };
      if (p.xlim) scales.x.range = function () { return p.xlim; };
      scales.y = {};
      if (p.log) { scales.y.distr = 3; }
      if (p.ylim) { scales.y.auto = false; scales.y.range = function () { return p.ylim; }; }
      var cursorValue = p.cursor ? self.state[p.cursor] : null;
      var opts = {
        width: w, height: width < 560 ? 200 : 230,
        scales: scales,
        series: series,
        legend: { show: p.legend !== false && vis.length > 0, live: false },
        cursor: { show: true, drag: { x: false, y: false } },
        axes: [{ label: p.xlabel, size: 40, labelSize: 20 },
               p.yticks ? { label: p.ylabel, size: 70, labelSize: 20,
                            splits: function () { return Object.keys(p.yticks).map(Number); },
                            values: function (u, vals) { return vals.map(function (v) { return p.yticks[String(v)] || ""; }); } }
               : { label: p.ylabel, size: 55, labelSize: 20, values: p.log ? function (u, vals) {
                 return vals.map(function (v) { return v === null ? "" : (v >= 0.01 ? String(+v.toPrecision(2)) : v.toExponential(0)); });
               } : undefined }],
        hooks: cursorValue === null ? {} : { draw: [function (u) {
          var x = u.valToPos(cursorValue, "x", true), ctx = u.ctx;
          ctx.save(); ctx.strokeStyle = "#444"; ctx.setLineDash([4, 4]); ctx.lineWidth = 1;
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          ctx.restore();
        }] }
      };
      self.plots[p.id] = new uPlot(opts, data, box);
      box.setAttribute("data-series", String(vis.length));
      box.style.width = w + "px";
    });
    if (spec.image) this.drawImages();
    this.root.setAttribute("data-state", JSON.stringify(this.state));
  };

  Explorer.prototype.drawImages = function () {
    var spec = this.spec, img = spec.image, state = this.state, side = img.side;
    var row = this.imageRow;
    row.textContent = "";
    var names = state.schedules.slice(0, img.max);
    var idx = spec.controls.filter(function (c) { return c.name === "t"; })[0].options.indexOf(state.t);
    var x0 = this.x0[String(state.image)], eps = this.eps;
    var shownList = [];
    var self = this;
    function tile(label, ab) {
      var fig = el("figure", { "class": "sl-image" });
      var canvas = el("canvas", { width: side, height: side });
      var ctx = canvas.getContext("2d");
      var data = ctx.createImageData(side, side);
      var a = ab === null ? 1 : Math.sqrt(ab), b = ab === null ? 0 : Math.sqrt(1 - ab);
      for (var i = 0, j = 0; i < side * side * 3; i += 3, j += 4) {
        for (var ch = 0; ch < 3; ch++) {
          var x = x0[i + ch] / 127.5 - 1;                          // the image in [-1, 1]
          var xt = ab === null ? x : a * x + b * eps[i + ch];      // noisy(x0, abar, eps)
          var v = Math.min(Math.max((xt + 1) / 2, 0), 1);          // to_display
          data.data[j + ch] = Math.round(v * 255);
        }
        data.data[j + 3] = 255;
      }
      ctx.putImageData(data, 0, 0);
      var total = 0;
      for (var q = 0; q < data.data.length; q++) total += data.data[q];
      fig.appendChild(canvas);
      fig.appendChild(el("figcaption", {}, label));
      row.appendChild(fig);
      shownList.push({ label: label, alpha_bar: ab, image: state.image, pixel_sum: total });
    }
    tile("clean", null);
    names.forEach(function (name) {
      var key = name + "|" + (state.zt ? "true" : "false");
      var ab = img.alpha_bar[key][idx];
      tile(name + ", t = " + img.steps[idx] + ", λ = " + img.log_snr_label[key][idx], ab);
    });
    self.imagesShown = shownList;
  };

  function mountAll() {
    document.querySelectorAll("div.sl-explorer:not([data-ready])").forEach(function (root) {
      try { new Explorer(root); } catch (err) { console.error("explorer " + root.id + ": " + err); throw err; }
    });
  }

  if (!document.getElementById("sl-explorer-style")) {
    var style = document.createElement("style");
    style.id = "sl-explorer-style";
    style.textContent = [
      ".sl-explorer{border:1px solid #ddd;border-radius:6px;padding:8px;margin:1em 0;font-size:14px}",
      ".sl-controls{display:flex;flex-wrap:wrap;gap:6px 18px;margin-bottom:6px;align-items:center}",
      ".sl-control label{white-space:nowrap}.sl-multi{flex-basis:100%}",
      ".sl-option{margin-right:10px;display:inline-block}",
      ".sl-control input[type=range]{width:130px;vertical-align:middle}",
      ".sl-value{display:inline-block;min-width:3em;font-variant-numeric:tabular-nums}",
      ".sl-panels{display:flex;flex-wrap:wrap;gap:0 8px;align-items:flex-end}.sl-title{font-weight:600;text-align:center}",
      ".sl-images{display:flex;flex-wrap:wrap;gap:8px;margin-top:6px}",
      ".sl-image{margin:0;text-align:center;width:104px}",
      ".sl-image canvas{width:96px;height:96px;image-rendering:pixelated}",
      ".sl-image figcaption{font-size:11px;line-height:1.2}",
      ".sl-explorer .u-legend{font-size:12px}"
    ].join("\n");
    document.head.appendChild(style);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
