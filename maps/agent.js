/* geo311 agent page (/agent): take a caller's report from start to finish.
 *
 * The page (geo311/agent_page.py) holds the search box, the call form, the empty report view and
 * caller history, a JSON config block and the session's CSRF token (<meta name="csrf-token">);
 * folium made the map, whose global variable name the config gives. Everything else comes from
 * the API as the signed-in agent (the session cookie authenticates; every POST carries the CSRF
 * token): the categories, the caller's history, a report and its events, the geocoder's
 * candidates, the open reports nearby. Every piece of data is put in the DOM as text
 * (textContent / text nodes), never as HTML; Leaflet tooltips get DOM nodes, not strings.
 *
 * A call, quickly: type the caller's phone (or email, or a report number) in the search box and
 * press Enter: the history shows beside the form and fills the caller's details; type the address
 * and press Enter: the pin goes there (or choose among the candidates); choose the category: the
 * open reports of that category nearby are listed first, each with "Attach caller to this one";
 * otherwise describe it and create the report. "New call" clears everything for the next caller.
 */
(function () {
  "use strict";

  var cfg, csrf = "", map = null, pin = null, nearbyLayer = null, reportMarker = null;
  var categories = {};               // code -> category from /api/v1/categories
  var where = null;                  // {lat, lon} of the pin
  var caller = null;                 // whose history is shown: {kind: "phone"|"email", value, norm}
  var shownReport = null;            // the report in the report view (its Feature)
  var candidates = [];               // the geocoder's last candidates
  var nearbyFeatures = [];
  var aborts = {};                   // what -> AbortController of the request in flight
  var timers = {};
  var loads = { categories: 0, history: 0, report: 0, geocode: 0, nearby: 0, reverse: 0 };
  var pendingKey = null, pendingBody = null;   // Idempotency-Key, kept to retry the same body
  var sending = false, noting = false, nearbyScheduled = false, generation = 0;

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

  /* ---- words ---- */

  function words(code) { return String(code || "").replace(/_/g, " "); }
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }
  function categoryName(p) {
    var c = categories[p.category];
    return p.category_name || (c && c.name) || words(p.category) || "Report";
  }
  var SELF_CHANNELS = { web: "the web form", api: "the API", open311: "an Open311 app" };
  function channelName(code) { return (cfg.channels && cfg.channels[code]) || SELF_CHANNELS[code] || words(code); }
  function when(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return "";
    return d.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  }
  function phoneText(digits) {
    var d = String(digits || "");
    return /^\d{10}$/.test(d) ? "(" + d.slice(0, 3) + ") " + d.slice(3, 6) + "-" + d.slice(6) : d;
  }
  function distance(m) {
    m = Number(m);
    if (!isFinite(m)) return "";
    return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(1) + " km";
  }
  function reportHref(id) { return cfg.report_url + encodeURIComponent(String(id)); }

  /* ---- talking to the API ---- */

  function request(method, path, body, headers, what) {
    var opts = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (what) {
      if (aborts[what]) aborts[what].abort();
      aborts[what] = new AbortController();
      opts.signal = aborts[what].signal;
    }
    var mine = what ? aborts[what] : null;
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    Object.keys(headers || {}).forEach(function (k) { opts.headers[k] = headers[k]; });
    if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers["Content-Type"] = "application/json";
    }
    function done() { if (what && aborts[what] === mine) delete aborts[what]; }
    return fetch(cfg.api + path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        done();
        return { status: res.status, ok: res.ok, data: data };
      });
    }, function (err) {
      if (err && err.name === "AbortError") throw err;
      done();
      return { status: 0, ok: false, data: null, network: true };
    });
  }

  function ignoreAbort(err) { if (!err || err.name !== "AbortError") throw err; }
  function cancel(what) { if (aborts[what]) { aborts[what].abort(); delete aborts[what]; } }

  function errorOf(res) {
    if (res.network) return { message: "Cannot reach the server. Check your connection and try again.", code: "network" };
    if (res.status === 401) return { message: "Your sign-in has ended. Sign in again to continue.", code: "unauthorized" };
    var e = res.data && res.data.error;
    if (e && e.message) {
      var details = Array.isArray(e.details) ? e.details.filter(function (d) {
        return typeof d === "string" && String(e.message).indexOf(d) < 0;
      }) : [];
      return { message: String(e.message), code: String(e.code || ""), details: details };
    }
    return { message: "The server answered with status " + res.status + ". Please try again.", code: "" };
  }

  function signInLink(node, res) {
    if (res.status === 401) node.appendChild(el("span", {}, [" ", el("a", { href: cfg.login_url }, ["Sign in again"])]));
  }

  function setStatus(text, bad) {
    var s = $("g311-status");
    s.textContent = text || "";
    s.className = bad ? "g311-error" : "";
  }

  /* a message next to a field (the field says so with aria-invalid); empty text clears it */
  function fieldError(field, text) {
    var input = $(field === "search" ? "g311-search-q" : "g311-" + field);
    var box = $("g311-" + field + "-error");
    box.textContent = text || "";
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /* ---- the search: a report number, a phone number or an email ---- */

  function classify(text) {
    var s = String(text || "").trim();
    if (!s) return { kind: "bad", message: "Type a report number, a phone number or an email address." };
    var m = /^(?:report\s*)?(?:no\.?\s*)?#?\s*(\d+)$/i.exec(s);
    if (m && m[1].length <= cfg.report_id_digits) {
      return Number(m[1]) > 0 ? { kind: "report", id: Number(m[1]) } : { kind: "bad", message: "Report numbers start at 1." };
    }
    if (s.indexOf("@") >= 0) return { kind: "email", value: s };
    if (!/\d/.test(s)) return { kind: "bad", message: "That is not a report number, a phone number or an email address." };
    return { kind: "phone", value: s };   // the API says what is wrong with a malformed number
  }

  function onSearch(ev) {
    ev.preventDefault();
    fieldError("search", "");
    var q = classify($("g311-search-q").value);
    if (q.kind === "bad") { fieldError("search", q.message); return; }
    if (q.kind === "report") openReport(q.id, { from: "search", focus: true });
    else lookupCaller(q.kind, q.value, { from: "search", fill: true });
  }

  /* ---- the caller's history ---- */

  function lookupCaller(kind, value, opts) {
    opts = opts || {};
    var gen = generation;
    var summary = $("g311-history-summary");
    if (opts.from !== "refresh") summary.textContent = "Looking up " + (kind === "phone" ? "phone " : "") + value + "…";
    return request("GET", "/callers?" + kind + "=" + encodeURIComponent(value), undefined, null, "history").then(function (res) {
      if (gen !== generation) return;
      loads.history += 1;
      if (!res.ok || !res.data) {
        var err = errorOf(res);
        if (res.status === 422 && opts.from !== "refresh") {
          fieldError(opts.from === "search" ? "search" : kind, err.message);
          if (caller) renderHistorySummary();
          else summary.textContent = "Search a phone number or an email to see what the caller has reported before.";
          return;
        }
        summary.textContent = "The history could not be loaded: " + err.message;
        signInLink(summary, res);
        return;
      }
      caller = { kind: kind, value: value, norm: res.data[kind], data: res.data };
      renderHistory(res.data);
      if (opts.fill) fillCaller(kind, value, res.data.submissions || []);
    }).catch(ignoreAbort);
  }

  function callerName() {
    if (!caller) return "";
    return caller.kind === "phone" ? "phone " + phoneText(caller.norm) : caller.norm;
  }

  function renderHistorySummary() {
    var d = caller.data, subs = d.submissions || [], reports = d.reports || [];
    $("g311-history-summary").textContent = subs.length
      ? "Caller with " + callerName() + ": " + plural(subs.length, "submission", "submissions") + " on " +
        plural(reports.length, "report", "reports") + ", newest first."
      : "Nothing reported yet by the caller with " + callerName() + ".";
  }

  function renderHistory(data) {
    renderHistorySummary();
    var list = $("g311-history-list");
    list.textContent = "";
    (data.submissions || []).forEach(function (s) { list.appendChild(historyItem(s)); });
  }

  function historyItem(s) {
    var id = String(s.report_id);
    var meta = [words(s.status)];
    if (s.received_at) meta.push(when(s.received_at));
    if (s.channel) meta.push("by " + channelName(s.channel));
    if (s.agency) meta.push(s.agency);
    var contact = [s.name, s.phone, s.email].filter(function (x) { return x; }).join(" · ");
    var open = el("button", { type: "button", class: "g311-link-button", "data-report": id }, ["Open report " + id]);
    open.addEventListener("click", function () { openReport(Number(id), { focus: true }); });
    return el("li", { class: "g311-hist g311-status-" + words(s.status).replace(/ /g, "_"), "data-report": id }, [
      el("h3", {}, ["Report " + id + ": " + (s.category_name || words(s.category))]),
      el("p", { class: "g311-meta" }, [meta.join(" · ")]),
      s.address ? el("p", { class: "g311-meta" }, [s.address]) : null,
      s.description ? el("p", { class: "g311-desc" }, [s.description]) : null,
      contact ? el("p", { class: "g311-meta" }, ["Given: " + contact]) : null,
      s.submitted_by ? el("p", { class: "g311-meta" }, ["Entered by " + s.submitted_by]) : null,
      el("p", { class: "g311-actions" }, [open]),
    ]);
  }

  /* The search found the caller: their phone or email goes in the form, and the name and the other
     contact from their newest submission that has them, where the agent has not typed one. */
  function fillCaller(kind, value, subs) {
    var filled = [];
    if ($("g311-" + kind).value.trim() !== value) { $("g311-" + kind).value = value; filled.push(kind); }
    fieldError(kind, "");
    ["name", "phone", "email"].forEach(function (k) {
      if (k === kind || $("g311-" + k).value.trim()) return;
      for (var i = 0; i < subs.length; i++) {
        if (subs[i][k]) { $("g311-" + k).value = String(subs[i][k]); filled.push(k); return; }
      }
    });
    if (filled.length) setStatus("Caller's " + filled.join(", ") + " filled in from the search.");
  }

  /* Typing a phone or an email in the form shows that caller's history too (and says at once when
     the number or the address is not one). */
  function onContactChange(kind) {
    var v = $("g311-" + kind).value.trim();
    fieldError(kind, "");
    if (!v || (caller && caller.kind === kind && caller.value === v)) return;
    lookupCaller(kind, v, { from: "form" });
  }

  function refreshHistory() {
    var phone = $("g311-phone").value.trim(), email = $("g311-email").value.trim();
    if (phone) return lookupCaller("phone", phone, { from: "refresh" });
    if (email) return lookupCaller("email", email, { from: "refresh" });
    if (caller) return lookupCaller(caller.kind, caller.value, { from: "refresh" });
    return Promise.resolve();
  }

  /* ---- one report: its facts, its events (with internal notes), notes ---- */

  function openReport(id, opts) {
    opts = opts || {};
    var gen = generation;
    var view = $("g311-report-view");
    return Promise.all([
      request("GET", "/reports/" + encodeURIComponent(String(id)), undefined, null, "report"),
      request("GET", "/reports/" + encodeURIComponent(String(id)) + "/events", undefined, null, "events"),
    ]).then(function (both) {
      if (gen !== generation) return;
      var res = both[0], ev = both[1];
      loads.report += 1;
      if (!res.ok || !res.data) {
        var err = errorOf(res);
        if (opts.from === "search") fieldError("search", res.status === 404 ? "There is no report " + id + "." : err.message);
        else setStatus("Report " + id + ": " + err.message, true);
        return;
      }
      shownReport = res.data;
      renderReport(res.data);
      renderEvents(ev.ok && ev.data ? ev.data.events || [] : null, ev);
      view.hidden = false;
      showReportOnMap(res.data);
      if (opts.focus) $("g311-report-title").focus();
    }).catch(ignoreAbort);
  }

  function fact(term, value) {
    if (value === null || value === undefined || value === "") return [];
    return [el("dt", {}, [term]), el("dd", {}, [String(value)])];
  }

  function renderReport(f) {
    var p = f.properties || {}, id = String(p.id);
    $("g311-report-title").textContent = "Report " + id + ": " + categoryName(p);
    var body = $("g311-report-body");
    body.textContent = "";
    var hoods = p.districts && Array.isArray(p.districts.neighborhood) ? p.districts.neighborhood.join(", ") : "";
    var facts = [].concat(
      fact("Status", words(p.status)),
      fact("Agency", p.agency ? p.agency + (p.jurisdiction ? " · " + p.jurisdiction : "") : ""),
      fact("Address", p.address || p.matched_address),
      fact("Neighborhood", hoods),
      fact("Submissions", p.submission_count),
      fact("Reported", when(p.created_at)));
    body.appendChild(el("dl", { class: "g311-facts" }, facts));
    if (p.description) body.appendChild(el("p", { class: "g311-desc" }, [p.description]));
    var show = el("button", { type: "button", id: "g311-report-show" }, ["Show on map"]);
    show.addEventListener("click", function () { showReportOnMap(f, true); });
    var attach = el("button", { type: "button", id: "g311-report-attach", class: "g311-attach" }, ["Attach caller to this report"]);
    attach.addEventListener("click", function () { attachTo(f); });
    body.appendChild(el("p", { class: "g311-actions" }, [
      show, " ", attach, " ", el("a", { href: reportHref(id), target: "_blank", rel: "noopener" }, ["Public page"]),
    ]));
  }

  var KINDS = { created: "Reported", merged: "Submission joined", status: "Status changed", note: "Note" };
  var SYSTEM_NOTES = ["created", "merged"];   // their note is the server's own wording of the kind

  function renderEvents(events, res) {
    var list = $("g311-events");
    list.textContent = "";
    if (!events) {
      var err = errorOf(res);
      var li = el("li", { class: "g311-error" }, ["The history could not be loaded: " + err.message]);
      signInLink(li, res);
      list.appendChild(li);
      return;
    }
    events.forEach(function (e) {
      var head = [when(e.at), KINDS[e.kind] || words(e.kind)];
      if (e.kind === "status" && e.to_status) head.push((e.from_status ? words(e.from_status) + " → " : "") + words(e.to_status));
      if (e.actor) head.push(e.actor);
      var s = e.submission, contact = [];
      if (s) {
        if (s.channel) contact.push("by " + channelName(s.channel));
        [s.name, s.phone, s.email].forEach(function (x) { if (x) contact.push(String(x)); });
      }
      // notes say who sees them; other events only when they are internal
      var badge = e.kind === "note" || e.internal ? el("span", { class: "g311-badge " + (e.internal ? "g311-internal" : "g311-public") },
        [e.internal ? "internal" : "public"]) : null;
      list.appendChild(el("li", { class: "g311-event g311-event-" + words(e.kind).replace(/ /g, "_") + (e.internal ? " g311-event-internal" : "") }, [
        el("p", { class: "g311-meta" }, [head.filter(function (x) { return x; }).join(" · ")]),
        e.note && SYSTEM_NOTES.indexOf(e.kind) < 0 ? el("p", { class: "g311-note-text" }, [badge, badge ? " " : "", e.note]) : null,
        contact.length ? el("p", { class: "g311-meta" }, [contact.join(" · ")]) : null,
        s && s.description ? el("p", { class: "g311-desc" }, [s.description]) : null,
      ]));
    });
  }

  function reloadEvents() {
    if (!shownReport) return Promise.resolve();
    var id = String(shownReport.properties.id);
    return request("GET", "/reports/" + encodeURIComponent(id) + "/events", undefined, null, "events").then(function (ev) {
      if (!shownReport || String(shownReport.properties.id) !== id) return;
      renderEvents(ev.ok && ev.data ? ev.data.events || [] : null, ev);
    }).catch(ignoreAbort);
  }

  function onNote(ev) {
    ev.preventDefault();
    if (!shownReport || noting) return;
    var id = String(shownReport.properties.id), text = $("g311-note").value.trim();
    var status = $("g311-note-status");
    var internal = !$("g311-note-public").checked;
    if (!text) { status.textContent = "Write the note first."; status.className = "g311-error"; $("g311-note").focus(); return; }
    noting = true;
    $("g311-note-add").disabled = true;
    status.className = "";
    status.textContent = "Adding the note…";
    request("POST", "/reports/" + encodeURIComponent(id) + "/notes", { note: text, internal: internal }).then(function (res) {
      noting = false;
      $("g311-note-add").disabled = false;
      if (!res.ok) {
        status.textContent = "The note was not added: " + errorOf(res).message;
        status.className = "g311-error";
        signInLink(status, res);
        return;
      }
      $("g311-note").value = "";
      $("g311-note-internal").checked = true;
      status.textContent = (internal ? "Internal note" : "Public note") + " added to report " + id + ".";
      reloadEvents();
    });
  }

  /* ---- the map: the pin, the open reports nearby, the report in view ---- */

  function setPin(lat, lon, opts) {
    opts = opts || {};
    lat = Number(lat); lon = Number(lon);
    if (!isFinite(lat) || !isFinite(lon)) return;
    where = { lat: lat, lon: lon };
    if (map) {
      if (!pin) {
        pin = L.marker([lat, lon], {
          draggable: true, autoPan: true, zIndexOffset: 1000, keyboard: true,
          title: "The caller's pin (drag to adjust)", alt: "The caller's pin",
          icon: L.divIcon({ className: "", html: '<div class="g311-pin"></div>', iconSize: [22, 22],
                            iconAnchor: [11, 27] }),
        }).addTo(map);
        pin.on("dragend", function () { var ll = pin.getLatLng(); setPin(ll.lat, ll.lng, { source: "map" }); });
      } else {
        pin.setLatLng([lat, lon]);
      }
      if (opts.pan) map.setView([lat, lon], Math.max(map.getZoom(), 17), { animate: false });
    }
    $("g311-pin-status").textContent = opts.label ? "Pin at " + opts.label + ". Drag it, or click the map, to adjust."
      : "Pin at " + lat.toFixed(5) + ", " + lon.toFixed(5) + ".";
    $("g311-pin-status").className = "g311-pin-status g311-pin-set";
    if (opts.source === "map") reverse(lat, lon);
    scheduleNearby();
  }

  function clearPin() {
    where = null;
    if (pin && map) map.removeLayer(pin);
    pin = null;
    $("g311-pin-status").textContent = "No pin yet.";
    $("g311-pin-status").className = "g311-pin-status";
  }

  /* After the pin moved on the map: the nearest known address, to read back to the caller. */
  function reverse(lat, lon) {
    request("GET", "/reverse?lon=" + lon.toFixed(6) + "&lat=" + lat.toFixed(6), undefined, null, "reverse").then(function (res) {
      loads.reverse += 1;
      if (!res.ok || !res.data || !where || where.lat !== lat || where.lon !== lon) return;
      $("g311-pin-status").textContent = "Pin at " + lat.toFixed(5) + ", " + lon.toFixed(5) + ", " +
        distance(res.data.distance_m) + " from " + res.data.address + ".";
    }).catch(ignoreAbort);
  }

  function showReportOnMap(f, pan) {
    var c = f && f.geometry && f.geometry.coordinates;
    if (!map || !c) return;
    var ll = [Number(c[1]), Number(c[0])], p = f.properties || {};
    if (reportMarker) map.removeLayer(reportMarker);
    reportMarker = L.circleMarker(ll, { radius: 10, color: "#7c3aed", weight: 3, fillOpacity: 0.25, className: "g311-report-mark" })
      .bindTooltip(el("span", {}, ["Report " + p.id + ": " + categoryName(p)]))
      .addTo(map);
    if (pan || !where) map.setView(ll, Math.max(map.getZoom(), 16), { animate: false });
  }

  /* ---- the address: geocoded, the pin placed ---- */

  function clearBest(list) {
    if (!list.length) return null;
    var g = cfg.geocode, lead = list[0].score - (list.length > 1 ? list[1].score : 0);
    if ((list[0].score >= g.clear_score && lead >= g.clear_margin) || (list[0].score >= g.lone_score && lead >= g.lone_margin)) {
      return list[0];
    }
    return null;
  }

  function findAddress() {
    var q = $("g311-address").value.trim(), status = $("g311-address-status");
    var box = $("g311-candidates");
    box.textContent = "";
    box.hidden = true;
    candidates = [];
    if (!q) { status.textContent = "Type the address first."; status.className = "g311-error"; $("g311-address").focus(); return; }
    status.className = "g311-hint";
    status.textContent = "Looking up " + q + "…";
    request("GET", "/geocode?q=" + encodeURIComponent(q) + "&limit=" + cfg.geocode.limit, undefined, null, "geocode").then(function (res) {
      loads.geocode += 1;
      if (!res.ok || !res.data) {
        status.textContent = "The address could not be looked up: " + errorOf(res).message;
        status.className = "g311-error";
        signInLink(status, res);
        return;
      }
      candidates = res.data.candidates || [];
      if (!candidates.length) {
        status.textContent = (res.data.message ? res.data.message.charAt(0).toUpperCase() + res.data.message.slice(1) : "No address like that is known") +
          ". Check the spelling, or click the map to place the pin.";
        status.className = "g311-error";
        return;
      }
      var best = candidates.length === 1 ? candidates[0] : clearBest(candidates);
      if (best) {
        choose(best, { keepFocus: true });
        var others = candidates.filter(function (c) { return c !== best; });
        if (others.length) listCandidates(others, "Not this one? Other matches:");
        return;
      }
      status.textContent = plural(candidates.length, "address matches", "addresses match") + " " + q + ": choose one below.";
      listCandidates(candidates, null);
    }).catch(ignoreAbort);
  }

  function candidateLabel(c) {
    var extra = [];
    if (c.match === "nearest_number") extra.push("nearest number");
    if (c.match === "fuzzy") extra.push("similar name");
    if (c.postcode) extra.push(String(c.postcode));
    return String(c.address) + (extra.length ? " (" + extra.join(", ") + ")" : "");
  }

  function listCandidates(list, heading) {
    var box = $("g311-candidates");
    box.textContent = "";
    if (heading) box.appendChild(el("li", { class: "g311-candidates-head" }, [heading]));
    list.forEach(function (c) {
      var b = el("button", { type: "button", class: "g311-candidate" }, [candidateLabel(c)]);
      b.addEventListener("click", function () { choose(c); });
      box.appendChild(el("li", {}, [b]));
    });
    box.hidden = false;
  }

  function choose(c, opts) {
    opts = opts || {};
    setPin(c.lat, c.lon, { pan: true, label: String(c.address) });
    $("g311-address-status").className = "g311-hint";
    $("g311-address-status").textContent = "";
    if (!opts.keepFocus) {
      $("g311-candidates").hidden = true;
      $("g311-candidates").textContent = "";
      $("g311-category").focus();
    }
  }

  /* ---- the category and its questions ---- */

  function loadCategories() {
    request("GET", "/categories").then(function (res) {
      var sel = $("g311-category");
      if (!res.ok || !res.data) {
        sel.firstChild.textContent = "The categories could not be loaded";
        setStatus("The categories could not be loaded: " + errorOf(res).message + " Reload the page.", true);
        return;
      }
      var list = res.data.categories || [], groups = {}, order = [];
      sel.textContent = "";
      sel.appendChild(el("option", { value: "" }, ["Choose a category…"]));
      list.forEach(function (c) {
        categories[c.code] = c;
        var g = c.group || "";
        if (!groups[g]) { groups[g] = []; order.push(g); }
        groups[g].push(c);
      });
      order.forEach(function (g) {
        var parent = g ? el("optgroup", { label: g }) : sel;
        groups[g].forEach(function (c) { parent.appendChild(el("option", { value: c.code }, [c.name || words(c.code)])); });
        if (g) sel.appendChild(parent);
      });
      loads.categories += 1;
      $("g311-submit").disabled = false;
    });
  }

  function attributeField(a, i) {
    var id = "g311-attr-" + i, label = a.description + (a.required ? "" : " (optional)");
    var values = a.values || [];
    if (a.datatype === "multivaluelist") {
      return el("fieldset", { "data-code": a.code, "data-type": a.datatype }, [el("legend", {}, [label])].concat(
        values.map(function (v, j) {
          return el("label", { class: "g311-check", for: id + "-" + j }, [
            el("input", { type: "checkbox", value: v.key, id: id + "-" + j }), v.name]);
        })));
    }
    var input;
    if (a.datatype === "singlevaluelist") {
      input = el("select", { id: id }, [el("option", { value: "" }, ["Choose…"])].concat(
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
    if (c && (c.attributes || []).length) {
      var d = el("details", { class: "g311-questions" }, [el("summary", {}, ["Questions about this " + (c.name || "category").toLowerCase()])]);
      (c.attributes || []).forEach(function (a, i) { d.appendChild(attributeField(a, i)); });
      if ((c.attributes || []).some(function (a) { return a.required; })) d.open = true;
      box.appendChild(d);
    }
    scheduleNearby();
  }

  function attributeAnswers() {
    var out = {};
    Array.prototype.forEach.call($("g311-attributes").querySelectorAll("[data-code]"), function (node) {
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

  /* ---- the open reports of the category near the pin, listed first ---- */

  function nearbyRadius(code) {
    var c = categories[code];
    return Math.max(cfg.nearby_radius_m || 0, (c && c.dedup_radius_m) || 0) || 250;
  }

  function scheduleNearby() {
    clearTimeout(timers.nearby);
    nearbyScheduled = true;
    timers.nearby = setTimeout(loadNearby, 150);
  }

  function clearNearby(text) {
    cancel("nearby");
    nearbyFeatures = [];
    $("g311-nearby-list").textContent = "";
    $("g311-nearby-status").textContent = text;
    if (nearbyLayer) nearbyLayer.clearLayers();
  }

  function loadNearby() {
    nearbyScheduled = false;
    var code = $("g311-category").value;
    if (!where || !code) {
      clearNearby(!where ? "Place the pin to see the open reports nearby." : "Choose a category to see its open reports nearby.");
      return;
    }
    var radius = nearbyRadius(code);
    var q = "lon=" + where.lon.toFixed(6) + "&lat=" + where.lat.toFixed(6) + "&category=" + encodeURIComponent(code) +
      "&radius_m=" + radius + "&limit=10";
    $("g311-nearby-status").textContent = "Looking for open reports nearby…";
    request("GET", "/reports/nearby?" + q, undefined, null, "nearby").then(function (res) {
      loads.nearby += 1;
      if (!res.ok || !res.data) {
        clearNearby("The open reports nearby could not be loaded: " + errorOf(res).message);
        return;
      }
      renderNearby(res.data.features || [], code, radius);
    }).catch(ignoreAbort);
  }

  function renderNearby(features, code, radius) {
    nearbyFeatures = features;
    var list = $("g311-nearby-list"), name = (categories[code] && categories[code].name) || words(code);
    list.textContent = "";
    if (nearbyLayer) nearbyLayer.clearLayers();
    $("g311-nearby-status").textContent = features.length
      ? plural(features.length, "open " + name.toLowerCase() + " report", "open " + name.toLowerCase() + " reports") +
        " within " + distance(radius) + " of the pin. If the caller means one of them, attach the caller to it."
      : "No open " + name.toLowerCase() + " report within " + distance(radius) + " of the pin: create a new one below.";
    features.forEach(function (f, i) {
      var p = f.properties || {}, id = String(p.id), c = f.geometry && f.geometry.coordinates;
      var meta = [words(p.status), distance(p.distance_m) + " from the pin"];
      if (p.submission_count > 1) meta.push(p.submission_count + " submissions");
      if (p.created_at) meta.push("reported " + when(p.created_at));
      // the accessible names start with the visible text and say which report
      var attach = el("button", { type: "button", class: "g311-attach", "data-report": id,
                                  "aria-label": "Attach caller to this one (report " + id + ")" }, ["Attach caller to this one"]);
      attach.addEventListener("click", function () { attachTo(f); });
      var open = el("button", { type: "button", class: "g311-link-button", "aria-label": "Details (report " + id + ")" }, ["Details"]);
      open.addEventListener("click", function () { openReport(Number(id), { focus: true }); });
      list.appendChild(el("li", { class: "g311-nearby-item", "data-report": id }, [
        el("h4", {}, [String(i + 1) + ". Report " + id + ": " + categoryName(p)]),
        el("p", { class: "g311-meta" }, [meta.join(" · ")]),
        p.address ? el("p", { class: "g311-meta" }, [p.address]) : null,
        p.description ? el("p", { class: "g311-desc" }, [p.description]) : null,
        el("p", { class: "g311-actions" }, [attach, " ", open]),
      ]));
      if (nearbyLayer && c) {
        L.circleMarker([Number(c[1]), Number(c[0])], { radius: 11, color: "#b45309", weight: 3, fillOpacity: 0.15,
                                                       className: "g311-nearby-mark" })
          .bindTooltip(el("span", {}, [String(i + 1) + ". Report " + id + ": " + categoryName(p)]))
          .on("click", function () { attach.focus(); })
          .addTo(nearbyLayer);
      }
    });
    // the list is what the agent reads next: bring it into view (without moving the focus)
    if (features.length && $("g311-nearby").scrollIntoView) $("g311-nearby").scrollIntoView({ block: "nearest" });
  }

  /* ---- sending: a new report, or the caller attached to one ---- */

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function channel() {
    var c = document.querySelector('input[name="channel"]:checked');
    return c ? c.value : cfg.default_channel;
  }

  function reporter() {
    var out = {};
    ["name", "phone", "email"].forEach(function (k) {
      var v = $("g311-" + k).value.trim();
      if (v) out[k] = v;
    });
    return Object.keys(out).length ? out : null;
  }

  function feature(category, coordinates, withAnswers) {
    var props = { category: category, description: $("g311-description").value.trim() };
    var address = $("g311-address").value.trim();
    if (address) props.address = address;
    var r = reporter();
    if (r) props.reporter = r;
    if (withAnswers) props.attributes = attributeAnswers();
    return { type: "Feature", geometry: { type: "Point", coordinates: coordinates }, properties: props };
  }

  function setBusy(on) {
    sending = on;
    $("g311-submit").disabled = on || !loads.categories;
    Array.prototype.forEach.call(document.querySelectorAll(".g311-attach"), function (b) { b.disabled = on; });
  }

  function clearFieldErrors() { fieldError("phone", ""); fieldError("email", ""); }

  function onSubmit(ev) {
    ev.preventDefault();
    if (sending) return;
    clearFieldErrors();
    var code = $("g311-category").value;
    if (!where) {
      setStatus("Place the pin first: type the address and press Enter, or click the map.", true);
      $("g311-address").focus();
      return;
    }
    if (!code) { setStatus("Choose the category.", true); $("g311-category").focus(); return; }
    var box = $("g311-attributes");
    var missing = Array.prototype.filter.call(box.querySelectorAll("[required]"), function (i) { return !i.value.trim(); });
    if (missing.length) {
      var d = box.querySelector("details");
      if (d) d.open = true;
      setStatus("Answer the required question: " + (missing[0].labels && missing[0].labels[0] ? missing[0].labels[0].textContent : "") + ".", true);
      missing[0].focus();
      return;
    }
    send("/reports", feature(code, [where.lon, where.lat], true), "Creating the report…", null);
  }

  /* The caller joins an existing report: the report's category, the pin (or the report's point). */
  function attachTo(f) {
    if (sending) return;
    clearFieldErrors();
    var p = f.properties || {}, c = f.geometry && f.geometry.coordinates;
    var point = where ? [where.lon, where.lat] : [Number(c[0]), Number(c[1])];
    var body = feature(p.category, point, String(p.category) === $("g311-category").value);
    send("/reports/" + encodeURIComponent(String(p.id)) + "/submissions", body,
         "Attaching the caller to report " + p.id + "…", p.id);
  }

  function send(path, body, waiting, joining) {
    var text = path + "\n" + channel() + "\n" + JSON.stringify(body);
    if (!(pendingKey && pendingBody === text)) { pendingKey = newKey(); pendingBody = text; }
    var gen = generation;
    setBusy(true);
    setStatus(waiting);
    $("g311-outcome").textContent = "";
    request("POST", path, body, { "Idempotency-Key": pendingKey, "X-Geo311-Channel": channel() }).then(function (res) {
      setBusy(false);
      if (gen !== generation) return;
      setStatus("");
      if (!res.network) { pendingKey = null; pendingBody = null; }
      if (res.ok && res.data) accepted(res.status, res.data.properties || {}, joining);
      else refused(res, joining);
    });
  }

  function showOutcome(node) {
    var box = $("g311-outcome");
    box.textContent = "";
    box.appendChild(node);
    box.focus();
  }

  function accepted(status, p, joining) {
    var id = String(p.id), lines;
    var count = p.submission_count ? " It now has " + plural(Number(p.submission_count), "submission", "submissions") + "." : "";
    if (joining !== null && joining !== undefined) {
      lines = [el("p", { class: "g311-outcome-head" }, ["Caller attached to report " + id + "."]), el("p", {}, [count.trim()])];
    } else if (p.merged || status === 200) {
      lines = [el("p", { class: "g311-outcome-head" }, ["Joined report " + id + ": it was already reported nearby."]),
               el("p", {}, [(typeof p.distance_m === "number" ? distance(p.distance_m) + " from the pin." : "") + count])];
    } else {
      lines = [el("p", { class: "g311-outcome-head" }, ["New report " + id + "."])];
      if (p.agency) lines.push(el("p", {}, ["Sent to " + p.agency + (p.jurisdiction ? " (" + p.jurisdiction + ")" : "") + "."]));
    }
    var open = el("button", { type: "button", class: "g311-link-button" }, ["Open report " + id]);
    open.addEventListener("click", function () { openReport(Number(id), { focus: true }); });
    lines.push(el("p", { class: "g311-actions" }, [open, " ", el("a", { href: reportHref(id), target: "_blank", rel: "noopener" }, ["Public page"])]));
    lines.push(el("p", { class: "g311-meta" }, ["Press New call for the next caller."]));
    var box = el("div", { class: "g311-ok", "data-report": id, "data-outcome": joining ? "attached" : (p.merged || status === 200 ? "joined" : "created") }, lines);
    showOutcome(box);
    refreshHistory();
    scheduleNearby();
    if (shownReport && String(shownReport.properties.id) === id) openReport(Number(id));
  }

  function refused(res, joining) {
    var err = errorOf(res);
    if (res.status === 422 && (err.code === "bad_phone" || err.code === "bad_email")) {
      var field = err.code === "bad_phone" ? "phone" : "email";
      fieldError(field, err.message);
      setStatus("Not sent: check the caller's " + field + ".", true);
      $("g311-" + field).focus();
      return;
    }
    var items = [el("p", { class: "g311-outcome-head" }, [res.network ? "Not sent." :
      (joining ? "The caller was not attached to report " + joining + "." : "The report was not accepted.")]),
      el("p", {}, [err.message])];
    if (err.details && err.details.length) items.push(el("ul", {}, err.details.map(function (d) { return el("li", {}, [d]); })));
    if (res.network) items.push(el("p", {}, ["Nothing was lost: press the button again to retry."]));
    var box = el("div", { class: "g311-bad", role: "alert" }, items);
    signInLink(box, res);
    showOutcome(box);
  }

  /* ---- the next caller ---- */

  function newCall() {
    generation += 1;
    Object.keys(aborts).forEach(cancel);
    Object.keys(timers).forEach(function (k) { clearTimeout(timers[k]); });
    nearbyScheduled = false;
    pendingKey = null; pendingBody = null;
    setBusy(false);
    ["g311-search-q", "g311-name", "g311-phone", "g311-email", "g311-address", "g311-description", "g311-note"].forEach(function (id) {
      $(id).value = "";
    });
    ["search", "phone", "email"].forEach(function (f) { fieldError(f, ""); });
    $("g311-category").value = "";
    onCategory();
    clearNearby("Place the pin and choose a category to see the open reports of that category nearby.");
    clearPin();
    candidates = [];
    $("g311-candidates").textContent = "";
    $("g311-candidates").hidden = true;
    $("g311-address-status").className = "g311-hint";
    $("g311-address-status").textContent = "Type the address and press Enter to place the pin. Click the map, or drag the pin, to adjust it.";
    setStatus("");
    $("g311-outcome").textContent = "";
    caller = null;
    $("g311-history-list").textContent = "";
    $("g311-history-summary").textContent = "Search a phone number or an email to see what the caller has reported before.";
    shownReport = null;
    $("g311-report-view").hidden = true;
    $("g311-report-body").textContent = "";
    $("g311-events").textContent = "";
    $("g311-note-status").textContent = "";
    $("g311-note-internal").checked = true;
    if (reportMarker && map) { map.removeLayer(reportMarker); reportMarker = null; }
    if (map && cfg.bounds) map.fitBounds(cfg.bounds, { animate: false });
    $("g311-search-q").focus();
  }

  /* ---- start ---- */

  function start() {
    var node = $("geo311-config");
    if (!node) return;
    cfg = JSON.parse(node.textContent);
    var meta = document.querySelector('meta[name="csrf-token"]');
    csrf = meta ? meta.getAttribute("content") || "" : "";
    map = window.L ? window[cfg.map] || null : null;

    $("g311-search").addEventListener("submit", onSearch);
    $("g311-search-q").addEventListener("input", function () { fieldError("search", ""); });
    $("g311-call").addEventListener("submit", onSubmit);
    // Enter in a one-line field of the call form does not send the report: in the address it
    // looks the address up; elsewhere it does nothing (the report is sent with its button)
    $("g311-call").addEventListener("keydown", function (ev) {
      var t = ev.target;
      if (ev.key !== "Enter" || t.tagName !== "INPUT") return;
      ev.preventDefault();
      if (t.id === "g311-address") findAddress();
    });
    $("g311-find").addEventListener("click", findAddress);
    $("g311-address").addEventListener("input", function () { $("g311-address-status").className = "g311-hint"; });
    $("g311-category").addEventListener("change", onCategory);
    ["phone", "email"].forEach(function (k) {
      $("g311-" + k).addEventListener("change", function () { onContactChange(k); });
      $("g311-" + k).addEventListener("input", function () { fieldError(k, ""); });
    });
    $("g311-note-form").addEventListener("submit", onNote);
    $("g311-new-call").addEventListener("click", newCall);

    if (map) {
      map.getContainer().setAttribute("aria-label",
        "Map. Click to place the caller's pin, or drag the pin to adjust it. Open reports nearby are circled.");
      var b = map.getBounds();
      cfg.bounds = [[b.getSouth(), b.getWest()], [b.getNorth(), b.getEast()]];
      nearbyLayer = L.layerGroup().addTo(map);
      map.on("click", function (e) { setPin(e.latlng.lat, e.latlng.lng, { source: "map" }); });
    } else {
      $("g311-address-status").textContent = "The map could not start; type the address to place the pin.";
    }
    loadCategories();
    window.geo311Agent = {
      map: map, pin: function () { return pin; }, where: function () { return where; },
      caller: function () { return caller; }, report: function () { return shownReport; },
      nearby: function () { return nearbyFeatures; }, candidates: function () { return candidates; },
      loads: function () { return Object.assign({}, loads); },
      busy: function () { return sending || noting || Object.keys(aborts).length > 0 || nearbyScheduled; },
      setPin: setPin, newCall: newCall,
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
