/* geo311 resident page: drop a pin, see what is already reported nearby, send a report.
 *
 * The page (geo311/pages.py) holds the form and a JSON config block; folium made the map and an
 * empty marker-cluster layer, whose global variable names the config gives. Every piece of data
 * shown here is put in the DOM as text (textContent / text nodes), never as HTML: Leaflet popups
 * and tooltips get DOM nodes, not strings. The form also works without the map (an address search,
 * coordinates, a district's centre, a photo's location), so a resident need not point at anything.
 *
 * Photos: chosen with the file input (added to those already chosen), previewed from blob: URLs
 * (revoked when a photo is removed or sent), checked here against the config's limits (the server
 * checks again, and judges the type by the content), sent as multipart/form-data with the report.
 * Addresses: GET /geocode places the pin when one candidate is clearly best (intake's rule, from the
 * config), else lists the candidates; after a click or a drag, GET /reverse names the nearest one.
 *
 * Language: every text shown goes through _("English text", {name: value}); the page's config
 * carries the translations of these texts (geo311/locale/*, found by `geo311 i18n extract`), and
 * the API is asked in the page's language (Accept-Language), so its refusals come back in it too.
 * Numbers and dates are written with Intl for the page's locale.
 *
 * Keyboard: the pin can be placed by address, coordinates or district, and moved with the "Move
 * the pin" buttons or the arrow keys (on those buttons, on the pin, or on the map once a pin is
 * down; Shift moves farther). Enter or Space on the map drops the pin at the map's centre.
 */
