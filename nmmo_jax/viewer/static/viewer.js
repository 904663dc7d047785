// nmmo-jax viewer page: draws frames served by nmmo_jax/viewer/server.py on a canvas.
//
// Replay mode fetches frames over HTTP (/api/frame/<i>) as it plays or scrubs;
// live mode also receives every new frame over the WebSocket /ws and follows
// the newest one while playing. Overlays are fetched as float32 maps
// (/api/overlay/<name>/<i>) and coloured here with the same ramp as
// nmmo_jax/render/frames.py (meta.colormap), shown with that ramp and its range
// in the legend. Names come from the server (meta.items is nmmo_jax/items.py's
// table, meta.materials the tiles'), so no rule is written twice here.
//
// The side column reads like a game client: the followed entity's panel
// (vitals, its task in a world with tasks, status, skills, equipment,
// inventory, its market listings, the policy's outputs, then any recorded
// field not placed in a group, so fields
// the world gains later still show), the market (offers and recent sales, as
// the server summarised them), a chart of the world's history (/api/series,
// plus each live frame's "stats" point) and the legend. Sentinels never
// reach the reader: NEVER ticks, attacker -1 and silent tokens read as words.
// A player's task (meta.tasks: the recording's curriculum table, names and
// descriptions from nmmo_jax/tasks; frame.tasks: each player's row, best
// progress and the counters the tasks read) shows as its name, description,
// a progress bar and the counts of its "count" parts.
// window.viewer exposes the state for tests and the console.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const V = (window.viewer = {
    ready: false, index: -1, tick: null, selected: null, overlay: null, live: false, playing: false,
    framesReceived: 0, draws: 0, overlayStats: null, error: null, chart: null,
  });
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const frames = new Map(); // index -> frame (tiles decoded)
  const pending = new Map(); // index -> Promise<frame|null>
  const overlayCache = new Map(); // key -> Float32Array
  const points = new Map(); // index -> chart point {index, episode, tick, population, ...}
  const CACHE_FRAMES = 600, MAX_POINTS = 20000;
  let seriesNames = [];
  let meta = null, first = 0, last = -1, current = null;
  let zoom = 8, panX = 0, panY = 0, followCam = false, followLive = true;
  let want = -1, acc = 0, lastTime = performance.now();
  let tilesCanvas = null, tilesFor = null, overlayCanvas = null, overlayKeyDrawn = null, overlayData = null;
  let socket = null;

  const status = (text) => { $("status").textContent = text || ""; };
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

  // ------------------------------------------------------------------ data
  function decodeFrame(f) {
    const bin = atob(f.tiles);
    const tiles = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) tiles[i] = bin.charCodeAt(i);
    f.tileBytes = tiles;
    return f;
  }

  function remember(f) {
    frames.set(f.index, f);
    if (frames.size > CACHE_FRAMES) {
      for (const k of frames.keys()) { // drop the frame farthest from what is shown
        if (frames.size <= CACHE_FRAMES) break;
        if (Math.abs(k - V.index) > CACHE_FRAMES / 2) frames.delete(k);
      }
    }
  }

  function fetchFrame(i) {
    if (frames.has(i)) return Promise.resolve(frames.get(i));
    if (pending.has(i)) return pending.get(i);
    const p = fetch(`/api/frame/${i}`)
      .then((r) => (r.ok ? r.json() : null))
      .then((f) => { pending.delete(i); if (f) { decodeFrame(f); remember(f); } return f; })
      .catch(() => { pending.delete(i); return null; });
    pending.set(i, p);
    return p;
  }

  function overlayInfo(name) { return meta.overlays.find((o) => o.name === name); }

  // Cache key of the overlay picture for the shown frame: static overlays are one per world
  // (a live viewer starts a new world after each episode), the others one per frame (and agent).
  function overlayKey() {
    const name = V.overlay;
    if (!name || !current) return null;
    const o = overlayInfo(name);
    if (o.kind === "static") return `${name}/world${current.episode}`;
    if (o.kind === "agent") return V.selected !== null && V.selected < meta.num_agents ? `${name}/${current.index}/${V.selected}` : null;
    return `${name}/${current.index}`;
  }

  async function loadOverlay(key) {
    if (overlayCache.has(key)) return overlayCache.get(key);
    const agent = V.overlay && overlayInfo(V.overlay).kind === "agent" ? V.selected : null;
    const url = `/api/overlay/${V.overlay}/${current.index}` + (agent !== null ? `?agent=${agent}` : "");
    const r = await fetch(url);
    if (!r.ok) return null;
    const data = new Float32Array(await r.arrayBuffer());
    overlayCache.set(key, data);
    if (overlayCache.size > 64) overlayCache.delete(overlayCache.keys().next().value);
    return data;
  }

  // --------------------------------------------------------------- showing
  async function showIndex(i) {
    i = Math.max(first, Math.min(last, i));
    want = i;
    const f = await fetchFrame(i);
    if (!f || want !== i) return;
    current = f;
    V.index = i;
    V.tick = f.tick;
    $("tick").textContent = f.tick;
    $("scrub").value = i;
    $("frameinfo").textContent = `frame ${i} of ${first}..${last}` + (V.live ? `, world ${f.episode}` : "");
    await refreshOverlay();
    if (want !== i) return;
    if (f.stats) addPoint(f.stats);
    updatePanel();
    updateMarket();
    drawChart();
    draw();
    if (!V.live) for (let k = 1; k <= 4; k++) if (i + k <= last) fetchFrame(i + k); // prefetch
  }

  async function refreshOverlay() {
    const key = overlayKey();
    if (key === null) { overlayData = null; overlayKeyDrawn = null; V.overlayStats = null; drawLegend(); return; }
    if (key === overlayKeyDrawn) return;
    const data = await loadOverlay(key);
    if (key !== overlayKey()) return;
    overlayData = data;
    buildOverlayCanvas(data);
    overlayKeyDrawn = key;
    drawLegend();
  }

  function buildOverlayCanvas(data) {
    const w = meta.width, h = meta.height;
    overlayCanvas = overlayCanvas || document.createElement("canvas");
    overlayCanvas.width = w; overlayCanvas.height = h;
    const octx = overlayCanvas.getContext("2d");
    const img = octx.createImageData(w, h);
    let lo = Infinity, hi = -Infinity, n = 0;
    for (const v of data) if (Number.isFinite(v)) { n++; if (v < lo) lo = v; if (v > hi) hi = v; }
    const cmap = meta.colormap, m = cmap.length - 1, alpha = Math.round(meta.overlay_alpha * 255);
    for (let k = 0; k < data.length; k++) {
      const v = data[k];
      if (!Number.isFinite(v)) continue;
      const x = hi > lo ? (v - lo) / (hi - lo) : 1;
      const pos = x * m, j = Math.min(Math.floor(pos), m - 1), f = pos - j;
      for (let ch = 0; ch < 3; ch++) img.data[4 * k + ch] = Math.round(cmap[j][ch] * (1 - f) + cmap[j + 1][ch] * f);
      img.data[4 * k + 3] = alpha;
    }
    octx.putImageData(img, 0, 0);
    V.overlayStats = { name: V.overlay, finite: n, min: n ? lo : null, max: n ? hi : null };
  }

  function buildTilesCanvas(f) {
    const w = meta.width, h = meta.height;
    tilesCanvas = tilesCanvas || document.createElement("canvas");
    tilesCanvas.width = w; tilesCanvas.height = h;
    const tctx = tilesCanvas.getContext("2d");
    const img = tctx.createImageData(w, h);
    const pal = meta.palette;
    for (let k = 0; k < w * h; k++) {
      const c = pal[f.tileBytes[k]] || [255, 0, 255];
      img.data[4 * k] = c[0]; img.data[4 * k + 1] = c[1]; img.data[4 * k + 2] = c[2]; img.data[4 * k + 3] = 255;
    }
    tctx.putImageData(img, 0, 0);
    tilesFor = f;
  }

  function entityColour(e, slot) {
    const kind = e.kind[slot];
    if (kind === 0) return meta.team_colours[((e.team[slot] % meta.team_colours.length) + meta.team_colours.length) % meta.team_colours.length];
    return meta.kind_colours[Math.max(0, Math.min(meta.kind_colours.length - 1, kind))];
  }

  function draw() {
    if (!current) return;
    const e = current.entities;
    if (followCam && V.selected !== null && e.alive[V.selected]) {
      const [r, c] = e.pos[V.selected];
      panX = canvas.width / 2 - (c + 0.5) * zoom;
      panY = canvas.height / 2 - (r + 0.5) * zoom;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0e0e16";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(zoom, 0, 0, zoom, panX, panY);
    ctx.imageSmoothingEnabled = false;
    if (tilesFor !== current) buildTilesCanvas(current);
    ctx.drawImage(tilesCanvas, 0, 0);
    const m = zoom >= 4 ? 1 / zoom : 0, bar = Math.max(1 / zoom, 0.12);
    for (let s = 0; s < e.alive.length; s++) { // slot order: higher slots draw on top, as in render_frame
      if (!e.alive[s]) continue;
      const [r, c] = e.pos[s];
      ctx.fillStyle = rgb(meta.outline);
      ctx.fillRect(c, r, 1, 1);
      ctx.fillStyle = rgb(entityColour(e, s));
      ctx.fillRect(c + m, r + m, 1 - 2 * m, 1 - 2 * m);
      const frac = Math.max(0, Math.min(1, (e.health[s] || 0) / meta.max_health));
      ctx.fillStyle = rgb(meta.health_lost);
      ctx.fillRect(c + m, r + 1 - m - bar, 1 - 2 * m, bar);
      ctx.fillStyle = rgb(meta.health_ok);
      ctx.fillRect(c + m, r + 1 - m - bar, (1 - 2 * m) * frac, bar);
    }
    if (overlayData && overlayCanvas) ctx.drawImage(overlayCanvas, 0, 0);
    if (V.selected !== null && e.alive[V.selected]) {
      const [r, c] = e.pos[V.selected];
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2 / zoom;
      ctx.strokeRect(c - 0.25, r - 0.25, 1.5, 1.5);
    }
    V.draws++;
  }

  // ----------------------------------------------------------------- panel
  const esc = (x) => String(x).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);

  function fmt(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "number") {
      if (meta && v === meta.never) return "—"; // a tick that never comes
      return Number.isInteger(v) ? String(v) : v.toFixed(4);
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  // Every shown value sits in an element with class "v" inside the element that names its field (data-field).
  const row = (field, label, value) => `<tr data-field="${esc(field)}"><td>${esc(label)}</td><td class="v">${esc(value)}</td></tr>`;
  const pair = (field, label, value) => `<span class="pair" data-field="${esc(field)}"><span class="dim">${esc(label)}</span> <b class="v">${esc(value)}</b></span>`;
  const table = (rows, head) => `<table>${head ? `<tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>` : ""}${rows.join("")}</table>`;
  const group = (name, title, body) => `<section class="group" data-group="${name}"><h4>${title}</h4>${body}</section>`;

  function vitalBar(field, label, value, max, colour) {
    const frac = Math.max(0, Math.min(1, value / Math.max(max, 1)));
    return `<tr data-field="${field}"><td>${label}</td><td><div class="bar"><div style="width:${(100 * frac).toFixed(1)}%;background:${colour}"></div></div>` +
      `<span class="num v">${value} / ${max}</span></td></tr>`;
  }

  function entityName(slot) {
    const e = current.entities, kind = e.kind[slot];
    return `${kind === 0 ? "agent" : meta.kinds[kind] || "entity"} #${slot}`;
  }

  const itemName = (t) => (meta.items && meta.items.names[t]) || `item ${t}`;
  const itemLabel = (t, level, qty) => `${itemName(t)} L${level}` + (qty > 1 ? ` ×${qty}` : "");

  // The followed player's inventory slots: [{k, item, level, quantity, equipped, price, listed_tick}] (occupied only).
  function inventoryOf(s) {
    const inv = current.inventory;
    if (!inv || s >= meta.num_agents) return [];
    const out = [];
    inv.item[s].forEach((t, k) => {
      if (t > 0) out.push({ k, item: t, level: inv.level[s][k], quantity: inv.quantity[s][k], equipped: !!inv.equipped[s][k],
        price: inv.price[s][k], listed_tick: inv.listed_tick[s][k] });
    });
    return out;
  }

  const SHOWN = new Set(["pos", "alive", "kind", "team", "health", "food", "water", "time_alive", "respawn_tick", "freeze",
    "combat_timer", "gold", "levels", "xp", "equipment_level", "npc_style", "npc_offense", "npc_defense", "attacker", "said"]);
  const STYLES = ["none", "melee", "range", "mage"];

  // The followed player's task (null in a world without tasks): name, description, best progress, counters read.
  function taskGroup(s) {
    const ft = current.tasks;
    if (!meta.tasks || !ft || s >= ft.task.length) return null;
    const task = meta.tasks.tasks[ft.task[s]];
    if (!task) return null;
    const best = Math.max(0, Math.min(1, ft.best[s] || 0)), pct = Math.floor(100 * best + 1e-6);
    const rows = [`<tr data-field="task.progress"><td>progress</td><td><div class="bar task"><div style="width:${(100 * best).toFixed(1)}%"></div></div>` +
      `<span class="num v">${pct}%${best >= 1 ? " done" : ""}</span></td></tr>`];
    for (const part of task.parts) {
      if (part.counter && ft.counters[part.counter])
        rows.push(row(`task.counter.${part.counter}`, part.counter.replace(/_/g, " "), `${ft.counters[part.counter][s]} / ${part.target}`));
    }
    // the description is Curriculum.describe()'s line: the parts, then (p = chance to draw it, reward[, ends])
    return group("task", `Task <span class="keep" data-task="${esc(task.name)}">${esc(task.name)}</span>`,
      `<p data-field="task.description"><span class="v">${esc(task.description)}</span></p>${table(rows)}`);
  }

  function playerGroups(s) {
    const e = current.entities, out = [];
    out.push(group("vitals", "Vitals", table([
      vitalBar("health", "health", e.health[s], meta.max_health, "#3fbf3f"),
      vitalBar("food", "food", e.food[s], meta.max_food, "#d9a441"),
      vitalBar("water", "water", e.water[s], meta.max_water, "#4b8fe0"),
    ])));
    const task = taskGroup(s);
    if (task) out.push(task);
    out.push(group("status", "Status", table(statusRows(s))));
    if (e.levels) out.push(group("skills", "Skills", `<div class="cols">${meta.skill_names.map((name, k) =>
      `<div data-field="skill.${name}"><span class="dim">${name}</span> <b class="v">${e.levels[s][k]}</b>` +
      (e.xp ? ` <span class="xp dim">${e.xp[s][k]} xp</span>` : "") + "</div>").join("")}</div>`));
    if (meta.economy) {
      const items = inventoryOf(s);
      const names = meta.items.equip_slot_names;
      const level = e.equipment_level ? ` <span class="dim">level ${e.equipment_level[s]}</span>` : "";
      out.push(group("equipment", `Equipment${level}`, table(names.map((slotName, k) => {
        const it = items.find((x) => x.equipped && meta.items.equip_slot[x.item] === k);
        return row(`equip.${slotName}`, slotName, it ? itemLabel(it.item, it.level, it.quantity) : "—");
      }))));
      const free = current.inventory ? current.inventory.item[s].length - items.length : 0;
      const invRows = items.map((x) => `<tr data-inv="${x.k}"><td>${itemName(x.item)}</td><td>L${x.level}</td>` +
        `<td>×${x.quantity}</td><td class="dim">${x.equipped ? "equipped" : x.price > 0 ? `listed ${x.price}g` : ""}</td></tr>`);
      out.push(group("inventory", `Inventory <span class="dim">${items.length} items, ${free} slots free</span>`,
        items.length ? table(invRows, ["item", "level", "qty", ""]) : '<p class="dim">empty</p>'));
      const listed = items.filter((x) => x.price > 0);
      out.push(group("listings", "Market listings", listed.length ? table(listed.map((x) =>
        `<tr data-listing="${x.k}"><td>${itemLabel(x.item, x.level, x.quantity)}</td><td>${x.price}g</td>` +
        `<td class="dim">to tick ${x.listed_tick + meta.items.listing_ticks}</td></tr>`), ["item", "price", "buyable"]) :
        '<p class="dim">none</p>'));
    }
    const heads = Object.keys(current.agent).filter((n) => n.startsWith("action/")).sort();
    const policy = [];
    if ("value" in current.agent) policy.push(pair("agent.value", "value", fmt(current.agent.value[s])));
    for (const n of heads) policy.push(pair(`agent.${n}`, n.slice(7).replace(/_/g, " "), fmt(current.agent[n][s])));
    if (policy.length) out.push(group("policy", "Policy <span class=\"dim\">value, actions about to be taken</span>", `<div class="pairs">${policy.join(" ")}</div>`));
    return out;
  }

  // Rows of the fields this replay recorded (an older replay may lack some): each as what it means.
  function statusRows(s) {
    const e = current.entities, rows = [];
    const add = (name, label, text) => { if (name in e) rows.push(row(name, label, text(e[name][s]))); };
    const ticksLeft = (v) => (v > 0 ? `${v} ticks left` : "no");
    const back = "respawn_tick" in e ? e.respawn_tick[s] : meta.never;
    rows.push(row("alive", "state", e.alive[s] ? "alive" : back === meta.never ? "dead" : `dead, back at tick ${back}`));
    rows.push(row("pos", "position (row, col)", e.pos[s].join(", ")));
    if (e.kind[s] === 0) add("team", "team", (v) => v);
    add("time_alive", "ticks alive", (v) => v);
    add("gold", "gold", (v) => v);
    add("combat_timer", "in combat", ticksLeft);
    add("freeze", "frozen", ticksLeft);
    add("attacker", "last attacker", (v) => (v >= 0 ? entityName(v) : "—"));
    if (meta.comm_tokens > 0 && e.kind[s] === 0) add("said", "said last tick", (v) => (v > 0 ? `token ${v}` : "silent"));
    return rows;
  }

  function npcGroups(s) {
    const e = current.entities, rows = [];
    const add = (name, label, text) => { if (name in e) rows.push(row(name, label, text(e[name][s]))); };
    add("levels", "level", (v) => Math.max(...v));
    add("npc_style", "style", (v) => STYLES[v] || v);
    add("npc_offense", "offense", (v) => v);
    add("npc_defense", "defense", (v) => v);
    return [
      group("vitals", "Vitals", table([vitalBar("health", "health", e.health[s], meta.max_health, "#3fbf3f")])),
      group("status", "Status", table(statusRows(s))),
      group("combat", "Combat", table(rows)),
    ];
  }

  // Recorded entity fields no group shows (a field the world gained after this page was written).
  function otherRows(s) {
    const e = current.entities, rows = [];
    for (const name of Object.keys(e).sort()) {
      if (SHOWN.has(name)) continue;
      const v = e[name][s];
      if (Array.isArray(v)) v.forEach((x, k) => rows.push(row(`${name}.${k}`, `${name} ${k}`, fmt(x))));
      else rows.push(row(name, name.replace(/_/g, " "), fmt(v)));
    }
    return rows;
  }

  function updatePanel() {
    const panel = $("panel");
    const s = V.selected;
    if (s === null || !current) { panel.innerHTML = '<p class="dim">Click an entity to follow it.</p>'; return; }
    const e = current.entities;
    const groups = e.kind[s] === 0 && s < meta.num_agents ? playerGroups(s) : npcGroups(s);
    const other = otherRows(s);
    if (other.length) groups.push(group("other", "Other fields", table(other)));
    const name = entityName(s);
    const title = name[0].toUpperCase() + name.slice(1) + (e.alive[s] ? "" : " (dead)");
    panel.innerHTML = `<h3 data-slot="${s}" style="color:${rgb(entityColour(e, s))}">${title}</h3>${groups.join("")}`;
  }

  // ---------------------------------------------------------------- market
  function updateMarket() {
    const box = $("market");
    box.hidden = !meta.economy;
    if (!meta.economy || !current || !current.market) return;
    const m = current.market;
    const offers = m.offers.map((o) => `<tr data-offer="${o.item}-${o.level}"><td>${itemName(o.item)}</td><td>L${o.level}</td>` +
      `<td>${o.price}g</td><td>${o.listings}</td><td>${o.units}</td></tr>`);
    const sales = m.recent.slice(0, 20).map((x) => `<tr data-sale="${x.tick}-${x.item}-${x.level}"><td>${x.tick}</td><td>${itemName(x.item)}</td>` +
      `<td>L${x.level}</td><td>${x.sold}</td><td>${x.gold}g</td></tr>`);
    box.innerHTML = `<h3>Market <span class="dim">tick ${current.tick}</span></h3>` +
      group("offers", "Offers", offers.length ? table(offers, ["item", "level", "price", "listed", "units"]) : '<p class="dim">no offers</p>') +
      group("sales", `Sales <span class="dim">last ${m.recent_frames} ticks</span>`,
        sales.length ? table(sales, ["tick", "item", "level", "sold", "gold"]) : '<p class="dim">none</p>');
  }

  // ----------------------------------------------------------------- chart
  const SERIES_COLOURS = { population: "#6fcf5f", mean_lifetime: "#f0c040", kills: "#ff6b6b", trades: "#5fb8ff" };

  function addPoint(p) {
    points.set(p.index, p);
    if (points.size > MAX_POINTS) points.delete(points.keys().next().value);
  }

  async function loadSeries() {
    try {
      const r = await fetch("/api/series");
      if (!r.ok) return;
      const data = await r.json();
      seriesNames = data.names;
      for (const p of data.points) addPoint(p);
    } catch (err) { /* the chart stays empty; the map still works */ }
  }

  // One small plot per series, stacked, over the frames of the shown world; a line marks the shown frame.
  function drawChart() {
    const c = $("chart"), g = c.getContext("2d");
    const episode = current ? current.episode : 0;
    const pts = [...points.values()].filter((p) => p.episode === episode).sort((a, b) => a.index - b.index);
    const names = seriesNames.length ? seriesNames : (pts.length ? Object.keys(pts[0]).filter((k) => k in SERIES_COLOURS) : []);
    const w = c.width, rowH = 48, top = 14;
    c.height = Math.max(1, names.length) * rowH;
    c.title = names.map((n) => `${n.replace(/_/g, " ")}: ${(meta.series.find((x) => x.name === n) || {}).description || ""}`).join("\n");
    g.fillStyle = "#15161c";
    g.fillRect(0, 0, w, c.height);
    const x0 = pts.length ? pts[0].index : 0;
    const x1 = V.live ? (pts.length ? pts[pts.length - 1].index : 0) : Math.max(last, x0);
    const xOf = (i) => 4 + ((w - 8) * (i - x0)) / Math.max(x1 - x0, 1);
    const info = {};
    names.forEach((name, r) => {
      const y0 = r * rowH, vals = pts.map((p) => p[name]).filter((v) => v !== null && v !== undefined);
      const hi = vals.length ? Math.max(...vals) : 0, lo = Math.min(0, ...vals);
      // whole pixels and a 2-pixel line: flat stretches draw crisp, in the series' own colour
      const yOf = (v) => Math.round(y0 + rowH - 4 - ((rowH - top - 6) * (v - lo)) / Math.max(hi - lo, 1e-9));
      g.strokeStyle = SERIES_COLOURS[name] || "#ddd";
      g.lineWidth = 2;
      g.beginPath();
      let pen = false;
      for (const p of pts) {
        const v = p[name];
        if (v === null || v === undefined) { pen = false; continue; }
        if (pen) g.lineTo(xOf(p.index), yOf(v)); else g.moveTo(xOf(p.index), yOf(v));
        pen = true;
      }
      g.stroke();
      const here = current && points.get(current.index);
      const v = here ? here[name] : null;
      info[name] = { points: vals.length, value: v === undefined ? null : v, max: vals.length ? hi : null };
      g.fillStyle = SERIES_COLOURS[name] || "#ddd";
      g.font = "11px system-ui, sans-serif";
      g.fillText(`${name.replace(/_/g, " ")}: ${v === null || v === undefined ? "—" : Number.isInteger(v) ? v : v.toFixed(1)}`, 4, y0 + 11);
      g.fillStyle = "#9a9cab";
      g.textAlign = "right";
      g.fillText(`max ${vals.length ? (Number.isInteger(hi) ? hi : hi.toFixed(1)) : "—"}`, w - 4, y0 + 11);
      g.textAlign = "left";
      g.strokeStyle = "#2a2c36";
      g.lineWidth = 1;
      g.beginPath(); g.moveTo(0, y0 + rowH - 0.5); g.lineTo(w, y0 + rowH - 0.5); g.stroke();
    });
    if (current && pts.length) {
      g.strokeStyle = "rgba(255,255,255,0.6)";
      g.beginPath(); g.moveTo(xOf(current.index) + 0.5, 0); g.lineTo(xOf(current.index) + 0.5, c.height); g.stroke();
    }
    V.chart = {
      names, points: pts.length, series: info, draws: V.chart ? V.chart.draws + 1 : 1,
      first: pts.length ? pts[0].index : null, last: pts.length ? pts[pts.length - 1].index : null,
      rowHeight: rowH, labelHeight: top, colours: names.map((n) => SERIES_COLOURS[n]),
    };
  }

  // ---------------------------------------------------------------- legend
  function drawLegend() {
    const kinds = meta.kinds.map((k, i) => {
      const c = i === 0 ? meta.team_colours[0] : meta.kind_colours[i];
      return `<div><span class="swatch" style="background:${rgb(c)}"></span>${k}${i === 0 ? " (team 0; teams differ)" : ""}</div>`;
    });
    const tiles = meta.materials.map((name, m) =>
      `<div data-material="${esc(name)}"><span class="swatch" style="background:${rgb(meta.palette[m])}"></span>${esc(name)}</div>`);
    const parts = [group("kinds", "Entities", `<div class="cols">${kinds.join("")}</div>`),
      group("tiles", "Tiles", `<div class="cols">${tiles.join("")}</div>`)];
    if (V.overlay) {
      const o = overlayInfo(V.overlay), st = V.overlayStats;
      const ramp = meta.colormap.map((c, k) => `${rgb(c)} ${((100 * k) / (meta.colormap.length - 1)).toFixed(0)}%`).join(", ");
      const scale = st && st.finite ? `<div class="ramp" style="background:linear-gradient(to right, ${ramp})"></div>` +
        `<div class="ramp-range"><span id="ov-min">${fmt(st.min)}</span><span id="ov-max">${fmt(st.max)}</span></div>`
        : `<p class="dim">nothing to show${o.kind === "agent" ? ": select an agent" : ""}</p>`;
      parts.push(`<section class="group" id="overlay-legend" data-group="overlay"><h4>Overlay <span class="keep">${esc(o.name)}</span></h4><p>${esc(o.description)}.</p>${scale}</section>`);
    }
    $("legend").innerHTML = parts.join("");
  }

  // ------------------------------------------------------------- controls
  function setPlaying(on) {
    V.playing = on;
    $("play").textContent = on ? "Pause" : "Play";
    $("play").classList.toggle("on", on);
    if (on && V.live) followLive = true;
    if (on && !V.live && V.index >= last) showIndex(first);
  }

  function buildOverlayButtons() {
    const box = $("overlays");
    for (const o of meta.overlays) {
      const b = document.createElement("button");
      b.type = "button";
      b.id = `ov-${o.name}`;
      b.textContent = o.name;
      b.title = o.description;
      b.addEventListener("click", async () => {
        V.overlay = V.overlay === o.name ? null : o.name;
        for (const other of box.querySelectorAll("button")) other.classList.toggle("on", other.id === `ov-${V.overlay}`);
        await refreshOverlay();
        draw();
      });
      box.appendChild(b);
    }
  }

  function fit() {
    canvas.width = canvas.clientWidth;
    canvas.height = canvas.clientHeight;
    if (!meta) return;
    // fit the playable square (the border is void or lava all round)
    const b = meta.border || 0, ph = meta.height - 2 * b, pw = meta.width - 2 * b;
    zoom = Math.max(1, 0.96 * Math.min(canvas.width / pw, canvas.height / ph));
    panX = (canvas.width - pw * zoom) / 2 - b * zoom;
    panY = (canvas.height - ph * zoom) / 2 - b * zoom;
  }

  function tileAt(x, y) { return [Math.floor((y - panY) / zoom), Math.floor((x - panX) / zoom)]; }

  V.tileToScreen = (r, c) => {
    const rect = canvas.getBoundingClientRect();
    return { x: rect.left + panX + (c + 0.5) * zoom, y: rect.top + panY + (r + 0.5) * zoom };
  };
  V.setZoom = (z) => { const cx = canvas.width / 2, cy = canvas.height / 2; panX = cx - (cx - panX) * z / zoom; panY = cy - (cy - panY) * z / zoom; zoom = z; draw(); };
  V.show = (i) => { setPlaying(false); followLive = false; return showIndex(i); };
  // Follow a slot as a click would (camera = false: leave the camera where it is).
  V.follow = async (slot, camera = true) => { V.selected = slot; followCam = camera && slot !== null; await refreshOverlay(); updatePanel(); draw(); };

  async function clickAt(x, y) {
    if (!current) return;
    const [r, c] = tileAt(x, y);
    const e = current.entities;
    let hit = null;
    for (let s = 0; s < e.alive.length; s++) if (e.alive[s] && e.pos[s][0] === r && e.pos[s][1] === c) hit = s;
    V.selected = hit;
    followCam = hit !== null;
    await refreshOverlay();
    updatePanel();
    draw();
  }

  let drag = null;
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, px: panX, py: panY, moved: false }; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; canvas.classList.add("dragging"); followCam = false; }
    if (drag.moved) { panX = drag.px + dx; panY = drag.py + dy; draw(); }
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    canvas.classList.remove("dragging");
    if (!d.moved) {
      const rect = canvas.getBoundingClientRect();
      clickAt(ev.clientX - rect.left, ev.clientY - rect.top);
    }
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const rect = canvas.getBoundingClientRect();
    const mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    const z = Math.max(1, Math.min(64, zoom * Math.pow(1.15, -ev.deltaY / 100)));
    panX = mx - ((mx - panX) * z) / zoom;
    panY = my - ((my - panY) * z) / zoom;
    zoom = z;
    draw();
  }, { passive: false });
  window.addEventListener("keydown", (ev) => { if (ev.code === "Space" && ev.target.tagName !== "INPUT") { ev.preventDefault(); setPlaying(!V.playing); } });
  window.addEventListener("resize", () => { const z = zoom; fit(); if (z) V.setZoom(z); draw(); });
  $("play").addEventListener("click", () => setPlaying(!V.playing));
  $("scrub").addEventListener("input", () => { setPlaying(false); followLive = false; showIndex(Number($("scrub").value)); });

  // ------------------------------------------------------------ live mode
  function connect() {
    socket = new WebSocket(`ws://${location.host}/ws`);
    socket.onopen = () => status("live: connected");
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type !== "frame") return;
      const f = decodeFrame(msg.frame);
      remember(f);
      if (f.stats) addPoint(f.stats);
      V.framesReceived++;
      last = Math.max(last, f.index);
      first = Math.max(first, last - (meta.history || CACHE_FRAMES) + 1);
      $("scrub").min = first;
      $("scrub").max = last;
      if (V.playing && followLive) showIndex(last);
      else { $("frameinfo").textContent = `frame ${V.index} of ${first}..${last}`; drawChart(); }
    };
    socket.onclose = () => { status("live: disconnected, retrying"); setTimeout(connect, 2000); };
  }

  function loop(now) {
    const dt = now - lastTime;
    lastTime = now;
    if (V.playing && !(V.live && followLive)) {
      acc += dt;
      const step = 1000 / Number($("speed").value);
      if (acc >= step) {
        acc = Math.min(acc - step, step);
        if (V.index < last) showIndex(V.index + 1);
        else if (!V.live) setPlaying(false);
      }
    }
    requestAnimationFrame(loop);
  }

  async function init() {
    try {
      meta = await (await fetch("/api/meta")).json();
    } catch (err) {
      V.error = String(err);
      status("cannot reach the viewer server");
      return;
    }
    V.meta = meta;
    V.live = meta.live;
    first = meta.first;
    last = meta.last;
    $("mode").textContent = meta.live ? "live" : "replay";
    $("mode").classList.toggle("live", meta.live);
    $("scrub").min = first;
    $("scrub").max = Math.max(last, first);
    buildOverlayButtons();
    drawLegend();
    fit();
    await loadSeries();
    if (meta.live) {
      connect();
      setPlaying(true);
      if (last < first) status("live: waiting for the first tick (compiling)");
    }
    if (last >= first) await showIndex(meta.live ? last : first);
    V.ready = true;
    requestAnimationFrame(loop);
  }

  init();
})();
