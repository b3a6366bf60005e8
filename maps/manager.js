/* geo311 manager page (/manager): a heat map of reports, a district choropleth to switch to, the
 * districts with the most overdue work, a trend, and CSV downloads, all for the chosen filters.
 *
 * The page (geo311/manager_page.py) holds the filter form, a JSON config block and an empty
 * leaflet.heat layer made by folium; the config gives the globals of the map and the heat layer.
 * The data comes from the managers' API with the session cookie:
 *   GET /api/v1/heatmap           aggregated grid cells for the visible box and zoom; each cell is
 *                                 one heat point at its centre weighted by its report count (never
 *                                 raw reports); reloaded, debounced, whenever the map moves;
 *   GET /api/v1/stats/districts   per district open, overdue, median age, new, resolved, with the
 *                                 polygons: the choropleth, the overdue table and its legend;
 *   GET /api/v1/stats/timeseries  new and resolved per day, week or month: the trend.
 * A filter change reloads all three. The page's `to` date is inclusive; the API's `until` is
 * exclusive, so `until` = `to` + 1 day (the same rule as manager_page.api_params()).
 *
 * Every piece of data is put in the DOM as text (textContent / text nodes), never as HTML;
 * tooltips and popups get DOM nodes. The chart is SVG made with createElementNS.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var EARTH = 40075016.686;          // Web Mercator's circumference, metres
  var NO_WORK = "#f3f4f6";           // districts with 0 of the measure

  var cfg, map = null, heat = null, districtsLayer = null, highlight = null, legend = null;
  var view = "heat";
  var state = {
    cells: [],                       // [{center: [lon, lat], reports, submissions}] of the last heat map
    heat: null,                      // the last heat map reply, without its features
    dashboard: null,                 // the last district dashboard (a FeatureCollection)
    trend: null,                     // the last time series
    trendDistrict: null,             // {layer, name} when the trend is for one district
    heatStale: true,
  };
  var aborts = { heat: null, districts: null, trend: null };
  var loads = { heat: 0, districts: 0, trend: 0 };
  var moveTimer = null, applied = "";

  function $(id) { return document.getElementById(id); }

  /* el("p", {class: "x"}, ["text", node]): strings become text nodes, never markup. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    return fill(node, attrs, children);
  }

  function svg(tag, attrs, children) {
    return fill(document.createElementNS(SVG, tag), attrs, children);
  }

  function fill(node, attrs, children) {
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = String(v);
      else if (k === "class") node.setAttribute("class", v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false || c === "") return;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function words(code) { return String(code || "").replace(/_/g, " "); }
  function num(v) { var n = Number(v); return isFinite(n) ? n : 0; }
  function fmt(n) { return num(n).toLocaleString("en-US"); }
  function plural(n, one, many) { return fmt(n) + " " + (num(n) === 1 ? one : many); }
  function measureOf(key) {
    for (var i = 0; i < cfg.measures.length; i++) if (cfg.measures[i].key === key) return cfg.measures[i];
    return cfg.measures[0];
  }
  function layerTitle(key) { return cfg.layers[key] || words(key); }
  function categoryName(code) { return cfg.categories[code] || words(code); }

  /* ---- the filters ---- */

  function filters() {
    var checked = document.querySelector('input[name="view"]:checked');
    return {
      category: $("g311-category").value, status: $("g311-status-filter").value,
      from: $("g311-from").value, to: $("g311-to").value, layer: $("g311-layer").value,
      view: checked ? checked.value : "heat", measure: $("g311-measure").value,
      interval: $("g311-interval").value,
    };
  }

  function nextDay(iso) {
    var d = new Date(iso + "T00:00:00Z");
    if (isNaN(d.getTime())) return "";
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  /* The API's query for one endpoint (heat, districts, trend) from the filters. */
  function apiParams(f, kind) {
    var q = new URLSearchParams();
    if (f.category) q.set("category", f.category);
    if (kind === "heat" && f.status) q.set("status", cfg.statuses[f.status] || f.status);
    if (f.from) q.set("since", f.from);
    if (f.to) q.set("until", nextDay(f.to));
    if (kind === "districts") q.set("layer", f.layer);
    if (kind === "trend") {
      q.set("interval", f.interval);
      if (state.trendDistrict) q.set("district", state.trendDistrict.layer + ":" + state.trendDistrict.name);
    }
    return q;
  }

  function datesProblem(f) {
    if (f.from && f.to && f.from > f.to) return "The first day is after the last day: change one of them.";
    return "";
  }

  /* The page's address follows the filters, so a view can be bookmarked or shared. */
  function syncAddress(f) {
    var q = new URLSearchParams();
    Object.keys(f).forEach(function (k) { if (f[k] && f[k] !== cfg.defaults[k]) q.set(k, f[k]); });
    var s = q.toString();
    try { history.replaceState(null, "", cfg.page + (s ? "?" + s : "")); } catch (e) { /* ignore */ }
  }

  /* ---- talking to the API (GET only; the session cookie authenticates) ---- */

  function get(url, signal) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store", signal: signal })
      .then(function (res) {
        return res.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          return { status: res.status, ok: res.ok, data: data };
        });
      }, function (err) {
        if (err && err.name === "AbortError") throw err;
        return { status: 0, ok: false, data: null, network: true };
      });
  }

  function ignoreAbort(err) { if (!err || err.name !== "AbortError") throw err; }

  function errorOf(res) {
    if (res.network) return "Cannot reach the server. Check your connection and try again.";
    if (res.status === 401) return "Your sign-in has ended. Sign in again to continue.";
    var e = res.data && res.data.error;
    if (e && e.message) return String(e.message);
    return "The server answered with status " + res.status + ". Please try again.";
  }

  var problems = {};                 // kind -> message
  function setProblem(kind, message, signIn) {
    if (message) problems[kind] = { message: message, signIn: signIn };
    else delete problems[kind];
    var s = $("g311-status");
    s.textContent = "";
    var keys = Object.keys(problems);
    s.className = keys.length ? "g311-error" : "";
    keys.forEach(function (k, i) {
      if (i) s.appendChild(document.createTextNode(" "));
      s.appendChild(document.createTextNode(problems[k].message));
    });
    if (keys.some(function (k) { return problems[k].signIn; })) {
      s.appendChild(el("span", {}, [" ", el("a", { href: cfg.login_url }, ["Sign in again"])]));
    }
  }

  function load(kind, url, done) {
    if (aborts[kind]) aborts[kind].abort();
    var abort = aborts[kind] = new AbortController();
    return get(url, abort.signal).then(function (res) {
      if (abort !== aborts[kind]) return;
      aborts[kind] = null;
      if (!res.ok || !res.data) {
        if (kind === "heat") state.heatStale = true;     // try again when the heat map is next shown
        setProblem(kind, errorOf(res), res.status === 401);
        summary();
        return;
      }
      setProblem(kind, "");
      done(res.data);
      loads[kind] += 1;
      summary();
    }).catch(ignoreAbort);
  }

  /* ---- the heat map: aggregated cells, weighted by their report counts ---- */

  function visibleBox() {
    var b = map.getBounds();
    var clamp = function (v, lim) { return Math.max(-lim, Math.min(lim, v)); };
    var w = clamp(b.getWest(), 180), e = clamp(b.getEast(), 180);
    var s = clamp(b.getSouth(), 85), n = clamp(b.getNorth(), 85);
    if (!(w < e)) { w = -180; e = 180; }
    if (!(s < n)) { s = -85; n = 85; }
    return [w, s, e, n].map(function (v) { return v.toFixed(5); }).join(",");
  }

  function mapZoom() { return Math.max(0, Math.min(22, Math.round(map.getZoom()))); }

  function heatQuery() {
    var q = apiParams(filters(), "heat");
    q.set("bbox", visibleBox());
    q.set("zoom", String(mapZoom()));
    return q;
  }

  function loadHeat() {
    clearTimeout(moveTimer);
    moveTimer = null;
    if (!map || !heat) return Promise.resolve();
    state.heatStale = false;
    var query = heatQuery();
    updateLinks();
    return load("heat", cfg.endpoints.heat + "?" + query.toString(), function (data) {
      var features = Array.isArray(data.features) ? data.features : [];
      state.cells = features.map(function (f) {
        var p = f.properties || {};
        return { center: p.center, reports: num(p.reports), submissions: num(p.submissions) };
      }).filter(function (c) {
        return Array.isArray(c.center) && isFinite(Number(c.center[0])) && isFinite(Number(c.center[1])) && c.reports > 0;
      });
      state.heat = {
        zoom: num(data.zoom), level: num(data.level), cell_size_m: num(data.cell_size_m),
        max_reports: num(data.max_reports), total_reports: num(data.total_reports), cells: state.cells.length,
        query: query.toString(),
      };
      drawHeat();
      if (view === "heat") drawLegend();
    });
  }

  /* The cell's size on screen, in pixels, at the current zoom (Mercator metres both). */
  function cellPixels() {
    var size = state.heat ? state.heat.cell_size_m : 0;
    return size ? size * 256 * Math.pow(2, map.getZoom()) / EARTH : 12;
  }

  function drawHeat() {
    // npm leaflet.heat 0.2.0 caps each point's weight at `max` (default 1): pass the largest cell
    // each cell is a spot about its own size, so neighbouring cells blend a little but do not pile up
    var radius = Math.max(5, Math.min(26, Math.round(cellPixels() * 0.9)));
    heat.setOptions({ max: Math.max(1, state.heat ? state.heat.max_reports : 1), radius: radius,
                      blur: Math.max(4, Math.round(radius * 0.8)), maxZoom: 0 });
    heat.setLatLngs(state.cells.map(function (c) { return [Number(c.center[1]), Number(c.center[0]), c.reports]; }));
  }

  function scheduleHeat() {
    updateLinks();
    if (view !== "heat") { state.heatStale = true; return; }
    clearTimeout(moveTimer);
    moveTimer = setTimeout(loadHeat, 300);
  }

  /* ---- the districts: choropleth, overdue table ---- */

  function loadDistricts() {
    var f = filters();
    return load("districts", cfg.endpoints.districts + "?" + apiParams(f, "districts").toString(), function (data) {
      state.dashboard = data;
      drawDistricts();
      renderTable();
      if (view === "districts") drawLegend();
    });
  }

  function features() {
    return state.dashboard && Array.isArray(state.dashboard.features) ? state.dashboard.features : [];
  }

  /* Up to five classes of the districts' non-zero values, by quantile: [{low, high, color}]. */
  function classes(measure) {
    var m = measureOf(measure);
    var values = features().map(function (f) { return num((f.properties || {})[m.key]); })
      .filter(function (v) { return v > 0; }).sort(function (a, b) { return a - b; });
    if (!values.length) return [];
    var highs = [];
    var n = Math.min(5, values.length);
    for (var i = 1; i <= n; i++) {
      var h = values[Math.ceil(i * values.length / n) - 1];
      if (highs.indexOf(h) < 0) highs.push(h);
    }
    var palette = m.palette, offset = palette.length - highs.length, low = 1;
    return highs.map(function (h, i) {
      var c = { low: low, high: h, color: palette[Math.min(palette.length - 1, i + offset)] };
      low = h + 1;
      return c;
    });
  }

  function colorOf(value, cls) {
    if (!(value > 0)) return NO_WORK;
    for (var i = 0; i < cls.length; i++) if (value <= cls[i].high) return cls[i].color;
    return cls.length ? cls[cls.length - 1].color : NO_WORK;
  }

  function medianAge(p) {
    var d = p.median_age_days;
    if (d === null || d === undefined || !isFinite(Number(d))) return "–";
    return plural(Number(d), "day", "days");
  }

  function districtFacts(p) {
    return [
      ["Open", fmt(p.open)], ["Overdue", fmt(p.overdue)], ["Median age of open", medianAge(p)],
      ["New in the period", fmt(p["new"])], ["Resolved in the period", fmt(p.resolved)],
    ];
  }

  function tooltipOf(p) {
    var m = measureOf(filters().measure);
    return el("div", { class: "g311-district-tip" }, [
      el("strong", {}, [String(p.name || "")]), el("br"),
      m.label + ": " + fmt(p[m.key]) + (m.key !== "open" ? " · open " + fmt(p.open) : ""),
    ]);
  }

  function popupOf(p, layerKey) {
    var dl = el("dl", { class: "g311-facts g311-district-facts" });
    districtFacts(p).forEach(function (kv) {
      dl.appendChild(el("dt", {}, [kv[0]]));
      dl.appendChild(el("dd", {}, [kv[1]]));
    });
    var trend = el("button", { type: "button" }, ["Trend of this district"]);
    trend.addEventListener("click", function () {
      map.closePopup();
      chooseTrendDistrict({ layer: layerKey, name: String(p.name) });
    });
    return el("div", { class: "g311-popup" }, [
      el("h3", {}, [String(p.name || "")]),
      el("p", { class: "g311-nearby-meta" }, [layerTitle(layerKey)]),
      dl, trend,
    ]);
  }

  var paint = { measure: null, classes: [] };    // the measure the districts are coloured by, and its classes

  function repaint() {
    var measure = measureOf(filters().measure).key;
    paint = { measure: measure, classes: classes(measure) };
  }

  function districtStyle(feature) {
    var p = feature.properties || {};
    return { className: "g311-district", color: "#374151", weight: 1, opacity: 0.7,
             fillColor: colorOf(num(p[paint.measure]), paint.classes), fillOpacity: 0.72 };
  }

  function drawDistricts() {
    if (!map) return;
    var wasOn = districtsLayer && map.hasLayer(districtsLayer);
    if (districtsLayer) districtsLayer.remove();
    var f = filters();
    var layerKey = state.dashboard.layer || f.layer;
    repaint();
    districtsLayer = L.geoJSON({ type: "FeatureCollection", features: features() }, {
      style: districtStyle,
      onEachFeature: function (feature, layer) {
        var p = feature.properties || {};
        layer.bindTooltip(function () { return tooltipOf(p); }, { sticky: true, direction: "top" });
        layer.bindPopup(function () { return popupOf(p, layerKey); }, { maxWidth: 300 });
        layer.on("mouseover", function () { layer.setStyle({ weight: 3, color: "#111827" }); });
        layer.on("mouseout", function () { districtsLayer.resetStyle(layer); });
      },
    });
    if (view === "districts" || wasOn) districtsLayer.addTo(map);
  }

  function restyleDistricts() {
    if (!districtsLayer) return;
    repaint();
    districtsLayer.setStyle(districtStyle);
  }

  function layerOfDistrict(name) {
    var found = null;
    if (districtsLayer) districtsLayer.eachLayer(function (l) {
      if (!found && l.feature && l.feature.properties && l.feature.properties.name === name) found = l;
    });
    return found;
  }

  function showDistrict(name) {
    var layer = layerOfDistrict(name);
    if (!layer || !map) return;
    if (highlight) { highlight.remove(); highlight = null; }
    map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 15 });
    if (view === "districts") {
      layer.openPopup(layer.getBounds().getCenter());
    } else {
      highlight = L.geoJSON(layer.feature, { interactive: false,
        style: { className: "g311-district-outline", color: "#111827", weight: 3, dashArray: "6 4", fill: false } }).addTo(map);
    }
  }

  function renderTable() {
    var body = $("g311-overdue-rows");
    body.textContent = "";
    var f = filters();
    $("g311-overdue-layer").textContent = layerTitle(state.dashboard.layer || f.layer);
    var rows = features().filter(function (x) {
      var p = x.properties || {};
      return num(p.overdue) > 0 || num(p.open) > 0;
    }).slice(0, cfg.overdue_rows);
    var note = "Open and overdue are as of now; new and resolved from " + state.dashboard.since +
      " to " + lastDay(state.dashboard.until) + ". Most overdue first, then most open.";
    $("g311-overdue-note").textContent = note;
    if (!rows.length) {
      body.appendChild(el("tr", { class: "g311-empty" }, [
        el("td", { colspan: "6" }, ["Nothing open in these districts" + (f.category ? " for " + categoryName(f.category) : "") + "."]),
      ]));
      return;
    }
    rows.forEach(function (x) {
      var p = x.properties || {};
      var name = String(p.name || "");
      var go = el("button", { type: "button", class: "g311-link", "aria-label": "Show " + name + " on the map" }, [name]);
      go.addEventListener("click", function () { showDistrict(name); });
      body.appendChild(el("tr", { "data-name": name, class: num(p.overdue) > 0 ? "g311-late" : null }, [
        el("th", { scope: "row" }, [go]),
        el("td", { class: "g311-num" }, [fmt(p.open)]),
        el("td", { class: "g311-num g311-overdue-count" }, [fmt(p.overdue)]),
        el("td", { class: "g311-num" }, [medianAge(p)]),
        el("td", { class: "g311-num" }, [fmt(p["new"])]),
        el("td", { class: "g311-num" }, [fmt(p.resolved)]),
      ]));
    });
  }

  /* The API's `until` is the day after the last one. */
  function lastDay(until) {
    var d = new Date(String(until) + "T00:00:00Z");
    if (isNaN(d.getTime())) return String(until || "");
    d.setUTCDate(d.getUTCDate() - 1);
    return d.toISOString().slice(0, 10);
  }

  /* ---- the legend, on the map ---- */

  function drawLegend() {
    if (!legend) return;
    var box = legend.getContainer();
    if (!box) return;
    box.textContent = "";
    if (view === "heat") heatLegend(box);
    else districtLegend(box);
  }

  function heatLegend(box) {
    var h = state.heat;
    box.appendChild(el("h2", {}, ["Reports per cell"]));
    if (!h) { box.appendChild(el("p", {}, ["Loading…"])); return; }
    if (!h.cells) {
      box.appendChild(el("p", { id: "g311-heat-total" }, ["No reports in view with these filters."]));
      return;
    }
    var stops = Object.keys(cfg.heat_gradient).map(Number).sort(function (a, b) { return a - b; });
    var bar = el("div", { class: "g311-heat-bar", role: "img",
                          "aria-label": "Colours from blue (few reports) to red (the most in view)" });
    bar.style.background = "linear-gradient(to right, " + stops.map(function (s) {
      return cfg.heat_gradient[String(s)] + " " + Math.round(s * 100) + "%";
    }).join(", ") + ")";
    box.appendChild(bar);
    var max = Math.max(1, h.max_reports);
    box.appendChild(el("div", { class: "g311-heat-scale" }, [
      el("span", {}, ["1"]), max > 2 ? el("span", {}, [fmt(Math.round(max / 2))]) : null,
      el("span", { id: "g311-heat-max" }, [fmt(max)]),
    ]));
    var metres = Math.round(h.cell_size_m * Math.cos(map.getCenter().lat * Math.PI / 180));
    box.appendChild(el("p", {}, [
      "Cells of about " + (metres >= 1000 ? (metres / 1000).toFixed(1) + " km" : metres + " m") +
      "; red is the busiest cell in view (" + plural(max, "report", "reports") + ")."]));
    box.appendChild(el("p", { id: "g311-heat-total" }, [
      plural(h.total_reports, "report", "reports") + " in " + plural(h.cells, "cell", "cells") + " in view"]));
  }

  function districtLegend(box) {
    var f = filters(), m = measureOf(f.measure);
    box.appendChild(el("h2", {}, ["Districts: " + m.label.toLowerCase()]));
    box.appendChild(el("p", {}, [m.help + (state.dashboard && (m.key === "new" || m.key === "resolved")
      ? " (" + state.dashboard.since + " to " + lastDay(state.dashboard.until) + ")" : "")]));
    var list = el("ul", { class: "g311-classes" });
    list.appendChild(el("li", {}, [el("span", { class: "g311-swatch", "data-color": NO_WORK }), "0"]));
    classes(f.measure).forEach(function (c) {
      list.appendChild(el("li", {}, [el("span", { class: "g311-swatch", "data-color": c.color }),
        c.low === c.high ? fmt(c.low) : fmt(c.low) + "–" + fmt(c.high)]));
    });
    Array.prototype.forEach.call(list.querySelectorAll(".g311-swatch"), function (s) {
      s.style.background = s.getAttribute("data-color");
    });
    box.appendChild(list);
  }

  /* ---- the trend ---- */

  function loadTrend() {
    return load("trend", cfg.endpoints.trend + "?" + apiParams(filters(), "trend").toString(), function (data) {
      state.trend = data;
      renderTrend();
    });
  }

  function chooseTrendDistrict(d) {
    state.trendDistrict = d;
    updateLinks();
    loadTrend();
    var t = $("g311-trend");
    if (t && t.scrollIntoView) t.scrollIntoView({ block: "nearest" });
  }

  var PERIOD = { day: "Day", week: "Week of", month: "Month of" };

  function periodLabel(interval, period) {
    if (interval === "month") return String(period).slice(0, 7);
    return String(period);
  }

  function renderTrend() {
    var data = state.trend, series = Array.isArray(data.series) ? data.series : [];
    var interval = String(data.interval || filters().interval);
    $("g311-trend-interval").textContent = interval;
    var where = $("g311-trend-where");
    where.textContent = "";
    if (state.trendDistrict) {
      var all = el("button", { type: "button", class: "g311-link", id: "g311-trend-all" }, ["show the whole area"]);
      all.addEventListener("click", function () { chooseTrendDistrict(null); });
      where.appendChild(document.createTextNode(" in " + state.trendDistrict.name + " ("));
      where.appendChild(all);
      where.appendChild(document.createTextNode(")"));
    }
    var cat = filters().category;
    var lead = (cat ? categoryName(cat) + ", " : "All categories, ") + data.since + " to " + lastDay(data.until) + ".";
    if (series.length >= 2) {
      var last = series[series.length - 1], prev = series[series.length - 2];
      lead += " Latest " + interval + " (from " + periodLabel(interval, last.period) + "): " + fmt(last["new"]) +
        " new, " + fmt(last.resolved) + " resolved; the " + interval + " before: " + fmt(prev["new"]) + " new, " +
        fmt(prev.resolved) + " resolved.";
    }
    $("g311-trend-summary").textContent = lead;
    drawChart(series, interval);
    var rows = $("g311-trend-rows");
    rows.textContent = "";
    series.slice().reverse().forEach(function (r) {
      rows.appendChild(el("tr", {}, [
        el("th", { scope: "row" }, [periodLabel(interval, r.period)]),
        el("td", { class: "g311-num" }, [fmt(r["new"])]), el("td", { class: "g311-num" }, [fmt(r.resolved)]),
      ]));
    });
  }

  function drawChart(series, interval) {
    var box = $("g311-trend-chart");
    box.textContent = "";
    var W = 460, H = 150, left = 34, bottom = 20, top = 8, plotH = H - top - bottom;
    var max = 1;
    series.forEach(function (r) { max = Math.max(max, num(r["new"]), num(r.resolved)); });
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "g311-chart", role: "img",
                             "aria-labelledby": "g311-trend-title g311-trend-summary" });
    var y = function (v) { return top + plotH - (num(v) / max) * plotH; };
    chart.appendChild(svg("line", { x1: left, x2: W, y1: top + plotH, y2: top + plotH, class: "g311-axis" }));
    chart.appendChild(svg("text", { x: left - 4, y: top + 8, "text-anchor": "end", class: "g311-tick" }, [fmt(max)]));
    chart.appendChild(svg("text", { x: left - 4, y: top + plotH, "text-anchor": "end", class: "g311-tick" }, ["0"]));
    var n = Math.max(1, series.length), slot = (W - left) / n, bw = Math.max(0.6, slot * 0.4);
    series.forEach(function (r, i) {
      var x = left + i * slot + slot * 0.1;
      var g = svg("g", { class: "g311-bar" }, [
        svg("title", {}, [(PERIOD[interval] || "") + " " + periodLabel(interval, r.period) + ": " +
          fmt(r["new"]) + " new, " + fmt(r.resolved) + " resolved"]),
        svg("rect", { x: x.toFixed(2), y: y(r["new"]).toFixed(2), width: bw.toFixed(2),
                      height: (top + plotH - y(r["new"])).toFixed(2), class: "g311-bar-new" }),
        svg("rect", { x: (x + bw).toFixed(2), y: y(r.resolved).toFixed(2), width: bw.toFixed(2),
                      height: (top + plotH - y(r.resolved)).toFixed(2), class: "g311-bar-resolved" }),
      ]);
      chart.appendChild(g);
    });
    if (series.length) {
      chart.appendChild(svg("text", { x: left, y: H - 5, class: "g311-tick" }, [periodLabel(interval, series[0].period)]));
      chart.appendChild(svg("text", { x: W, y: H - 5, "text-anchor": "end", class: "g311-tick" },
        [periodLabel(interval, series[series.length - 1].period)]));
    }
    box.appendChild(chart);
    box.appendChild(el("p", { class: "g311-chart-key" }, [
      el("span", { class: "g311-key-new", "aria-hidden": "true" }), "new ",
      el("span", { class: "g311-key-resolved", "aria-hidden": "true" }), "resolved",
    ]));
  }

  /* ---- the summary line and the downloads ---- */

  function summary() {
    var s = $("g311-summary"), f = filters(), parts = [];
    if (view === "heat") {
      if (!state.heat) { s.textContent = "Loading the heat map…"; return; }
      parts.push(plural(state.heat.total_reports, "report", "reports") + " in view");
      parts.push(f.category ? categoryName(f.category) : "all categories");
      var st = $("g311-status-filter");
      parts.push(st.value ? st.options[st.selectedIndex].textContent.toLowerCase() : "any status");
      parts.push(f.from || f.to ? (f.from || "the start") + " to " + (f.to || "today") : "all time");
    } else {
      if (!state.dashboard) { s.textContent = "Loading the districts…"; return; }
      var totals = { open: 0, overdue: 0, "new": 0, resolved: 0 };
      features().forEach(function (x) {
        Object.keys(totals).forEach(function (k) { totals[k] += num((x.properties || {})[k]); });
      });
      parts.push(plural(features().length, "district", "districts") + " (" + layerTitle(state.dashboard.layer) + ")");
      parts.push(fmt(totals.open) + " open, " + fmt(totals.overdue) + " overdue");
      parts.push(fmt(totals["new"]) + " new, " + fmt(totals.resolved) + " resolved from " + state.dashboard.since +
        " to " + lastDay(state.dashboard.until));
      parts.push(f.category ? categoryName(f.category) : "all categories");
    }
    s.textContent = parts.join(" · ");
    s.className = "";
  }

  function updateLinks() {
    var f = filters();
    if (map) {
      var q = heatQuery();
      q.set("format", "csv");
      $("g311-csv-heat").setAttribute("href", cfg.endpoints.heat + "?" + q.toString());
    }
    var d = apiParams(f, "districts"); d.set("format", "csv");
    $("g311-csv-districts").setAttribute("href", cfg.endpoints.districts + "?" + d.toString());
    var t = apiParams(f, "trend"); t.set("format", "csv");
    $("g311-csv-trend").setAttribute("href", cfg.endpoints.trend + "?" + t.toString());
  }

  /* ---- switching views, applying filters ---- */

  function setView(next) {
    view = next === "districts" ? "districts" : "heat";
    document.body.setAttribute("data-view", view);
    if (!map) return;
    if (view === "heat") {
      if (districtsLayer) districtsLayer.remove();
      if (!map.hasLayer(heat)) heat.addTo(map);
      if (state.heatStale) loadHeat();
    } else {
      if (map.hasLayer(heat)) heat.remove();
      if (highlight) { highlight.remove(); highlight = null; }
      if (districtsLayer && !map.hasLayer(districtsLayer)) districtsLayer.addTo(map);
    }
    drawLegend();
    summary();
  }

  /* Filters changed: reload what depends on them (only what changed when just the view or the
   * measure changed). */
  function apply(force) {
    var f = filters();
    var problem = datesProblem(f);
    setProblem("dates", problem);
    if (problem) return;
    syncAddress(f);
    var key = JSON.stringify([f.category, f.status, f.from, f.to, f.layer, f.interval]);
    var changed = force || key !== applied;
    var before = applied ? JSON.parse(applied) : null;
    applied = key;
    if (changed) {
      state.heatStale = true;
      if (before && before[4] !== f.layer) state.trendDistrict = null;
      if (highlight) { highlight.remove(); highlight = null; }
      updateLinks();
      loadDistricts();
      loadTrend();
    }
    if (f.view !== view) setView(f.view);        // loads the heat map if it is shown and stale
    else if (view === "heat" && state.heatStale) loadHeat();
    if (!changed) {
      restyleDistricts();
      drawLegend();
      summary();
    }
  }

  function clearFilters() {
    var d = cfg.defaults;
    $("g311-category").value = d.category;
    $("g311-status-filter").value = d.status;
    $("g311-from").value = "";
    $("g311-to").value = "";
    $("g311-layer").value = d.layer;
    $("g311-interval").value = d.interval;
    state.trendDistrict = null;
    apply(true);
  }

  function busy() {
    return moveTimer !== null || Object.keys(aborts).some(function (k) { return aborts[k] !== null; });
  }

  /* ---- start ---- */

  function start() {
    var node = $("geo311-config");
    if (!node) return;
    cfg = JSON.parse(node.textContent);
    map = window.L ? window[cfg.map] || null : null;
    heat = map ? window[cfg.heat] || null : null;
    var form = $("g311-filters");
    form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(true); });
    ["g311-category", "g311-status-filter", "g311-layer", "g311-interval", "g311-from", "g311-to"].forEach(function (id) {
      $(id).addEventListener("change", function () { apply(false); });
    });
    // choosing what to colour the districts by shows the districts
    $("g311-measure").addEventListener("change", function () {
      $("g311-view-districts").checked = true;
      apply(false);
    });
    Array.prototype.forEach.call(document.querySelectorAll('input[name="view"]'), function (r) {
      r.addEventListener("change", function () { apply(false); });
    });
    $("g311-clear").addEventListener("click", clearFilters);
    if (map) {
      map.getContainer().setAttribute("aria-label",
        "Map of reports: a heat map of report counts, or the districts coloured by a measure. " +
        "The same figures are in the table and the downloads.");
      legend = L.control({ position: "bottomright" });
      legend.onAdd = function () {
        var div = L.DomUtil.create("div", "g311-map-legend");
        div.id = "g311-legend";
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      };
      legend.addTo(map);
      map.on("moveend", scheduleHeat);
    } else {
      setProblem("map", "The map could not start; the table, the trend and the downloads still work.");
    }
    view = filters().view;
    document.body.setAttribute("data-view", view);
    if (map && view === "districts" && heat) heat.remove();
    apply(true);
    window.geo311Manager = {
      map: map, heat: function () { return heat; }, districts: function () { return districtsLayer; },
      cells: function () { return state.cells; }, heatInfo: function () { return state.heat; },
      dashboard: function () { return state.dashboard; }, trend: function () { return state.trend; },
      filters: filters, view: function () { return view; },
      loads: function () { return { heat: loads.heat, districts: loads.districts, trend: loads.trend }; },
      busy: busy, reload: function () { apply(true); }, classes: classes,
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