(function () {
  "use strict";

  var cfg, map = null, reports = null, pin = null, nearbyLayer = null, districtLayer = null;
  var where = null;                  // {lat, lon} of the pin
  var categories = {};               // code -> {code, name, attributes, dedup_radius_m, ...}
  var markers = new Map();           // report id -> L.Marker in the cluster layer
  var districts = [];                // features of the chosen district layer
  var pointsAbort = null, pointsTimer = null, nearbyAbort = null, nearbyTimer = null;
  var pendingKey = null, pendingBody = null;   // Idempotency-Key, kept to retry the same body
  var busy = false, lastPopupClose = 0;
  var photos = [];                   // {file, url, li, note, locate, alive}, in the order they go
  var photoSeq = 0;
  var searchAbort = null, reverseAbort = null;
  var prefilled = null;              // what the page wrote into the address field (not the resident)

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

  /* Is the page in English? (The server's free-text notes in replies are English.) */
  function english() {
    return (document.documentElement.lang || "en").toLowerCase().indexOf("en") === 0;
  }

  /* A text in the page's language (English when it has no translation), {placeholders} filled in as text. */
  function _(text, params) {
    var t = (cfg && cfg.messages && Object.prototype.hasOwnProperty.call(cfg.messages, text)) ? cfg.messages[text] : text;
    if (!params) return t;
    return t.replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(params, k) ? String(params[k]) : m;
    });
  }
  function locale() { return (cfg && cfg.lang_tag) || "en"; }
  /* A number that must read left to right (a coordinate: "-122.6") inside right-to-left text. */
  function ltr(text) { return cfg && cfg.dir === "rtl" ? "\u2066" + text + "\u2069" : text; }
  function num(n, maxDigits, minDigits) {
    try {
      return new Intl.NumberFormat(locale(), { maximumFractionDigits: maxDigits || 0, minimumFractionDigits: minDigits || 0 }).format(n);
    } catch (e) { return String(n); }
  }

  function words(code) { return String(code || "").replace(/_/g, " "); }
  function statusLabel(code) {
    var labels = {
      open: _("open"), assigned: _("assigned"), in_progress: _("in progress"), resolved: _("resolved"),
      duplicate: _("duplicate"), not_actionable: _("not actionable"),
    };
    return labels[code] || words(code);
  }
  function categoryName(p) {
    var c = categories[p.category];
    return (c && c.name) || p.category_name || words(p.category) || _("Report");
  }
  function reportHref(id) { return cfg.report_url + encodeURIComponent(String(id)); }
  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    try { return d.toLocaleString(locale()); } catch (e) { return d.toLocaleString(); }
  }
  function sentence(text) {
    var t = String(text || "").trim();
    if (!t) return "";
    t = t.charAt(0).toUpperCase() + t.slice(1);
    return /[.!?]$/.test(t) ? t : t + ".";
  }
  function size(bytes) {
    if (bytes < 1048576) return _("{n} KB", { n: num(Math.max(1, Math.round(bytes / 1024))) });
    return _("{n} MB", { n: num(bytes / 1048576, 1) });
  }
  function distance(m) {
    return m < 1000 ? _("{n} m", { n: num(Math.round(m)) }) : _("{n} km", { n: num(m / 1000, 1, 1) });
  }

  /* ---- talking to the API ---- */

  function api(method, path, body, headers, signal) {
    var opts = { method: method, headers: { Accept: "application/json", "Accept-Language": locale() },
                 credentials: "same-origin" };
    if (signal) opts.signal = signal;
    Object.keys(headers || {}).forEach(function (k) { opts.headers[k] = headers[k]; });
    if (body instanceof FormData) {
      opts.body = body;                // the browser writes the multipart Content-Type and boundary
    } else if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
    return fetch(cfg.api + path, opts).then(function (res) {
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

  function errorOf(res) {
    if (res.network) return { message: _("Cannot reach the server. Check your connection and try again.") };
    var e = res.data && res.data.error;
    if (e && e.message) {
      var details = Array.isArray(e.details) ? e.details.map(function (d) {
        return typeof d === "string" ? d : JSON.stringify(d);
      }).filter(function (d) { return String(e.message).indexOf(d) < 0; }) : [];
      return { message: isolateCoordinates(String(e.message)), details: details.map(isolateCoordinates) };
    }
    return { message: _("The server answered with status {status}. Please try again.", { status: res.status }) };
  }

  /* In a right-to-left page, "[-122.66, 45.64]" in a server's message keeps its left-to-right order. */
  function isolateCoordinates(text) {
    return cfg && cfg.dir === "rtl" ? text.replace(/\[[-0-9., ]+\]/g, function (m) { return ltr(m); }) : text;
  }

  function ignoreAbort(err) { if (!err || err.name !== "AbortError") throw err; }

  function setStatus(text, bad) {
    var s = $("g311-status");
    s.setAttribute("aria-live", bad ? "assertive" : "polite");   // a problem is said at once
    s.textContent = text || "";
    s.className = bad ? "g311-error" : "";
  }

  /* ---- a report, as text ---- */

  /* A report's photos as thumbnails: only this server's public copies (/photos/...), as images. */
  function publicPhotos(p) {
    return (Array.isArray(p.photos) ? p.photos : []).filter(function (ph) {
      return ph && typeof ph.url === "string" && typeof ph.thumbnail_url === "string" &&
        ph.url.indexOf("/photos/") === 0 && ph.thumbnail_url.indexOf("/photos/") === 0;
    });
  }

  function thumbnails(p, opts) {
    var list = publicPhotos(p);
    if (!list.length) return null;
    opts = opts || {};
    var ul = el("ul", { class: "g311-thumbs", "aria-label": _("Photos of report {id}", { id: p.id }) });
    list.slice(0, opts.max || list.length).forEach(function (ph, i) {
      var w = Number(ph.thumbnail_width), h = Number(ph.thumbnail_height);
      var img = el("img", { src: ph.thumbnail_url, alt: _("Photo {n} of report {id}", { n: i + 1, id: p.id }), loading: "lazy",
                            width: w > 0 && h > 0 ? w : null, height: w > 0 && h > 0 ? h : null });
      ul.appendChild(el("li", {}, [opts.link ? el("a", { href: ph.url }, [img]) : img]));
    });
    return ul;
  }

  function reportSummary(p, headingTag) {
    var meta = [statusLabel(p.status)];
    if (p.submission_count > 1) meta.push(_("{count} submissions", { count: num(p.submission_count) }));
    if (typeof p.distance_m === "number") meta.push(_("{distance} away", { distance: _("{n} m", { n: num(Math.round(p.distance_m)) }) }));
    return el("div", { class: "g311-report-summary" }, [
      el(headingTag || "h3", {}, [_("{category} · report {id}", { category: categoryName(p), id: p.id })]),
      el("p", { class: "g311-nearby-meta" }, [meta.join(" · ")]),
      p.agency ? el("p", { class: "g311-nearby-meta" }, [p.agency]) : null,
      p.description ? el("p", {}, [p.description]) : null,
      p.address ? el("p", { class: "g311-nearby-meta" }, [p.address]) : null,
      p.created_at ? el("p", { class: "g311-nearby-meta" }, [_("Reported {when}", { when: when(p.created_at) })]) : null,
      thumbnails(p, { max: 3 }),
      el("p", {}, [el("a", { href: reportHref(p.id) }, [_("Details and history of report {id}", { id: p.id })])]),
    ]);
  }

  /* ---- open reports on the map (clustered), loaded for the visible area ---- */

  function schedulePoints() {
    clearTimeout(pointsTimer);
    pointsTimer = setTimeout(loadPoints, 200);
  }

  function loadPoints() {
    if (pointsAbort) pointsAbort.abort();
    pointsAbort = new AbortController();
    var b = map.getBounds().pad(0.2);
    var clamp = function (v, lim) { return Math.max(-lim, Math.min(lim, v)).toFixed(5); };
    var bbox = [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)];
    api("GET", "/reports/points?bbox=" + bbox.join(",") + "&status=open", undefined, null, pointsAbort.signal)
      .then(function (res) {
        var note = $("g311-map-note");
        if (!res.ok || !res.data) {
          note.textContent = _("Open reports could not be shown: {reason}", { reason: errorOf(res).message });
          note.hidden = false;
          return;
        }
        var features = res.data.features || [];
        note.textContent = res.data.truncated ? _("The map shows the newest {count} open reports in this area; zoom in to see all of them.",
          { count: num(features.length) }) : "";
        note.hidden = !res.data.truncated;
        showPoints(features);
      }).catch(ignoreAbort);
  }

  function markerLabel(p) {
    var label = _("{category}, report {id}, {status}", { category: categoryName(p), id: p.id, status: statusLabel(p.status) });
    return p.submission_count > 1 ? label + " (" + _("{count} submissions", { count: num(p.submission_count) }) + ")" : label;
  }

  function showPoints(features) {
    var seen = new Set(), add = [], drop = [];
    features.forEach(function (f) {
      var p = f.properties || {}, c = f.geometry && f.geometry.coordinates;
      if (p.id === undefined || p.id === null || !c) return;
      var id = String(p.id), m = markers.get(id);
      seen.add(id);
      if (m) { m.g311 = p; return; }
      // title and alt are set as DOM properties by Leaflet: text, not markup
      m = L.marker([c[1], c[0]], { title: markerLabel(p), alt: markerLabel(p) });
      m.g311 = p;
      markers.set(id, m);
      add.push(m);
    });
    markers.forEach(function (m, id) {
      if (!seen.has(id)) { drop.push(m); markers.delete(id); }
    });
    if (drop.length) reports.removeLayers(drop);
    if (add.length) reports.addLayers(add);
  }

  function openReport(marker) {
    var p = marker.g311, box = el("div", { class: "g311-popup" }, [el("p", {}, [_("Loading report {id}…", { id: p.id })])]);
    var popup = L.popup({ maxWidth: 300 }).setLatLng(marker.getLatLng()).setContent(box).openOn(map);
    api("GET", "/reports/" + encodeURIComponent(String(p.id))).then(function (res) {
      box.textContent = "";
      if (res.ok && res.data) box.appendChild(reportSummary(res.data.properties || {}, "h3"));
      else box.appendChild(el("p", { class: "g311-error" }, [errorOf(res).message]));
      popup.update();
    });
  }

  /* ---- the pin ---- */

  /* opts: pan (centre the map on it), keepStatus, source: "map" (a click or a drag), "photo",
   * "search" (the address search), or none (coordinates, a district's centre). */
  function setPin(lat, lon, opts) {
    opts = opts || {};
    lat = Number(lat); lon = Number(lon);
    if (!isFinite(lat) || !isFinite(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) {
      setStatus(_("Latitude must be a number from -90 to 90 and longitude from -180 to 180."), true);
      return false;
    }
    where = { lat: lat, lon: lon };
    $("g311-lat").value = lat.toFixed(6);
    $("g311-lon").value = lon.toFixed(6);
    $("g311-where-status").textContent = (opts.moved ? opts.moved + " " : "") +
      _("Pin at latitude {lat}, longitude {lon}. Drag it on the map, or change the coordinates, to adjust.",
        { lat: ltr(lat.toFixed(5)), lon: ltr(lon.toFixed(5)) });
    Array.prototype.forEach.call(document.querySelectorAll("#g311-move button"), function (b) { b.disabled = false; });
    if (map) {
      if (!pin) {
        pin = L.marker([lat, lon], {
          draggable: true, autoPan: true, zIndexOffset: 1000,
          title: _("Your pin (drag it, or move it with the arrow keys)"), alt: _("Your pin"),
          icon: L.divIcon({ className: "g311-pin-icon", html: '<div class="g311-pin"></div>', iconSize: [22, 22],
                            iconAnchor: [11, 27], popupAnchor: [0, -27] }),
        }).addTo(map);
        pin.on("dragend", function () { var ll = pin.getLatLng(); setPin(ll.lat, ll.lng, { source: "map" }); });
        pin.getElement().setAttribute("aria-label", _("Your pin (drag it, or move it with the arrow keys)"));
        pin.getElement().addEventListener("keydown", onArrow);
      } else {
        pin.setLatLng([lat, lon]);
      }
      pin.closePopup();
      pin.unbindPopup();
      if (opts.pan) {
        // Leaflet ignores setView during a zoom animation (such as the page's first fitBounds): end
        // that animation now (Leaflet 1.9.4, vendored, finishes it this way itself after 250 ms), then
        // move at once, without animation, so the view is where the pin is as soon as it is placed
        if (map._animatingZoom && map._onZoomTransitionEnd) map._onZoomTransitionEnd();
        map.setView([lat, lon], Math.max(map.getZoom(), 16), { animate: false });
      }
    }
    $("g311-outcome").textContent = "";
    if (!opts.keepStatus) setStatus("");
    if (opts.source !== "search") clearSearch();
    if (opts.source === "map" || opts.source === "photo") lookupNearest();
    else if (opts.source === "keys") scheduleNearest();
    else hideNearest();
    scheduleNearby();
    return true;
  }

  function clearPin() {
    where = null;
    if (pin && map) map.removeLayer(pin);
    pin = null;
    $("g311-lat").value = "";
    $("g311-lon").value = "";
    $("g311-where-status").textContent = _("No pin yet: click the map, find an address, enter coordinates, or pick a district.");
    Array.prototype.forEach.call(document.querySelectorAll("#g311-move button"), function (b) { b.disabled = true; });
    hideNearest();
    hideNearby();
  }

  function placeFromInputs() {
    var lat = $("g311-lat").value.trim(), lon = $("g311-lon").value.trim();
    if (lat === "" || lon === "") { setStatus(_("Enter both latitude and longitude."), true); return; }
    if (setPin(lat, lon, { pan: true, keepStatus: true })) setStatus(_("Pin placed. You can drag it on the map to adjust."));
  }

  /* ---- moving the pin without a pointer: buttons, arrow keys ---- */

  var MOVES = { north: [1, 0], south: [-1, 0], east: [0, 1], west: [0, -1] };
  var ARROWS = { ArrowUp: "north", ArrowDown: "south", ArrowRight: "east", ArrowLeft: "west" };

  function movedText(dir, metres) {
    var d = _("{n} m", { n: num(metres) });
    if (dir === "north") return _("Pin moved {distance} north.", { distance: d });
    if (dir === "south") return _("Pin moved {distance} south.", { distance: d });
    if (dir === "east") return _("Pin moved {distance} east.", { distance: d });
    return _("Pin moved {distance} west.", { distance: d });
  }

  /* Move the pin `far` (50 m) or 5 m towards a compass direction; the map follows it. */
  function movePin(dir, far) {
    if (!where || !MOVES[dir]) return false;
    var metres = far ? 50 : 5, d = MOVES[dir];
    var dLat = d[0] * metres / 111320;
    var dLon = d[1] * metres / (111320 * Math.max(0.01, Math.cos(where.lat * Math.PI / 180)));
    if (!setPin(where.lat + dLat, where.lon + dLon, { keepStatus: true, source: "keys", moved: movedText(dir, metres) })) return false;
    if (map && !map.getBounds().pad(-0.1).contains([where.lat, where.lon])) map.panTo([where.lat, where.lon]);
    return true;
  }

  /* Arrow keys on the pin, on the move buttons, or on the map with a pin down; other keys do
   * what they always do (Tab leaves the map: it keeps no focus). */
  function onArrow(ev) {
    var dir = ARROWS[ev.key];
    if (!dir || !where || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    ev.preventDefault();
    ev.stopPropagation();
    movePin(dir, ev.shiftKey);
  }

  function onMapKey(ev) {
    if (!map || ev.target !== map.getContainer()) return;
    if (ARROWS[ev.key] && where) { onArrow(ev); return; }
    if ((ev.key === "Enter" || ev.key === " ") && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      ev.stopPropagation();
      var c = map.getCenter();
      if (setPin(c.lat, c.lng, { keepStatus: true, source: "map" })) {
        setStatus(_("Pin dropped at the centre of the map. Move it with the arrow keys."));
      }
    }
  }

  /* ---- addresses: find one to place the pin; name the nearest one to a pin ---- */

  /* geocoding.clear_best: a good score, well ahead of the next (or of nothing). */
  function clearBest(list) {
    if (!list.length) return null;
    var g = cfg.geocode || {}, top = Number(list[0].score) || 0;
    var lead = top - (list.length > 1 ? Number(list[1].score) || 0 : 0);
    if ((top >= g.clear_score && lead >= g.clear_margin) || (top >= g.lone_score && lead >= g.lone_margin)) return list[0];
    return null;
  }

  function matchLabel(c) {
    if (c.match === "exact") return _("exact match");
    if (c.match === "nearest_number") return _("nearest house number we know");
    return _("similar address");
  }

  function searchStatus(text, bad) {
    var s = $("g311-search-status");
    s.textContent = text || "";
    s.className = bad ? "g311-error" : "g311-hint";
  }

  function hideCandidates() {
    var box = $("g311-candidates");
    box.textContent = "";
    box.hidden = true;
  }

  function clearSearch() {
    if (searchAbort) { searchAbort.abort(); searchAbort = null; }
    searchStatus("");
    hideCandidates();
  }

  function findAddress() {
    var q = $("g311-search").value.trim();
    clearSearch();
    if (!q) {
      searchStatus(_("Type an address first: a house number and a street."), true);
      $("g311-search").focus();
      return;
    }
    searchAbort = new AbortController();
    searchStatus(_("Looking up {address}…", { address: q }));
    var limit = (cfg.geocode && cfg.geocode.limit) || 5;
    api("GET", "/geocode?q=" + encodeURIComponent(q) + "&limit=" + limit, undefined, null, searchAbort.signal)
      .then(function (res) {
        searchAbort = null;
        if (!res.ok || !res.data) {
          searchStatus(_("The address could not be looked up: {reason}", { reason: errorOf(res).message }), true);
          return;
        }
        var list = (res.data.candidates || []).filter(function (c) {
          return c && isFinite(Number(c.lat)) && isFinite(Number(c.lon)) && c.address;
        });
        if (!list.length) {
          // the server's own wording is English: readers of other languages get the translated one
          searchStatus(sentence((english() && res.data.message) || _("no address like {address} is known here", { address: q })) +
            " " + _("Check the address, or place the pin on the map."), true);
          return;
        }
        var best = clearBest(list);
        if (best) {
          useCandidate(best);
          var others = list.filter(function (c) { return c !== best; });
          if (others.length) listCandidates(others, _("Not this one? Other addresses like it:"));
          return;
        }
        searchStatus((list.length === 1 ? _("One address might match {address}: is it this one?", { address: q })
          : _("{count} addresses might match {address}: choose one.", { count: num(list.length), address: q })), false);
        listCandidates(list, null);
      }).catch(ignoreAbort);
  }

  function listCandidates(list, heading) {
    var box = $("g311-candidates");
    box.textContent = "";
    if (heading) box.appendChild(el("li", { class: "g311-candidates-head" }, [heading]));
    list.forEach(function (c) {
      var meta = [matchLabel(c)];
      if (c.postcode) meta.push(String(c.postcode));
      var b = el("button", { type: "button", class: "g311-candidate" }, [
        el("span", { class: "g311-candidate-address" }, [String(c.address)]),
        el("span", { class: "g311-candidate-match" }, [" · " + meta.join(" · ")])]);
      b.addEventListener("click", function () {
        useCandidate(c);
        hideCandidates();
        ($("g311-category").value ? $("g311-description") : $("g311-category")).focus();
      });
      box.appendChild(el("li", {}, [b]));
    });
    box.hidden = false;
  }

  function useCandidate(c) {
    if (!setPin(c.lat, c.lon, { pan: true, keepStatus: true, source: "search" })) return;
    var text, v = { address: c.address, gap: num(Number(c.number_gap) || 0) };
    if (c.match === "exact") text = _("Pin placed at {address}. Drag it to the exact spot if needed.", v);
    else if (c.match === "nearest_number" && c.number_gap) {
      text = _("Pin placed at {address} (the nearest house number we know, {gap} from the number you typed). " +
               "Drag it to the exact spot if needed.", v);
    } else if (c.match === "nearest_number") {
      text = _("Pin placed at {address} (the nearest house number we know). Drag it to the exact spot if needed.", v);
    } else text = _("Pin placed at {address} (the most similar address we know). Drag it to the exact spot if needed.", v);
    searchStatus(text);
    prefillAddress(String(c.address));
  }

  /* The address field gets an address only while the resident has not typed one of their own. */
  function prefillAddress(value) {
    var field = $("g311-address"), now = field.value.trim();
    if (now !== "" && field.value !== prefilled) return;
    field.value = value || "";
    prefilled = value || null;
  }

  var nearestTimer = null;
  function scheduleNearest() {        // after the arrow keys stop, not on every step
    clearTimeout(nearestTimer);
    nearestTimer = setTimeout(function () { if (where) lookupNearest(); }, 600);
  }

  function hideNearest() {
    if (reverseAbort) { reverseAbort.abort(); reverseAbort = null; }
    $("g311-nearest").hidden = true;
    $("g311-nearest").textContent = "";
  }

  function lookupNearest() {
    hideNearest();
    var at = where;
    reverseAbort = new AbortController();
    api("GET", "/reverse?lon=" + at.lon.toFixed(6) + "&lat=" + at.lat.toFixed(6), undefined, null, reverseAbort.signal)
      .then(function (res) {
        if (where !== at) return;           // the pin moved on, or the report went
        reverseAbort = null;
        var a = res.ok && res.data && res.data.address, d = res.ok && res.data ? Number(res.data.distance_m) : NaN;
        if (!a || !isFinite(d)) return;     // no address points loaded: no hint
        var node = $("g311-nearest");
        node.textContent = _("Nearest address: {address}, {distance} from the pin.", { address: a, distance: distance(d) });
        node.hidden = false;
        prefillAddress(d <= 30 ? String(a) : d <= 300 ? _("Near {address}", { address: a }) : null);
      }).catch(ignoreAbort);
  }

  /* ---- no pointing needed: a district's centre ---- */

  function loadLayers() {
    api("GET", "/layers").then(function (res) {
      var layers = res.ok && res.data && res.data.layers;
      if (!layers || !layers.length) { $("g311-districts").hidden = true; return; }
      var sel = $("g311-layer");
      layers.forEach(function (l) { sel.appendChild(el("option", { value: l.key }, [l.title || words(l.key)])); });
    });
  }

  function onLayer() {
    var key = $("g311-layer").value, sel = $("g311-district");
    sel.textContent = "";
    sel.disabled = true;
    $("g311-district-go").disabled = true;
    districts = [];
    if (!key) { sel.appendChild(el("option", { value: "" }, [_("Choose a kind of district first")])); return; }
    sel.appendChild(el("option", { value: "" }, [_("Loading…")]));
    api("GET", "/districts?layer=" + encodeURIComponent(key)).then(function (res) {
      if ($("g311-layer").value !== key) return;
      sel.textContent = "";
      if (!res.ok || !res.data) {
        sel.appendChild(el("option", { value: "" }, [_("The districts could not be loaded")]));
        setStatus(errorOf(res).message, true);
        return;
      }
      districts = (res.data.features || []).slice().sort(function (a, b) {
        return String(a.properties.name).localeCompare(String(b.properties.name));
      });
      sel.appendChild(el("option", { value: "" }, [_("Choose…")]));
      districts.forEach(function (f, i) { sel.appendChild(el("option", { value: String(i) }, [f.properties.name])); });
      sel.disabled = false;
    });
  }

  function placeAtDistrict() {
    var f = districts[Number($("g311-district").value)];
    if (!f) return;
    var p = f.properties || {}, c = p.center;
    if (districtLayer) { map.removeLayer(districtLayer); districtLayer = null; }
    if (map && f.geometry) {
      districtLayer = L.geoJSON(f, { interactive: false, style: { color: "#7c3aed", weight: 2, fillOpacity: 0.05 } }).addTo(map);
      if (!c) { var ctr = districtLayer.getBounds().getCenter(); c = [ctr.lng, ctr.lat]; }
    }
    if (!c) { setStatus(_("This district has no centre to place the pin at."), true); return; }
    if (setPin(c[1], c[0], { keepStatus: true }) && map) {
      if (districtLayer) map.fitBounds(districtLayer.getBounds(), { maxZoom: 17, padding: [20, 20] });
      else map.setView([c[1], c[0]], 16);
    }
    setStatus(_("Pin placed at the centre of {district}. Drag it, or edit the coordinates, to put it on the spot.",
                { district: p.name }));
  }

  /* ---- category and its extra questions ---- */

  function attributeField(a, i) {
    var id = "g311-attr-" + i, label = a.description + (a.required ? "" : " " + _("(optional)"));
    var values = a.values || [];
    if (a.datatype === "multivaluelist") {
      return el("fieldset", { "data-code": a.code, "data-type": a.datatype }, [el("legend", {}, [label])].concat(
        values.map(function (v, j) {
          return el("label", { class: "g311-check" }, [el("input", { type: "checkbox", value: v.key, id: id + "-" + j }), v.name]);
        })));
    }
    var input;
    if (a.datatype === "singlevaluelist") {
      input = el("select", { id: id }, [el("option", { value: "" }, [_("Choose…")])].concat(
        values.map(function (v) { return el("option", { value: v.key }, [v.name]); })));
    } else if (a.datatype === "text") {
      input = el("textarea", { id: id, rows: 2 });
    } else {
      var type = { number: "number", datetime: "datetime-local" }[a.datatype] || "text";
      input = el("input", { id: id, type: type, step: type === "number" ? "any" : null });
    }
    input.required = !!a.required;
    return el("div", { "data-code": a.code, "data-type": a.datatype }, [el("label", { for: id }, [label]), input]);
  }

  function onCategory() {
    var c = categories[$("g311-category").value], box = $("g311-attributes");
    box.textContent = "";
    $("g311-category-help").textContent = c ? c.description || "" : "";
    if (c) (c.attributes || []).forEach(function (a, i) { box.appendChild(attributeField(a, i)); });
    scheduleNearby();
  }

  function attributeAnswers() {
    var out = {};
    Array.prototype.forEach.call($("g311-attributes").children, function (node) {
      var code = node.getAttribute("data-code"), type = node.getAttribute("data-type"), v;
      if (type === "multivaluelist") {
        v = Array.prototype.map.call(node.querySelectorAll("input:checked"), function (i) { return i.value; });
        if (v.length) out[code] = v;
        return;
      }
      v = node.querySelector("input, select, textarea").value.trim();
      if (v === "") return;
      out[code] = type === "number" && isFinite(Number(v)) ? Number(v) : v;
    });
    return out;
  }

  /* ---- photos: chosen, previewed, checked, their location read ---- */

  function isHeic(file) {
    return /\.(heic|heif)$/i.test(file.name || "") || /^image\/hei[cf]/i.test(file.type || "");
  }

  function photosStatus(text, bad) {
    var s = $("g311-photos-status");
    s.textContent = text || "";
    s.className = bad ? "g311-error" : "g311-hint";
  }

  function photoNote(item, text, kind) {
    item.note.textContent = text || "";
    item.note.className = "g311-photo-note" + (kind ? " g311-photo-" + kind : "");
  }

  function photoBytes() {
    return photos.reduce(function (sum, p) { return sum + p.file.size; }, 0);
  }

  /* The input shows what will be sent (where the browser lets a page set it). */
  function syncInput() {
    var input = $("g311-photos");
    try {
      var dt = new DataTransfer();
      photos.forEach(function (p) { dt.items.add(p.file); });
      input.files = dt.files;
    } catch (e) {
      input.value = "";
    }
  }

  function addFiles(files) {
    var lim = cfg.photos || {}, refused = [], added = 0;
    Array.prototype.forEach.call(files || [], function (file) {
      var name = file.name || _("the photo");
      if (photos.some(function (p) {
        return p.file.name === file.name && p.file.size === file.size && p.file.lastModified === file.lastModified;
      })) return;                                       // already attached (chosen again, or the input's own list)
      if (photos.length >= lim.max_count) {
        refused.push(_("{name} was not added: at most {count} photos go with one report.",
                       { name: name, count: num(lim.max_count) }));
      } else if (!file.size) {
        refused.push(_("{name} was not added: the file is empty.", { name: name }));
      } else if (file.size > lim.max_bytes) {
        refused.push(_("{name} was not added: it is {size}, and each photo may be at most {limit}.",
                       { name: name, size: size(file.size), limit: size(lim.max_bytes) }));
      } else if (photoBytes() + file.size > lim.max_request_bytes) {
        refused.push(_("{name} was not added: the photos would be {size} together, and at most {limit} go with one report.",
                       { name: name, size: size(photoBytes() + file.size), limit: size(lim.max_request_bytes) }));
      } else {
        addPhoto(file);
        added += 1;
      }
    });
    syncInput();
    if (refused.length) photosStatus(refused.join(" "), true);
    else if (added) photosStatus(photos.length === 1 ? _("1 photo will be sent with your report.")
                                 : _("{count} photos will be sent with your report.", { count: num(photos.length) }));
  }

  function addPhoto(file) {
    var id = "g311-photo-" + (++photoSeq), name = file.name || _("photo");
    var item = { file: file, url: URL.createObjectURL(file), alive: true };
    var preview = el("div", { class: "g311-photo-preview" });
    var img = el("img", { src: item.url, alt: _("Preview of {name}", { name: name }) });
    img.addEventListener("error", function () {
      // HEIC outside Safari, or a file that is no image at all: say so instead of a broken image
      URL.revokeObjectURL(item.url);
      preview.textContent = "";
      preview.appendChild(el("span", { class: "g311-photo-placeholder" }, [isHeic(file)
        ? _("No preview: this browser cannot show HEIC photos. It will be sent as it is.")
        : _("No preview: this browser cannot show this file.")]));
    });
    preview.appendChild(img);
    item.locate = el("button", { type: "button", class: "g311-photo-locate",
                                 "aria-label": _("Use this photo's location ({name})", { name: name }) },
                     [_("Use this photo's location")]);
    item.remove = el("button", { type: "button", class: "g311-photo-remove", "aria-label": _("Remove {name}", { name: name }) },
                     [_("Remove")]);
    item.note = el("p", { class: "g311-photo-note", "aria-live": "polite" });
    item.li = el("li", { class: "g311-photo", id: id }, [preview, el("div", { class: "g311-photo-body" }, [
      el("p", { class: "g311-photo-name" }, [name + " · " + size(file.size)]),
      el("div", { class: "g311-photo-actions" }, [item.locate, item.remove]), item.note])]);
    item.locate.addEventListener("click", function () { locatePhoto(item); });
    item.remove.addEventListener("click", function () { removePhoto(item, true); });
    item.remove.disabled = busy;
    photos.push(item);
    $("g311-photo-list").appendChild(item.li);
  }

  function removePhoto(item, announce) {
    var i = photos.indexOf(item);
    if (i < 0) return;
    photos.splice(i, 1);
    item.alive = false;
    URL.revokeObjectURL(item.url);
    var next = photos[i] || photos[i - 1];
    item.li.remove();
    if (!announce) return;
    syncInput();
    var gone = item.file.name || _("The photo");
    photosStatus(photos.length ? _("{name} was removed; {count} left.", { name: gone, count: num(photos.length) })
                 : _("{name} was removed.", { name: gone }));
    (next ? next.remove : $("g311-photos")).focus();
  }

  function clearPhotos() {
    photos.slice().forEach(function (item) { removePhoto(item, false); });
    syncInput();
    photosStatus("");
  }

  function locatePhoto(item) {
    var body = new FormData();
    body.append("photo", item.file, item.file.name || "photo");
    item.locate.disabled = true;
    photoNote(item, _("Reading where this photo was taken…"));
    api("POST", "/photos/locate", body).then(function (res) {
      item.locate.disabled = false;
      if (!item.alive) return;
      var d = res.data || {};
      if (res.ok && d.located === true && setPin(d.lat, d.lon, { pan: true, keepStatus: true, source: "photo" })) {
        var extra = [];
        if (Number(d.accuracy_m) > 0) extra.push(_("to within about {distance}", { distance: distance(Number(d.accuracy_m)) }));
        if (d.taken_at) extra.push(_("taken {when}", { when: when(d.taken_at) }));
        photoNote(item, (extra.length ? _("The pin is where this photo was taken ({details}).", { details: extra.join(", ") })
                         : _("The pin is where this photo was taken.")) + " " + _("Drag it if the problem is elsewhere."), "ok");
      } else if (res.ok && d.located === false) {
        photoNote(item, sentence((english() && d.message) || _("this photo carries no location: place the pin on the map")), "warn");
      } else if (!res.ok) {
        photoNote(item, sentence(errorOf(res).message), "bad");
      }
    }, function () { item.locate.disabled = false; });
  }

  /* ---- "Is it one of these?" ---- */

  function hideNearby() {
    $("g311-nearby").hidden = true;
    $("g311-nearby-list").textContent = "";
    if (nearbyLayer) nearbyLayer.clearLayers();
  }

  function scheduleNearby() {
    clearTimeout(nearbyTimer);
    nearbyTimer = setTimeout(loadNearby, 250);
  }

  function loadNearby() {
    var code = $("g311-category").value, c = categories[code];
    if (nearbyAbort) nearbyAbort.abort();
    if (!where || !code) { hideNearby(); return; }
    nearbyAbort = new AbortController();
    var radius = Math.max(cfg.nearby_radius_m || 0, (c && c.dedup_radius_m) || 0) || 250;
    var q = "lon=" + where.lon.toFixed(6) + "&lat=" + where.lat.toFixed(6) +
      "&category=" + encodeURIComponent(code) + "&radius_m=" + radius;
    api("GET", "/reports/nearby?" + q, undefined, null, nearbyAbort.signal).then(function (res) {
      if (!res.ok || !res.data) { hideNearby(); return; }
      showNearby(res.data.features || []);
    }).catch(ignoreAbort);
  }

  function showNearby(features) {
    hideNearby();
    if (!features.length) return;
    var list = $("g311-nearby-list");
    features.slice(0, 10).forEach(function (f, i) {
      var p = f.properties || {}, c = f.geometry && f.geometry.coordinates;
      var join = el("button", { type: "button", class: "g311-join" }, [_("Yes, add mine to report {id}", { id: p.id })]);
      join.addEventListener("click", function () { joinReport(p.id); });
      list.appendChild(el("li", {}, [reportSummary(p, "strong"), join]));
      if (nearbyLayer && c) {
        L.circleMarker([c[1], c[0]], { radius: 11, color: "#b45309", weight: 3, fillOpacity: 0.15 })
          .bindTooltip(el("span", {}, [String(i + 1) + ". " + _("{category}, report {id}", { category: categoryName(p), id: p.id })]))
          .on("click", function () { join.focus(); })
          .addTo(nearbyLayer);
      }
    });
    $("g311-nearby").hidden = false;
  }

  /* ---- sending ---- */

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function buildFeature() {
    var props = {
      category: $("g311-category").value,
      description: $("g311-description").value.trim(),
      attributes: attributeAnswers(),
    };
    var address = $("g311-address").value.trim();
    if (address) props.address = address;
    var reporter = {};
    ["name", "email", "phone"].forEach(function (k) {
      var v = $("g311-" + k).value.trim();
      if (v) reporter[k] = v;
    });
    if (Object.keys(reporter).length) props.reporter = reporter;
    return { type: "Feature", geometry: { type: "Point", coordinates: [where.lon, where.lat] }, properties: props };
  }

  function ready() {
    if (!where) {
      setStatus(_("Place a pin first: click the map, enter coordinates, or pick a district."), true);
      $("g311-lat").focus();
      return false;
    }
    return $("g311-form").reportValidity();
  }

  function setBusy(on) {
    busy = on;
    $("g311-submit").disabled = on;
    $("g311-photos").disabled = on;     // the photos being sent stay the ones shown
    Array.prototype.forEach.call(document.querySelectorAll(".g311-join, .g311-photo-remove"), function (b) { b.disabled = on; });
  }

  /* The request: JSON, or multipart/form-data with the photos (the feature as the part `feature`).
   * `text` stands for what is sent, files included (name, size, lastModified, order): a retry of the
   * same text keeps its Idempotency-Key; anything changed (a photo added, removed, reordered) gets a new one. */
  function requestBody(feature) {
    var files = photos.map(function (p) { return p.file; });
    var text = JSON.stringify(feature) + "\n" + JSON.stringify(files.map(function (f) {
      return [f.name, f.size, f.lastModified];
    }));
    if (!files.length) return { body: feature, text: text };
    var form = new FormData();
    form.append("feature", JSON.stringify(feature));
    files.forEach(function (f) { form.append("photos", f, f.name || "photo"); });
    return { body: form, text: text };
  }

  /* waiting: [what the status says while it is sent, the same with photos ({count} in it)] */
  function send(path, feature, waiting) {
    var req = requestBody(feature), text = path + "\n" + req.text;
    if (!(pendingKey && pendingBody === text)) { pendingKey = newKey(); pendingBody = text; }
    setBusy(true);
    setStatus(photos.length ? waiting[1].replace("{count}", num(photos.length)) : waiting[0]);
    api("POST", path, req.body, { "Idempotency-Key": pendingKey, "X-Geo311-Channel": "web" }).then(function (res) {
      setBusy(false);
      setStatus("");
      if (!res.network) { pendingKey = null; pendingBody = null; }
      if (res.ok && res.data) accepted(res.status, res.data.properties || {});
      else refused(errorOf(res), res.network);
    });
  }

  function onSubmit(ev) {
    ev.preventDefault();
    if (busy || !ready()) return;
    send("/reports", buildFeature(), [_("Sending your report…"), _("Sending your report and its photos ({count})…")]);
  }

  function joinReport(id) {
    if (busy || !ready()) return;
    send("/reports/" + encodeURIComponent(String(id)) + "/submissions", buildFeature(),
         [_("Adding your report to report {id}…", { id: id }),
          _("Adding your report and its photos ({count}) to report {id}…", { id: id, count: "{count}" })]);
  }

  function showOutcome(node) {
    var box = $("g311-outcome");
    box.textContent = "";
    box.appendChild(node);
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  function accepted(status, p) {
    var link = el("p", {}, [el("a", { href: reportHref(p.id) }, [_("Follow report {id}", { id: p.id })])]);
    var lines;
    if (p.merged || status === 200) {
      var more = [];
      if (p.submission_count) more.push(_("it now has {count} submissions", { count: num(p.submission_count) }));
      if (typeof p.distance_m === "number") {
        more.push(_("{distance} from your pin", { distance: _("{n} m", { n: num(Math.round(p.distance_m)) }) }));
      }
      lines = [el("p", {}, [el("strong", {}, [_("Thank you. This was already reported.")])]),
               el("p", {}, [more.length ? _("Your report joined report {id} ({details}).", { id: p.id, details: more.join(", ") })
                                        : _("Your report joined report {id}.", { id: p.id })])];
    } else {
      lines = [el("p", {}, [el("strong", {}, [_("Thank you. Your report is number {id}.", { id: p.id })])])];
      if (p.agency) {
        lines.push(el("p", {}, [p.jurisdiction ? _("It went to {agency} ({jurisdiction}).", { agency: p.agency, jurisdiction: p.jurisdiction })
                                               : _("It went to {agency}.", { agency: p.agency })]));
      }
    }
    var thumbs = thumbnails(p, { link: true });
    var outcome = el("div", { class: "g311-ok" }, lines.concat([thumbs, link]));
    if (map && where) {
      L.popup({ maxWidth: 280 }).setLatLng([where.lat, where.lon])
        .setContent(el("div", { class: "g311-popup" }, [el("p", {}, [lines[lines.length - 1].textContent]), link.cloneNode(true)]))
        .openOn(map);
    }
    ["g311-description", "g311-address", "g311-search"].forEach(function (id) { $(id).value = ""; });
    prefilled = null;
    onCategory();
    clearPin();
    clearSearch();
    clearPhotos();
    showOutcome(outcome);
    if (map) loadPoints();
  }

  function refused(err, network) {
    var items = [el("p", {}, [el("strong", {}, [network ? _("Not sent.") : _("Your report was not accepted.")])]),
                 el("p", {}, [err.message])];
    if (err.details && err.details.length) {
      items.push(el("ul", {}, err.details.map(function (d) { return el("li", {}, [d]); })));
    }
    if (network) items.push(el("p", {}, [_("Nothing was lost: press Send report again to retry.")]));
    showOutcome(el("div", { class: "g311-bad" }, items));
    if (pin) {
      pin.unbindPopup();
      pin.bindPopup(el("div", { class: "g311-popup g311-error", role: "alert" }, [err.message]), { maxWidth: 280 }).openPopup();
    }
  }

  /* ---- start ---- */

  function start() {
    var node = $("geo311-config");
    if (!node) return;
    cfg = JSON.parse(node.textContent);
    (cfg.categories || []).forEach(function (c) { categories[c.code] = c; });
    map = window.L ? window[cfg.map] || null : null;
    reports = map ? window[cfg.reports] || null : null;

    $("g311-form").addEventListener("submit", onSubmit);
    $("g311-place").addEventListener("click", placeFromInputs);
    ["g311-lat", "g311-lon"].forEach(function (id) {
      $(id).addEventListener("keydown", function (ev) {
        if (ev.key === "Enter") { ev.preventDefault(); placeFromInputs(); }
      });
    });
    $("g311-category").addEventListener("change", onCategory);
    $("g311-layer").addEventListener("change", onLayer);
    $("g311-district").addEventListener("change", function () {
      $("g311-district-go").disabled = $("g311-district").value === "";
    });
    $("g311-district-go").addEventListener("click", placeAtDistrict);
    $("g311-search-go").addEventListener("click", findAddress);
    $("g311-search").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); findAddress(); }
    });
    $("g311-photos").addEventListener("change", function () { addFiles($("g311-photos").files); });
    $("g311-move").addEventListener("keydown", onArrow);
    Array.prototype.forEach.call(document.querySelectorAll("#g311-move button"), function (b) {
      b.addEventListener("click", function () { movePin(b.getAttribute("data-move"), false); });
    });
    onCategory();
    loadLayers();

    if (map && reports) {
      var box = map.getContainer();
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", _("Map of open reports. Click to drop a pin, or press Enter to drop it at the centre; " +
                                       "then move it with the arrow keys. Tab leaves the map."));
      document.addEventListener("keydown", onMapKey, true);   // before Leaflet's own keys (they pan)
      nearbyLayer = L.layerGroup().addTo(map);
      map.on("popupclose", function () { lastPopupClose = Date.now(); });
      map.on("popupopen", function (e) {           // Leaflet names its close button in English
        var close = e.popup.getElement() && e.popup.getElement().querySelector(".leaflet-popup-close-button");
        if (close) close.setAttribute("aria-label", _("Close popup"));
      });
      map.on("click", function (e) {
        if (Date.now() - lastPopupClose < 400) return;   // that click closed a popup
        setPin(e.latlng.lat, e.latlng.lng, { source: "map" });
      });
      map.on("moveend", schedulePoints);
      reports.on("click", function (e) { openReport(e.layer); });
      loadPoints();
    } else {
      setStatus(_("The map could not start; you can still report by coordinates or district."), true);
    }
    $("g311-submit").disabled = false;
    window.geo311Resident = {
      map: map, reports: reports, markers: markers, setPin: setPin, movePin: movePin,
      photos: function () { return photos.map(function (p) { return { name: p.file.name, url: p.url }; }); },
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
