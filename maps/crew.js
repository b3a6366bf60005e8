/* geo311 crew page (/crew): the crew's work list as a route on the map, the stops beside it, and
 * the Start / Resolve actions.
 *
 * The page (geo311/crew_page.py) holds the panel, a JSON config block and the session's CSRF token
 * (<meta name="csrf-token">); folium made the map, whose global variable name the config gives.
 * The list itself comes from the work-list API, on load and after every action, so what is shown
 * is what the server has. Every piece of data is put in the DOM as text (textContent / text nodes),
 * never as HTML; the markers' icon HTML is built from sequence numbers only.
 */
(function () {
  "use strict";

  var BANDS = ["urgent", "high", "normal"];
  var STATUSES = ["open", "assigned", "in_progress"];
  var WORDS = {
    start: { label: "Start", doing: "Starting", done: "started" },
    resolve: { label: "Resolve", doing: "Resolving", done: "resolved" },
  };

  var cfg, csrf = "", map = null, stopsLayer = null, route = null, startMarker = null;
  var features = [];                 // the work list, in route order
  var markers = new Map();           // report id (string) -> L.Marker
  var errors = new Map();            // report id -> the message shown next to that stop
  var pending = new Set();           // report ids with an action in flight
  var loadAbort = null, loadCount = 0, fitted = false, selected = null;

  function $(id) { return document.getElementById(id); }

  /* el("p", {class: "x"}, ["text", node]): strings become text nodes, never markup. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false || c === "") return;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  /* ---- a stop, as text ---- */

  function words(code) { return String(code || "").replace(/_/g, " "); }
  function idOf(p) { return String(p.id); }
  function seqOf(p) {
    var n = Math.floor(Number(p.sequence));
    return isFinite(n) && n > 0 ? n : 0;
  }
  function bandOf(p) { return BANDS.indexOf(p.band) >= 0 ? p.band : "normal"; }
  function statusOf(p) { return STATUSES.indexOf(p.status) >= 0 ? p.status : "other"; }
  function categoryName(p) { return p.category_name || words(p.category) || "Report"; }
  function stopName(p) { return "stop " + seqOf(p) + " (report " + idOf(p) + ")"; }
  function distance(m) {
    m = Number(m);
    if (!isFinite(m)) return "";
    return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(1) + " km";
  }
  function age(days) {
    var d = Number(days);
    if (!isFinite(d)) return "";
    if (d < 1 / 24) return Math.max(1, Math.round(d * 1440)) + " min old";
    if (d < 1) return Math.round(d * 24) + " h old";
    var n = Math.floor(d);
    return n + (n === 1 ? " day old" : " days old");
  }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }
  function featureOf(id) {
    for (var i = 0; i < features.length; i++) if (idOf(features[i].properties || {}) === id) return features[i];
    return null;
  }
  function latLngOf(f) {
    var c = f && f.geometry && f.geometry.coordinates;
    if (!c) return null;
    var lat = Number(c[1]), lon = Number(c[0]);
    return isFinite(lat) && isFinite(lon) ? [lat, lon] : null;
  }

  /* ---- talking to the API (the session cookie authenticates; changes carry the CSRF token) ---- */

  function request(method, url, body, signal) {
    var opts = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (signal) opts.signal = signal;
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
    return fetch(url, opts).then(function (res) {
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

  function setStatus(text, bad, signIn) {
    var s = $("g311-status");
    s.textContent = text || "";
    s.className = bad ? "g311-error" : "";
    if (signIn) s.appendChild(el("span", {}, [" ", el("a", { href: cfg.login_url }, ["Sign in again"])]));
  }

  /* ---- loading the work list ---- */

  function load(after) {
    if (loadAbort) loadAbort.abort();
    var abort = loadAbort = new AbortController();
    var url = cfg.worklist + "?limit=" + encodeURIComponent(String(cfg.limit));
    return request("GET", url, undefined, abort.signal).then(function (res) {
      if (abort !== loadAbort) return;
      loadAbort = null;
      if (!res.ok || !res.data || !Array.isArray(res.data.features)) {
        $("g311-summary").textContent = "The work list could not be loaded: " + errorOf(res);
        $("g311-summary").className = "g311-error";
        if (res.status === 401) setStatus("", true, true);
        return;
      }
      features = res.data.features.filter(function (f) { return f && f.properties; }).slice()
        .sort(function (a, b) { return seqOf(a.properties) - seqOf(b.properties); });
      render(res.data);
      loadCount += 1;
      if (after) after();
    }).catch(ignoreAbort);
  }

  function summary(data) {
    var s = $("g311-summary");
    s.className = "";
    if (!features.length) {
      s.textContent = "No stops: nothing is open in this crew's districts and categories.";
      return;
    }
    var text = plural(features.length, "stop", "stops");
    if (typeof data.total_m === "number") text += " · " + distance(data.total_m) + " in straight lines";
    if (features.length >= cfg.limit) text += " (the first " + cfg.limit + "; finish these to see more)";
    var at = new Date(data.generated_at);
    if (!isNaN(at.getTime())) text += " · updated " + at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    s.textContent = text;
  }

  /* ---- the list ---- */

  function contactsOf(p) {
    var list = Array.isArray(p.contacts) ? p.contacts : [];
    if (!list.length) return null;
    return el("div", { class: "g311-stop-contacts" }, [
      el("span", {}, [list.length === 1 ? "Contact:" : "Contacts:"]),
      el("ul", {}, list.map(function (c) {
        var parts = [];
        if (c.name) parts.push(String(c.name));
        var li = el("li", {}, [parts.join("")]);
        if (c.email) {
          if (li.childNodes.length) li.appendChild(document.createTextNode(" · "));
          li.appendChild(el("a", { href: "mailto:" + encodeURIComponent(String(c.email)).replace(/%40/g, "@") }, [String(c.email)]));
        }
        if (c.phone) {
          var digits = String(c.phone).replace(/[^0-9+]/g, "");
          if (li.childNodes.length) li.appendChild(document.createTextNode(" · "));
          li.appendChild(digits ? el("a", { href: "tel:" + digits }, [String(c.phone)]) : el("span", {}, [String(c.phone)]));
        }
        return li;
      })),
    ]);
  }

  /* Photos: thumbnails linking to the public copies and, staff being who sees this page, a link to
   * each original (with its EXIF data). Only this server's own paths are ever used as links. */
  function ownPath(url, prefix) {
    url = String(url || "");
    return url.indexOf(prefix) === 0 && url.indexOf("//") < 0 && url.indexOf("\\") < 0 ? url : null;
  }

  function thumbnail(p, ph, n, width) {
    var url = ownPath(ph.url, "/photos/"), thumb = ownPath(ph.thumbnail_url, "/photos/");
    if (!url || !thumb) return null;
    var img = el("img", { src: thumb, alt: "Photo " + n + " of report " + idOf(p), loading: "lazy", width: width,
                          style: "height: auto; display: block; border-radius: 3px" });
    return el("a", { href: url, target: "_blank", rel: "noopener", class: "g311-photo" }, [img]);
  }

  function photosOf(p) {
    var list = Array.isArray(p.photos) ? p.photos : [];
    var items = [];
    list.forEach(function (ph, i) {
      var link = ph && thumbnail(p, ph, i + 1, 96);
      if (!link) return;
      var original = ownPath(ph.original_url, "/api/v1/photos/");
      items.push(el("li", { style: "margin: 0" }, [
        link,
        original ? el("a", { href: original, target: "_blank", rel: "noopener", class: "g311-photo-original",
                             "aria-label": "Original of photo " + (i + 1) + " of report " + idOf(p) + ", with its metadata" },
                      ["Original"]) : null,
      ]));
    });
    if (!items.length) return null;
    return el("ul", { class: "g311-stop-photos", "aria-label": "Photos of report " + idOf(p),
                      style: "list-style: none; padding: 0; margin: .25rem 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start" }, items);
  }

  function actionButton(p, action, primary, disabled) {
    var id = idOf(p);
    var b = el("button", {
      type: "button", class: primary ? "g311-primary" : null, "data-action": action, "data-id": id,
      "aria-label": WORDS[action].label + " " + stopName(p), disabled: disabled || pending.has(id),
    }, [WORDS[action].label]);
    b.addEventListener("click", function () { act(id, action); });
    return b;
  }

  function stopItem(f) {
    var p = f.properties, id = idOf(p), n = seqOf(p), band = bandOf(p), status = statusOf(p);
    var titleId = "g311-stop-" + id + "-title";
    var meta = [age(p.age_days)];
    var count = Number(p.submission_count);
    if (isFinite(count) && count > 0) meta.push(plural(count, "submission", "submissions"));
    if (typeof p.leg_m === "number") meta.push(distance(p.leg_m) + (n === 1 ? " from the start" : " from the previous stop"));
    var hood = p.districts && Array.isArray(p.districts.neighborhood) ? p.districts.neighborhood.join(", ") : "";
    var where = [p.address, hood].filter(function (x) { return x; }).join(" · ");
    var show = el("button", { type: "button", "data-action": "show", "aria-label": "Show " + stopName(p) + " on the map" }, ["Show on map"]);
    show.addEventListener("click", function () { select(id, { pan: true }); });
    var li = el("li", {
      class: "g311-stop g311-band-" + band + " g311-status-" + status + (selected === id ? " g311-selected" : ""),
      id: "g311-stop-" + id, "data-id": id, "data-sequence": n, tabindex: "-1", "aria-labelledby": titleId,
      "aria-busy": pending.has(id) ? "true" : null,
    }, [
      el("div", { class: "g311-stop-head" }, [
        el("span", { class: "g311-seq g311-band-" + band, "aria-hidden": "true" }, [String(n)]),
        el("h3", { id: titleId }, ["Stop " + n + ": " + categoryName(p)]),
      ]),
      el("p", { class: "g311-stop-meta" }, [
        el("span", { class: "g311-badge g311-band-" + band }, [band]), " ",
        el("span", { class: "g311-badge g311-status g311-status-" + status }, [words(p.status)]), " ",
        meta.filter(function (x) { return x; }).join(" · "),
      ]),
      where ? el("p", { class: "g311-stop-where" }, [where]) : null,
      p.description ? el("p", { class: "g311-stop-desc" }, [p.description]) : null,
      photosOf(p),
      contactsOf(p),
      el("div", { class: "g311-stop-actions" }, [
        actionButton(p, "start", false, status === "in_progress"),
        actionButton(p, "resolve", true, false),
        show,
        el("a", { href: cfg.report_url + encodeURIComponent(id) }, ["Report " + id]),
      ]),
      el("p", { class: "g311-error", role: "alert", id: "g311-stop-" + id + "-error" }, [errors.get(id) || ""]),
    ]);
    li.addEventListener("click", function (ev) {
      if (ev.target.closest("button, a")) return;
      select(id, { pan: false });
    });
    return li;
  }

  /* Which stop control has the focus, so a re-render can give it back. */
  function focusedControl() {
    var a = document.activeElement, list = $("g311-stops");
    if (!a || !list.contains(a)) return null;
    var li = a.closest("li.g311-stop");
    return li ? { id: li.getAttribute("data-id"), action: a.getAttribute("data-action") } : null;
  }

  function focusStop(id, action) {
    var li = $("g311-stop-" + id);
    if (!li) return false;
    var target = action ? li.querySelector('button[data-action="' + action + '"]:not([disabled])') : null;
    (target || li).focus();
    return true;
  }

  function renderList() {
    var keep = focusedControl();
    var list = $("g311-stops");
    list.textContent = "";
    features.forEach(function (f) { list.appendChild(stopItem(f)); });
    if (keep && !focusStop(keep.id, keep.action)) $("g311-stops-title").focus();
  }

  function render(data) {
    summary(data);
    // errors for stops that are gone are shown once in the status line, then dropped
    errors.forEach(function (message, id) {
      if (!featureOf(id)) {
        setStatus("Report " + id + ": " + message, true);
        errors.delete(id);
      }
    });
    if (selected && !featureOf(selected)) selected = null;
    renderList();
    drawMap(data.start);
  }

  /* ---- the map ---- */

  function markerLabel(p) {
    return "Stop " + seqOf(p) + ": " + categoryName(p) + ", report " + idOf(p) + ", " + bandOf(p) + ", " + words(p.status);
  }

  function popupOf(p) {
    var box = el("div", { class: "g311-popup" }, [
      el("h3", {}, ["Stop " + seqOf(p) + ": " + categoryName(p)]),
      el("p", { class: "g311-nearby-meta" }, [bandOf(p) + " · " + words(p.status) + " · report " + idOf(p)]),
      p.address ? el("p", {}, [p.address]) : null,
      p.description ? el("p", {}, [p.description]) : null,
      Array.isArray(p.photos) && p.photos[0] ? thumbnail(p, p.photos[0], 1, 160) : null,
    ]);
    var go = el("button", { type: "button" }, ["Go to " + stopName(p) + " in the list"]);
    go.addEventListener("click", function () { map.closePopup(); focusStop(idOf(p)); });
    box.appendChild(go);
    return box;
  }

  function drawMap(start) {
    if (!map) return;
    stopsLayer.clearLayers();
    markers.clear();
    var path = [];
    var s = Array.isArray(start) ? [Number(start[1]), Number(start[0])] : null;
    if (!s || !isFinite(s[0]) || !isFinite(s[1])) s = [Number(cfg.yard[1]), Number(cfg.yard[0])];
    startMarker.setLatLng(s);
    path.push(s);
    var total = features.length;
    features.forEach(function (f) {
      var p = f.properties, ll = latLngOf(f);
      if (!ll) return;
      var id = idOf(p), n = seqOf(p), label = markerLabel(p);
      var classes = "g311-stop-icon g311-band-" + bandOf(p) + " g311-status-" + statusOf(p) + (selected === id ? " g311-selected" : "");
      var wide = n > 99 ? 34 : 28;
      var m = L.marker(ll, {
        // the icon's HTML is the sequence number and nothing else
        icon: L.divIcon({ className: classes, html: "<span>" + n + "</span>", iconSize: [wide, 28],
                          iconAnchor: [wide / 2, 14], popupAnchor: [0, -14] }),
        title: label, keyboard: true, riseOnHover: true, zIndexOffset: (total - n) * 1000,
      });
      m.g311 = id;
      m.on("add", function () { var e = m.getElement(); if (e) e.setAttribute("aria-label", label); });
      m.on("click", function () { select(id, { fromMap: true }); });
      m.bindPopup(function () { return popupOf(p); }, { maxWidth: 280 });
      markers.set(id, m);
      stopsLayer.addLayer(m);
      path.push(ll);
    });
    route.setLatLngs(path);
    if (!fitted) {
      fitted = true;
      // at once, not animated: the page opens on the whole route
      if (path.length > 1) map.fitBounds(L.latLngBounds(path), { padding: [40, 40], maxZoom: 16, animate: false });
      else map.setView(s, Math.max(map.getZoom(), 13), { animate: false });
    }
  }

  /* A stop chosen on the map or in the list: marked in both; from the map, the list scrolls to it. */
  function select(id, opts) {
    selected = id;
    Array.prototype.forEach.call(document.querySelectorAll(".g311-stop.g311-selected"), function (n) {
      n.classList.remove("g311-selected");
    });
    var li = $("g311-stop-" + id);
    if (li) li.classList.add("g311-selected");
    markers.forEach(function (m, mid) {
      var e = m.getElement();
      if (e) e.classList.toggle("g311-selected", mid === id);
    });
    if (opts && opts.fromMap && li) {
      li.scrollIntoView({ block: "nearest" });
    }
    var m = markers.get(id);
    if (opts && opts.pan && m && map) {
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 16));
      m.openPopup();
    }
  }

  /* ---- Start / Resolve ---- */

  function act(id, action) {
    var f = featureOf(id);
    if (!f || pending.has(id)) return;
    var p = f.properties, index = features.indexOf(f), name = stopName(p);
    pending.add(id);
    errors.delete(id);
    renderList();
    focusStop(id, action === "start" ? "resolve" : null);
    setStatus(WORDS[action].doing + " " + name + "…");
    var url = cfg.api + "/reports/" + encodeURIComponent(id) + "/events";
    request("POST", url, { action: action }).then(function (res) {
      pending.delete(id);
      if (res.ok) {
        setStatus(name.charAt(0).toUpperCase() + name.slice(1) + " " + WORDS[action].done + ".");
        load(function () { afterAction(id, index); });
        return;
      }
      errors.set(id, WORDS[action].label + " failed: " + errorOf(res));
      setStatus("", true, res.status === 401);
      renderList();
      focusStop(id, action);
      if (!res.network && res.status !== 401) load(function () { afterAction(id, index, action); });
    });
  }

  /* After an action: focus stays with the stop, or moves to the one now in its place. */
  function afterAction(id, index, action) {
    if (focusStop(id, action || "resolve")) return;
    var next = features[Math.min(index, features.length - 1)];
    if (next) focusStop(idOf(next.properties));
    else $("g311-stops-title").focus();
  }

  /* ---- start ---- */

  function start() {
    var node = $("geo311-config");
    if (!node) return;
    cfg = JSON.parse(node.textContent);
    var meta = document.querySelector('meta[name="csrf-token"]');
    csrf = meta ? meta.getAttribute("content") || "" : "";
    map = window.L ? window[cfg.map] || null : null;
    if (map) {
      map.getContainer().setAttribute("aria-label",
        "Map of the route: the start at the yard, then the numbered stops in order, joined by straight lines.");
      route = L.polyline([], { className: "g311-route", color: "#1d4ed8", weight: 4, opacity: 0.75,
                               dashArray: "8 6", interactive: false }).addTo(map);
      stopsLayer = L.layerGroup().addTo(map);
      startMarker = L.marker([Number(cfg.yard[1]), Number(cfg.yard[0])], {
        icon: L.divIcon({ className: "g311-start-icon", html: "Start", iconSize: [44, 22], iconAnchor: [22, 11] }),
        title: "Start: the yard of " + cfg.crew.name, keyboard: false, zIndexOffset: -1000,
      }).addTo(map);
      startMarker.on("add", function () {
        var e = startMarker.getElement();
        if (e) e.setAttribute("aria-label", "Start: the yard of " + cfg.crew.name);
      });
      var e = startMarker.getElement();
      if (e) e.setAttribute("aria-label", "Start: the yard of " + cfg.crew.name);
    } else {
      setStatus("The map could not start; the list below still works.", true);
    }
    $("g311-reload").addEventListener("click", function () {
      setStatus("");
      load();
    });
    load();
    window.geo311Crew = {
      map: map, markers: markers, route: function () { return route; }, start: function () { return startMarker; },
      features: function () { return features; }, loads: function () { return loadCount; },
      busy: function () { return pending.size > 0 || loadAbort !== null; }, reload: load,
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
