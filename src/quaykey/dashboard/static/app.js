/* quaykey operations dashboard.
 * Reads GET /api/state once, then follows GET /api/events (Server-Sent Events); operator
 * actions go to POST /api/actions/{action} with the token the server printed in the URL hash.
 * Every asset is served by this server (static/vendor, see PROVENANCE.md).
 */
(function () {
  "use strict";

  const TOKEN_KEY = "quaykey-operator-token";
  const HUT = /^relay hut/i;
  // eastern China, Beijing to Ningbo (lon, lat of the top-left and bottom-right corners)
  const MAIN_VIEW = [[114.2, 41.0], [124.4, 29.3]];
  const ORBIT_VIEW = [[-180, 86], [180, -60]];
  const frame = (w, s, e, n) => ({ type: "FeatureCollection", features: [{ type: "Feature", properties: { name: "frame" },
    geometry: { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] } }] });
  const RATE_COLOURS = ["#5b3fa8", "#3f6fd8", "#1fa3d6", "#19c3b1", "#58d66b", "#c4e34f"];
  const POOL_COLOURS = ["#f05252", "#f59e0b", "#e5d44a", "#34d399"];
  const ALARM_TEXT = { ok: "OK", qber: "QBER", cut: "CUT", "low-pool": "LOW POOL" };
  const ALARM_CLASS = { ok: "b-ok", qber: "b-bad", cut: "b-bad", "low-pool": "b-warn" };

  const $ = (id) => document.getElementById(id);
  const ui = {
    state: null,
    chart: null,
    mapReady: false,
    colourBy: "rate",
    selectedRoute: null,
    linkRows: new Map(),
    linkKeys: "",
    seenAlarms: new Set(),
    token: null,
  };
  // event-to-render latency, read by benchmarks/dashboard.py and the end-to-end test
  window.__quaykey = { renders: 0, latency: [] };

  /* ---------- formatting ---------- */
  function fmtRate(bps) {
    if (bps == null || !isFinite(bps)) return "–";
    if (bps >= 1e6) return (bps / 1e6).toFixed(2) + " Mb/s";
    if (bps >= 1e3) return (bps / 1e3).toFixed(1) + " kb/s";
    return bps.toFixed(0) + " b/s";
  }
  function fmtBits(b) {
    if (b == null) return "–";
    if (b >= 8e6) return (b / 8e6).toFixed(1) + " MB";
    if (b >= 8e3) return (b / 8e3).toFixed(1) + " kB";
    return b.toFixed(0) + " b";
  }
  const fmtPct = (x, d) => (x == null || !isFinite(x) ? "–" : (100 * x).toFixed(d == null ? 1 : d) + " %");
  const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-GB"));
  function fmtCountdown(s) {
    if (s == null) return "–";
    if (s <= 0) return "in view";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    const mm = String(m).padStart(2, "0"), ss = String(sec).padStart(2, "0");
    return h > 0 ? h + ":" + mm + ":" + ss : m + ":" + ss;
  }
  const fmtUtc = (iso) => (iso ? String(iso).replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, "") + " UTC" : "–");
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function badge(text, cls) { return el("span", "badge " + cls, text); }
  function replaceChildren(parent, kids) { parent.replaceChildren.apply(parent, kids); }

  /* ---------- colours ---------- */
  function rateColour(bps) {
    if (!bps || bps <= 0) return "#6b7280";
    const x = Math.min(0.999, Math.max(0, (Math.log10(bps) - 3) / 3)); // 1 kb/s .. 1 Mb/s, half decades
    return RATE_COLOURS[Math.min(RATE_COLOURS.length - 1, Math.floor(x * RATE_COLOURS.length))];
  }
  function poolColour(frac) {
    if (frac < 0.1) return POOL_COLOURS[0];
    if (frac < 0.3) return POOL_COLOURS[1];
    if (frac < 0.6) return POOL_COLOURS[2];
    return POOL_COLOURS[3];
  }
  // in half-pixel steps: a rate that wobbles within a step leaves the map alone
  function linkWidth(bps) { return bps > 0 ? Math.round(2 * (1.2 + Math.min(3.8, Math.max(0, Math.log10(bps) - 1) * 0.95))) / 2 : 1; }
  const poolFrac = (l) => (l.pool_capacity_bits > 0 ? l.pool_bits / l.pool_capacity_bits : 0);

  /* ---------- map ---------- */
  async function initMap() {
    if (!window.echarts || !window.topojson) return;
    const world = await (await fetch("/static/vendor/countries-110m.json")).json();
    const geo = window.topojson.feature(world, world.objects.countries);
    window.echarts.registerMap("world", geo);
    window.echarts.registerMap("east-asia", { type: "FeatureCollection", features: geo.features.filter(nearEastChina) });
    // ECharts redraws a geo's countries on every update: the countries are a chart of their
    // own, drawn once (#map-base); the live chart above it (#map) projects with the same view
    // on an invisible one-polygon frame
    window.echarts.registerMap("frame", frame(90, 5, 155, 60));
    window.echarts.registerMap("world-frame", frame(-180, -89, 180, 89));
    ui.base = window.echarts.init($("map-base"), null, { renderer: "canvas" });
    ui.base.setOption({ backgroundColor: "#0a1322", animation: false,
      geo: Object.assign({ map: "east-asia", itemStyle: LAND }, MAIN_GEO) });
    ui.orbitBase = window.echarts.init($("orbit-base"), null, { renderer: "canvas" });
    ui.orbitBase.setOption({ backgroundColor: "#0a1322", animation: false,
      geo: Object.assign({ map: "world", itemStyle: { areaColor: "#22324c", borderColor: "#4b6288", borderWidth: 0.5 } }, ORBIT_GEO) });
    ui.chart = window.echarts.init($("map"), null, { renderer: "canvas" });
    ui.orbit = window.echarts.init($("orbit"), null, { renderer: "canvas" });
    ui.chart.setOption(mapBase());
    ui.orbit.setOption(orbitBase());
    ui.chart.on("click", (p) => {
      if (p.seriesId === "fibre" || p.seriesId === "alarms") selectLink(p.data.linkId);
      if (p.seriesId === "nodes" && p.data.kme != null) $("node-select").value = p.data.id;
    });
    // the map fills its panel: follow the panel's size, not only the window's
    new ResizeObserver(() => { ui.base.resize(); ui.chart.resize(); }).observe($("map").parentElement);
    window.addEventListener("resize", () => { ui.orbitBase.resize(); ui.orbit.resize(); });
    ui.mapReady = true;
    if (ui.state) renderMap(ui.state);
  }

  const LAND = { areaColor: "#1c2a40", borderColor: "#3d5275", borderWidth: 0.8 };
  const NO_HOVER = { emphasis: { disabled: true }, select: { disabled: true } };
  const MAIN_GEO = Object.assign({ roam: false, silent: true, boundingCoords: MAIN_VIEW, aspectScale: 0.82,
    left: 0, right: 0, top: 0, bottom: 0 }, NO_HOVER);
  const ORBIT_GEO = Object.assign({ roam: false, silent: true, boundingCoords: ORBIT_VIEW, left: 2, right: 2, top: 2, bottom: 2 }, NO_HOVER);
  const TOOLTIP = { trigger: "item", confine: true, backgroundColor: "#0e1729", borderColor: "#3d5275",
    textStyle: { color: "#e6edf6", fontSize: 12 } };

  function nearEastChina(f) {
    let hit = false;
    const walk = (c) => { if (typeof c[0] === "number") { if (c[0] > 95 && c[0] < 150 && c[1] > 10 && c[1] < 55) hit = true; } else c.forEach(walk); };
    walk(f.geometry ? f.geometry.coordinates : []);
    return hit;
  }

  function mapBase() {
    const lbl = { color: "#d9e3f0", fontSize: 10, position: "right", distance: 4, textBorderColor: "#0a1322", textBorderWidth: 2 };
    const onTop = { coordinateSystem: "geo", zlevel: 1 };
    return {
      backgroundColor: "transparent", animation: false,
      tooltip: Object.assign({ formatter: tooltip }, TOOLTIP),
      geo: Object.assign({ map: "frame", itemStyle: { areaColor: "transparent", borderWidth: 0 } }, MAIN_GEO),
      series: [
        Object.assign({ id: "route", type: "lines", polyline: true, silent: true, z: 1,
          lineStyle: { color: "#ffe27a", width: 10, opacity: 0.35, cap: "round", join: "round" }, data: [] }, onTop),
        Object.assign({ id: "fibre", type: "lines", z: 2, data: [], emphasis: { focus: "none" } }, onTop),
        Object.assign({ id: "satlinks", type: "lines", z: 2, data: [], silent: true }, onTop),
        Object.assign({ id: "nodes", type: "scatter", z: 3, data: [], label: lbl, labelLayout: { hideOverlap: true } }, onTop),
        Object.assign({ id: "alarms", type: "scatter", z: 4, data: [], symbol: "triangle", symbolSize: 14,
          itemStyle: { color: "#f87171", borderColor: "#fff", borderWidth: 1 },
          label: { show: true, position: "top", color: "#fff", backgroundColor: "#7f1d1d", padding: [1, 3], borderRadius: 3,
            fontSize: 10, fontWeight: "bold" } }, onTop),
        Object.assign({ id: "sat", type: "scatter", z: 5, data: [], symbol: "pin", symbolSize: 20,
          itemStyle: { color: "#5cc8ff" }, label: { show: true, formatter: "{b}", position: "right", color: "#e6edf6" } }, onTop),
      ],
    };
  }
  function orbitBase() {
    const onTop = { coordinateSystem: "geo", zlevel: 1, silent: true };
    return {
      backgroundColor: "transparent", animation: false,
      geo: Object.assign({ map: "world-frame", itemStyle: { areaColor: "transparent", borderWidth: 0 } }, ORBIT_GEO),
      series: [
        Object.assign({ id: "track", type: "lines", polyline: true, lineStyle: { color: "#c084fc", width: 1.2, type: "dashed" }, data: [] }, onTop),
        Object.assign({ id: "stations", type: "scatter", symbol: "triangle", symbolSize: 8, itemStyle: { color: "#c084fc" }, data: [] }, onTop),
        Object.assign({ id: "sat", type: "scatter", symbol: "pin", symbolSize: 18, itemStyle: { color: "#5cc8ff" },
          label: { show: true, formatter: "{b}", position: "right", color: "#e6edf6", fontSize: 11 }, data: [] }, onTop),
      ],
    };
  }

  function tooltip(p) {
    const d = p.data || {};
    const s = ui.state;
    const l = d.linkId && s ? s.links.find((x) => x.id === d.linkId) : null;
    if (l) {
      return "<b>" + l.id + "</b><br>" + fmtRate(l.key_rate_bps) + " · QBER " + fmtPct(l.qber, 2) +
        "<br>pool " + fmtPct(poolFrac(l), 0) + " (" + fmtBits(l.pool_bits) + ") · " + (ALARM_TEXT[l.alarm] || l.alarm);
    }
    const n = d.id && s ? s.nodes.find((x) => x.id === d.id) : null;
    if (n) return "<b>" + n.label + "</b><br>" + n.kind + (n.kme ? " · KME " + n.kme : "");
    return p.name || "";
  }

  const shortLabel = (t) => String(t || "").split(/,| ground station| \(/)[0];

  function splitTrack(track) {
    const parts = [];
    let cur = [];
    for (const [lat, lon] of track || []) {
      if (cur.length && Math.abs(lon - cur[cur.length - 1][0]) > 180) { parts.push(cur); cur = []; }
      cur.push([lon, lat]);
    }
    if (cur.length > 1) parts.push(cur);
    return parts;
  }

  function renderMap(s) {
    if (!ui.mapReady) return;
    const byId = new Map(s.nodes.map((n) => [n.id, n]));
    const sat = s.satellite || {};
    const pos = (id) => {
      const n = byId.get(id);
      if (n && n.lat != null && n.lon != null) return [n.lon, n.lat];
      if (id === sat.name && sat.lat != null) return [sat.lon, sat.lat];
      return null;
    };
    const fibre = [], satLinks = [], alarms = [];
    for (const l of s.links) {
      const a = pos(l.a), b = pos(l.b);
      if (!a || !b) continue;
      const sky = l.kind !== "fibre";
      const colour = l.cut ? "#8b95a5" : sky ? "#5cc8ff" : ui.colourBy === "pool" ? poolColour(poolFrac(l)) : rateColour(l.key_rate_bps);
      const item = { coords: [a, b], linkId: l.id,
        lineStyle: { color: colour, width: sky ? 1.5 : linkWidth(l.key_rate_bps),
          type: sky ? "dotted" : l.cut ? "dashed" : "solid", opacity: 0.95 } };
      if (l.kind !== "fibre") { if (l.key_rate_bps > 0) satLinks.push(item); } else fibre.push(item);
      if (l.alarm === "qber" || l.alarm === "cut") {
        alarms.push({ value: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], linkId: l.id, label: { formatter: ALARM_TEXT[l.alarm] } });
      }
    }
    const nodes = [], stations = [];
    for (const n of s.nodes) {
      if (n.lat == null || n.lon == null) continue;
      const hut = HUT.test(n.label || "");
      const down = n.kme === "down";
      const item = { value: [n.lon, n.lat], id: n.id, kme: n.kme, name: n.label,
        symbol: n.kind === "user" ? "diamond" : n.kind === "ground-station" ? "triangle" : down ? "emptyCircle" : "circle",
        symbolSize: hut ? 4 : n.kind === "user" ? 9 : 7,
        itemStyle: { color: down ? "#f87171" : n.kind === "user" ? "#ffd84d" : n.kind === "ground-station" ? "#c084fc" : "#e6edf6",
          borderColor: "#0a1322", borderWidth: 1 },
        label: { show: !hut && n.kind !== "user", formatter: shortLabel(n.label) + (down ? " (KME down)" : "") } };
      nodes.push(item);
      if (n.kind === "ground-station") stations.push({ value: [n.lon, n.lat], name: n.label });
    }
    const route = (s.routes || []).find((r) => r.id === ui.selectedRoute);
    const routeCoords = route ? route.path.map(pos).filter(Boolean) : [];
    const routeLine = routeCoords.length > 1 ? [{ coords: routeCoords }] : [];
    const track = splitTrack(sat.ground_track).map((c) => ({ coords: c }));
    const satPoint = sat.lat != null ? [{ value: [sat.lon, sat.lat], name: sat.name }] : [];
    // only the data changes, and only series whose data changed are handed over
    const [[w, n], [e, so]] = MAIN_VIEW;
    const satInView = satPoint.filter((p) => p.value[0] > w && p.value[0] < e && p.value[1] > so && p.value[1] < n);
    pushChanged(ui.chart, "main", { route: routeLine, fibre, satlinks: satLinks, nodes, alarms, sat: satInView });
    pushChanged(ui.orbit, "orbit", { track, stations, sat: satPoint });
  }

  const lastSeries = new Map();
  function pushChanged(chart, key, byId) {
    const series = [];
    for (const [id, data] of Object.entries(byId)) {
      const sig = JSON.stringify(data);
      if (lastSeries.get(key + "/" + id) === sig) continue;
      lastSeries.set(key + "/" + id, sig);
      series.push({ id, data });
    }
    if (series.length) chart.setOption({ series });
  }

  function renderLegend() {
    const parts = ui.colourBy === "pool"
      ? [["< 10 %", POOL_COLOURS[0]], ["< 30 %", POOL_COLOURS[1]], ["< 60 %", POOL_COLOURS[2]], ["≥ 60 %", POOL_COLOURS[3]]]
      : [["<3k", RATE_COLOURS[0]], ["10k", RATE_COLOURS[1]], ["30k", RATE_COLOURS[2]], ["100k", RATE_COLOURS[3]],
        ["300k", RATE_COLOURS[4]], ["≥300k b/s", RATE_COLOURS[5]]];
    const kids = [document.createTextNode(ui.colourBy === "pool" ? "Colour = key pool:" : "Colour = key rate:")];
    for (const [t, c] of parts) {
      const sw = el("span", "sw"); sw.style.background = c; kids.push(sw, document.createTextNode(t));
    }
    kids.push(document.createTextNode(" · width = rate · dashed = cut · dotted = satellite · ◆ user ● trusted ▲ station"));
    replaceChildren($("map-legend"), kids);
  }

  /* ---------- links table ---------- */
  function drawSpark(canvas, hist, cap) {
    const dpr = window.devicePixelRatio || 1, w = 72, h = 20;
    if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    if (!hist || hist.length < 2) return;
    const n = hist.length, x = (i) => (i / (n - 1)) * (w - 2) + 1;
    const pmax = cap > 0 ? cap : Math.max(1, ...hist.map((p) => p.pool_bits));
    g.beginPath(); g.moveTo(x(0), h);
    hist.forEach((p, i) => g.lineTo(x(i), h - 1 - (p.pool_bits / pmax) * (h - 2)));
    g.lineTo(x(n - 1), h); g.closePath();
    g.fillStyle = "rgba(92, 200, 255, 0.22)"; g.fill();
    const rmax = Math.max(1, ...hist.map((p) => p.key_rate_bps));
    g.beginPath();
    hist.forEach((p, i) => { const y = h - 1 - (p.key_rate_bps / rmax) * (h - 3); i ? g.lineTo(x(i), y) : g.moveTo(x(i), y); });
    g.strokeStyle = "#c4e34f"; g.lineWidth = 1.3; g.stroke();
  }

  // figures and sparklines are kept current for the rows in view (and a row scrolling into
  // view is brought up to date): less layout and drawing per update
  const sparkObserver = new IntersectionObserver((entries) => {
    for (const en of entries) {
      const r = ui.linkRows.get(en.target.dataset.link);
      if (!r) continue;
      r.visible = en.isIntersecting;
      if (r.visible) fillLinkFigures(r);
    }
  });

  function fillLinkFigures(r) {
    const l = r.link;
    if (!l) return;
    setText(r.c.rate, fmtRate(l.key_rate_bps));
    setText(r.c.qber, fmtPct(l.qber, 2));
    setText(r.c.pool, fmtPct(poolFrac(l), 0));
    r.c.pool.title = fmtBits(l.pool_bits) + " of " + fmtBits(l.pool_capacity_bits);
    setText(r.c.plob, l.plob_ratio == null ? "–" : (100 * l.plob_ratio).toPrecision(2) + " %");
    drawSpark(r.cv, l.history, l.pool_capacity_bits);
    r.filled = true;
  }

  function buildLinkRows(links) {
    sparkObserver.disconnect();
    ui.linkRows.clear();
    const rows = links.map((l) => {
      const tr = el("tr");
      tr.dataset.testid = "link-row";
      tr.setAttribute("data-testid", "link-row");
      tr.dataset.link = l.id;
      const c = {};
      const tdLink = el("td", "link");
      const btn = el("button", "linkbtn", l.id);
      btn.type = "button"; btn.title = l.id + " (" + l.kind + ", " + (l.length_km || 0).toFixed(0) + " km): select for actions";
      btn.addEventListener("click", () => selectLink(l.id));
      tdLink.append(btn);
      tr.append(tdLink);
      for (const f of ["rate", "qber", "pool", "plob"]) { c[f] = el("td", "num"); c[f].dataset.field = f; tr.append(c[f]); }
      c.alarm = el("td"); c.alarm.dataset.field = "alarm"; tr.append(c.alarm);
      const tdSpark = el("td"); const cv = el("canvas", "spark"); cv.setAttribute("aria-hidden", "true");
      tdSpark.append(cv); tr.append(tdSpark);
      ui.linkRows.set(l.id, { tr, c, cv, alarm: null, visible: false, filled: false, link: null });
      sparkObserver.observe(tr);
      return tr;
    });
    replaceChildren($("links-body"), rows);
  }

  function renderLinks(s) {
    const keys = s.links.map((l) => l.id).join("|");
    if (keys !== ui.linkKeys) { buildLinkRows(s.links); fillLinkSelect(s.links); ui.linkKeys = keys; shown.delete("link-order"); }
    let inAlarm = 0;
    for (const l of s.links) {
      const r = ui.linkRows.get(l.id);
      r.link = l;
      // the figures of rows out of view are filled in when they scroll into view
      if (r.visible || !r.filled) fillLinkFigures(r);
      const akey = l.alarm + (l.quarantined ? "+q" : "") + (l.eavesdropper > 0 ? "+e" : "");
      if (akey !== r.alarm) {
        const kids = [badge(ALARM_TEXT[l.alarm] || l.alarm, ALARM_CLASS[l.alarm] || "b-off")];
        if (l.quarantined) kids.push(el("span", "quarantined", "quarantined"));
        replaceChildren(r.c.alarm, kids);
        r.tr.dataset.alarm = l.alarm;
        r.alarm = akey;
      }
      if (l.alarm !== "ok") inAlarm += 1;
    }
    setText($("links-summary"), s.links.length + " links · " + (inAlarm ? inAlarm + " in alarm" : "all OK"));
    // links in alarm first, the rest in the topology's order
    const order = s.links.filter((l) => l.alarm !== "ok").concat(s.links.filter((l) => l.alarm === "ok")).map((l) => l.id);
    if (changed("link-order", order)) {
      const body = $("links-body");
      for (const id of order) body.appendChild(ui.linkRows.get(id).tr);
    }
    updateLinkSelectLabels(s.links);
  }

  function fillLinkSelect(links) {
    const sel = $("link-select"), keep = sel.value;
    const onRoute = routeLinkIds(ui.state);
    const ordered = links.slice().sort((a, b) => (onRoute.has(b.id) - onRoute.has(a.id)) || a.id.localeCompare(b.id));
    replaceChildren(sel, ordered.map((l) => { const o = el("option", null, l.id); o.value = l.id; return o; }));
    if (keep && links.some((l) => l.id === keep)) sel.value = keep;
  }
  function updateLinkSelectLabels(links) {
    const byId = new Map(links.map((l) => [l.id, l]));
    for (const o of $("link-select").options) {
      const l = byId.get(o.value);
      if (l) setText(o, l.id + (l.alarm !== "ok" ? " — " + ALARM_TEXT[l.alarm] : ""));
    }
  }
  function routeLinkIds(s) {
    const ids = new Set();
    if (!s) return ids;
    const byPair = new Map(s.links.map((l) => [l.a + "|" + l.b, l.id]));
    for (const r of s.routes || []) {
      for (let i = 0; i + 1 < r.path.length; i++) {
        const id = byPair.get(r.path[i] + "|" + r.path[i + 1]) || byPair.get(r.path[i + 1] + "|" + r.path[i]);
        if (id) ids.add(id);
      }
    }
    return ids;
  }
  function selectLink(id) {
    $("link-select").value = id;
    for (const [lid, r] of ui.linkRows) r.tr.dataset.selected = String(lid === id);
  }

  /* ---------- routes, KMEs, tenants, applications, satellite, log ---------- */
  // a panel is rebuilt only when what it shows changed: fewer layouts per update
  const shown = new Map();
  function changed(key, value) {
    const sig = JSON.stringify(value);
    if (shown.get(key) === sig) return false;
    shown.set(key, sig);
    return true;
  }
  function defaultRoute(routes) {
    // an operator's choice stands; else the first route a fault moved, else the longest
    if (ui.routeChosen && routes.some((r) => r.id === ui.selectedRoute)) return ui.selectedRoute;
    const moved = routes.find((r) => r.status !== "ok");
    if (moved) return moved.id;
    return routes.length ? routes.reduce((a, b) => (b.hops > a.hops ? b : a)).id : null;
  }
  function routeStatus(st) {
    return badge(st === "ok" ? "OK" : st === "rerouted" ? "REROUTED" : "DOWN", st === "ok" ? "b-ok" : st === "rerouted" ? "b-warn" : "b-bad");
  }
  function compactPath(p) {
    if (!p.length) return "no path";
    return p.length <= 5 ? p.join(" → ") : p.slice(0, 2).join(" → ") + " → … → " + p.slice(-2).join(" → ");
  }
  function renderRoutes(s) {
    ui.selectedRoute = defaultRoute(s.routes);
    if (!changed("routes", [s.routes, ui.selectedRoute])) return;
    const rows = s.routes.map((r) => {
      const tr = el("tr");
      tr.setAttribute("data-testid", "route-row");
      tr.dataset.route = r.id;
      tr.dataset.path = r.path.join(" ");
      tr.dataset.status = r.status;
      tr.dataset.selected = String(r.id === ui.selectedRoute);
      const td = el("td");
      const b = el("button", "linkbtn", r.src + " → " + r.dst);
      b.type = "button"; b.title = "show this route on the map";
      b.addEventListener("click", () => { ui.selectedRoute = r.id; ui.routeChosen = true; renderRoutes(ui.state); renderMap(ui.state); });
      const path = el("span", "route-path", compactPath(r.path));
      path.dataset.field = "path"; path.title = r.path.join(" → ");
      td.append(b, path);
      const cap = el("td", "num", fmtRate(r.capacity_bps));
      const bott = el("span", "sub2", r.bottleneck ? "via " + r.bottleneck : "no bottleneck");
      bott.dataset.field = "bottleneck"; bott.title = "bottleneck link: " + (r.bottleneck || "none");
      cap.append(bott);
      const st = el("td"); st.dataset.field = "status"; st.append(routeStatus(r.status));
      tr.append(td, el("td", "num", String(r.hops)), cap, st);
      return tr;
    });
    replaceChildren($("routes-body"), rows);
  }

  function renderKmes(s) {
    if (!changed("kmes", [s.kmes, s.tenants])) return;
    const rows = (s.kmes || []).map((k) => {
      const tr = el("tr");
      tr.setAttribute("data-testid", "kme-row");
      tr.dataset.node = k.node;
      const stock = el("td", "stock");
      const items = (k.stock || []).slice(0, 2).map((p) => p.pair + " " + fmtBits(p.bits));
      stock.textContent = items.join(", ") + ((k.stock || []).length > 2 ? " +" + (k.stock.length - 2) : "") || "–";
      stock.title = (k.stock || []).map((p) => p.pair + ": " + fmtBits(p.bits)).join("\n");
      const up = el("td"); up.append(badge(k.up ? "UP" : "DOWN", k.up ? "b-ok" : "b-bad"));
      const audit = el("td"); audit.append(badge(k.audit_ok ? "CHAIN OK" : "BROKEN", k.audit_ok ? "b-ok" : "b-bad"));
      const name = el("td", "kme", k.node); name.title = k.node + " · " + k.url;
      tr.append(name, up, el("td", "num", fmtInt(k.keys_served)), el("td", "num", fmtInt(k.errors)), stock, audit);
      return tr;
    });
    replaceChildren($("kmes-body"), rows);
    const sel = $("node-select"), keep = sel.value;
    const ids = (s.kmes || []).map((k) => k.node);
    if (ids.join("|") !== sel.dataset.keys) {
      replaceChildren(sel, ids.map((id) => { const o = el("option", null, id); o.value = id; return o; }));
      sel.dataset.keys = ids.join("|");
      if (keep && ids.includes(keep)) sel.value = keep;
    }
    const trows = (s.tenants || []).map((t) => {
      const frac = t.quota_bits > 0 ? t.used_bits / t.quota_bits : 0;
      const m = el("span", "meter"); const f = el("span"); f.style.width = Math.min(100, 100 * frac) + "%";
      if (frac > 0.9) f.style.background = "#f87171";
      m.append(f);
      const tdm = el("td"); tdm.append(m, document.createTextNode(" " + fmtPct(frac, 0)));
      const tr = el("tr"); tr.setAttribute("data-testid", "tenant-row");
      tr.append(el("td", null, t.name), el("td", "num", fmtBits(t.used_bits) + " / " + fmtBits(t.quota_bits)), tdm);
      return tr;
    });
    replaceChildren($("tenants-body"), trows);
  }

  function renderApps(s) {
    const a = s.apps || {};
    const lat = a.customs_latency_ms || {};
    const ms = (v) => (v == null ? "–" : v.toFixed(0) + " ms");
    setText($("app-clearances"), a.clearances_per_min == null ? "–" : a.clearances_per_min.toFixed(1));
    setText($("app-latency"), ms(lat.p50) + " / " + ms(lat.p99));
    const m = a.messages_by_class || {};
    setText($("app-messages"), fmtInt(m.otp) + " / " + fmtInt(m.hybrid) + " / " + fmtInt(m.aes));
    setText($("app-otp-queued"), fmtInt(a.otp_queued));
    setText($("app-rejected"), fmtInt(a.rejected) + " / " + fmtInt(a.dead_lettered));
    const led = a.ledger || {};
    replaceChildren($("app-ledger"), [document.createTextNode(fmtInt(led.height) + " "),
      badge(led.verified ? "VERIFIED" : "UNVERIFIED", led.verified ? "b-ok" : "b-bad")]);
    const b = a.budget || {};
    const short = (b.supply_bps || 0) < (b.demand_bps || 0);
    const ratio = b.demand_bps > 0 ? (b.supply_bps / b.demand_bps).toFixed(1) + "×" : "–";
    setText($("app-budget"), "Key budget: routes supply " + fmtRate(b.supply_bps) + (short ? " < " : " ≥ ") +
      "demand " + fmtRate(b.demand_bps) + " (" + ratio + (short ? ", SHORT" : "") + ")");
    const bar = $("budget-demand");
    bar.style.width = (b.supply_bps > 0 ? Math.min(100, (100 * b.demand_bps) / b.supply_bps) : 100) + "%";
    bar.parentElement.dataset.short = String(short);
  }

  function renderSatellite(s) {
    const sat = s.satellite || {};
    setText($("sat-name"), sat.name || "");
    setText($("sat-pos"), sat.lat == null ? "position unknown" :
      "over " + sat.lat.toFixed(1) + "°, " + sat.lon.toFixed(1) + "° at " + (sat.alt_km || 0).toFixed(0) + " km");
    const labels = new Map(s.nodes.map((n) => [n.id, n.label]));
    const next = new Map();
    for (const p of (sat.next_passes || []).slice().sort((x, y) => x.countdown_s - y.countdown_s)) {
      if (!next.has(p.station)) next.set(p.station, p);
    }
    if (!changed("passes", Array.from(next.values()).map((p) => [p.station, p.aos_utc, fmtCountdown(p.countdown_s), p.max_elevation_deg]))) return;
    const rows = Array.from(next.values()).map((p) => {
      const tr = el("tr"); tr.setAttribute("data-testid", "pass-row"); tr.dataset.station = p.station;
      const cd = el("td", "num", fmtCountdown(p.countdown_s)); cd.dataset.field = "countdown";
      const name = (labels.get(p.station) || p.station).replace(/ ground station/i, "");
      const aos = el("td", null, fmtUtc(p.aos_utc).replace(" UTC", "").slice(11, 16)); aos.title = fmtUtc(p.aos_utc);
      tr.append(el("td", null, name), aos, cd,
        el("td", "num", p.max_elevation_deg == null ? "–" : p.max_elevation_deg.toFixed(0) + "°"));
      return tr;
    });
    if (!rows.length) { const tr = el("tr"); const td = el("td", "muted", "no pass predicted"); td.colSpan = 4; tr.append(td); rows.push(tr); }
    replaceChildren($("passes-body"), rows);
  }

  function alarmKey(a) { return a.t_sim + "|" + a.link + "|" + a.kind; }
  function alarmText(a) { return "t=" + Number(a.t_sim).toFixed(0) + " s · " + (ALARM_TEXT[a.kind] || a.kind) + " on " + a.link + ": " + a.message; }
  function announce(a) {
    const k = alarmKey(a);
    if (ui.seenAlarms.has(k)) return;
    ui.seenAlarms.add(k);
    const live = $("alarm-live");
    live.dataset.state = "alarm";
    live.dataset.link = a.link;
    live.textContent = "ALARM " + alarmText(a);
    live.title = live.textContent;
  }
  function renderLog(s) {
    if (!changed("log", [s.alarms, s.actions])) return;
    const alarms = (s.alarms || []).slice(-20).reverse();
    replaceChildren($("alarm-list"), alarms.length ? alarms.map((a) => {
      const li = el("li", null, alarmText(a)); li.dataset.link = a.link; li.dataset.kind = a.kind; return li;
    }) : [el("li", "muted", "no alarm so far")]);
    const acts = (s.actions || []).slice(-8).reverse();
    replaceChildren($("action-list"), acts.map((a) => el("li", null, "t=" + Number(a.t_sim).toFixed(0) + " s · " + a.action + " " + JSON.stringify(a.args))));
    // alarms the feed's `alarm` events may have missed (a reconnect, the first state)
    for (const a of s.alarms || []) announce(a);
  }

  /* ---------- one state ---------- */
  function render(s, recvMs) {
    const t0 = performance.now();
    ui.state = s;
    setText($("sim-utc"), fmtUtc(s.sim_utc));
    setText($("t-sim"), s.t_sim.toFixed(1) + " s");
    setText($("speed"), s.speed + "×" + (s.running ? "" : " (stopped)"));
    renderLinks(s);
    renderRoutes(s);
    renderKmes(s);
    renderApps(s);
    renderSatellite(s);
    renderLog(s);
    const tables = performance.now();
    renderMap(s);
    const dom = performance.now();
    const emitted = s.emitted_unix_ms;
    const rec = { seq: s.events_seq, recv_ms: recvMs, dom_ms: emitted ? Date.now() - emitted : null,
      render_ms: dom - t0, tables_ms: tables - t0, map_ms: dom - tables, paint_ms: null };
    window.__quaykey.renders += 1;
    window.__quaykey.latency.push(rec);
    if (window.__quaykey.latency.length > 5000) window.__quaykey.latency.shift();
    // rendered: the next frame (where the charts draw too) has run and a task after it, so
    // that frame's paint is done
    requestAnimationFrame(() => setTimeout(() => {
      rec.paint_ms = emitted ? Date.now() - emitted : null;
      setText($("render-stats"), "update " + (rec.paint_ms == null ? "–" : rec.paint_ms.toFixed(0) + " ms") + " after the server sent it · state #" + s.events_seq);
    }, 0));
  }

  /* ---------- operator actions ---------- */
  function readToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    ui.token = sessionStorage.getItem(TOKEN_KEY);
    setTokenState(ui.token ? "ok" : "none");
  }
  function setTokenState(state) {
    const p = $("token-status");
    p.dataset.state = state;
    const msg = {
      ok: "Operator token loaded: actions are enabled and audited.",
      none: "Actions disabled: no operator token. Open the address printed by quaykey up (it ends in #token=…).",
      refused: "Actions disabled: the server refused the operator token. Open the address quaykey up printed.",
    }[state];
    p.textContent = msg;
    for (const b of document.querySelectorAll("button.op")) {
      b.disabled = state !== "ok";
      if (state !== "ok") b.title = msg; else b.removeAttribute("title");
    }
  }
  function actionBody(action) {
    if (action === "kill-kme" || action === "restart-kme") return { node: $("node-select").value };
    if (action === "policy") return { message_type: $("policy-type").value.trim(), protection: $("policy-protection").value };
    const body = { link: $("link-select").value };
    if (action === "eavesdrop") body.fraction = Number($("eve-fraction").value);
    return body;
  }
  async function act(action) {
    const out = $("action-result");
    const body = actionBody(action);
    out.dataset.state = "pending";
    out.textContent = action + " " + JSON.stringify(body) + " sent…";
    try {
      const r = await fetch("/api/actions/" + encodeURIComponent(action), {
        method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + ui.token },
        body: JSON.stringify(body) });
      const data = await r.json().catch(() => ({}));
      if (r.status === 401) { sessionStorage.removeItem(TOKEN_KEY); ui.token = null; setTokenState("refused"); }
      if (!r.ok) throw new Error((r.status + " " + (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || data))).trim());
      out.dataset.state = "ok";
      out.textContent = "Done: " + action + " " + JSON.stringify(body) + (data.t_sim != null ? " at t=" + Number(data.t_sim).toFixed(1) + " s" : "");
    } catch (e) {
      out.dataset.state = "error";
      out.textContent = "Refused: " + action + ": " + e.message;
    }
  }

  /* ---------- feed ---------- */
  function connect() {
    const conn = $("conn");
    const es = new EventSource("/api/events");
    es.onopen = () => { conn.dataset.state = "live"; conn.textContent = "live"; };
    es.onerror = () => { conn.dataset.state = "down"; conn.textContent = "reconnecting…"; };
    es.addEventListener("state", (e) => {
      const s = JSON.parse(e.data);
      // transport and parse only: the baseline the benchmark compares rendering against
      render(s, s.emitted_unix_ms ? Date.now() - s.emitted_unix_ms : null);
    });
    es.addEventListener("alarm", (e) => announce(JSON.parse(e.data)));
  }

  function start() {
    readToken();
    for (const b of document.querySelectorAll("button.op")) b.addEventListener("click", () => act(b.dataset.action));
    $("link-select").addEventListener("change", (e) => selectLink(e.target.value));
    for (const r of document.querySelectorAll('input[name="colour-by"]')) {
      r.addEventListener("change", () => { ui.colourBy = r.value; renderLegend(); if (ui.state) renderMap(ui.state); });
    }
    renderLegend();
    initMap().catch((e) => { $("map").textContent = "map unavailable: " + e.message; });
    fetch("/api/state").then((r) => r.json()).then((s) => { if (!ui.state) render(s, null); }).catch(() => {});
    connect();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
