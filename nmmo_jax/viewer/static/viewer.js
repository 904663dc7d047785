// nmmo-jax viewer page: draws frames served by nmmo_jax/viewer/server.py on a canvas.
//
// Replay mode fetches frames over HTTP (/api/frame/<i>) as it plays or scrubs;
// live mode also receives every new frame over the WebSocket /ws and follows
// the newest one while playing. Overlays are fetched as float32 maps
// (/api/overlay/<name>/<i>) and coloured here with the same ramp as
// nmmo_jax/render/frames.py (meta.colormap). The entity panel lists every
// recorded entity field, whatever the world records, so new fields need no
// change here. window.viewer exposes the state for tests and the console.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const V = (window.viewer = {
    ready: false, index: -1, tick: null, selected: null, overlay: null, live: false, playing: false,
    framesReceived: 0, draws: 0, overlayStats: null, error: null,
  });
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const frames = new Map(); // index -> frame (tiles decoded)
  const pending = new Map(); // index -> Promise<frame|null>
  const overlayCache = new Map(); // key -> Float32Array
  const CACHE_FRAMES = 600;
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
    updatePanel();
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
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(4);
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  function updatePanel() {
    const panel = $("panel");
    const s = V.selected;
    if (s === null || !current) { panel.innerHTML = '<p class="dim">Click an entity to follow it.</p>'; return; }
    const e = current.entities;
    const kind = e.kind[s];
    const rows = [];
    const add = (field, label, value) => rows.push(`<tr data-field="${field}"><td>${label}</td><td>${fmt(value)}</td></tr>`);
    add("slot", "slot", s);
    add("alive", "alive", !!e.alive[s]);
    for (const name of Object.keys(e).sort()) {
      if (name === "alive") continue;
      const v = e[name][s];
      if (Array.isArray(v)) {
        if (name === "pos") { add("pos", "position (row, col)", v.join(", ")); continue; }
        const labels = v.length === meta.skill_names.length ? meta.skill_names : v.map((_, k) => String(k));
        v.forEach((x, k) => add(`${name}.${labels[k]}`, `${name} ${labels[k]}`, x));
      } else if (name === "kind") {
        add("kind", "kind", `${meta.kinds[v] || v} (${v})`);
      } else {
        add(name, name.replace(/_/g, " "), v);
      }
    }
    if (s < meta.num_agents) {
      for (const name of Object.keys(current.agent).sort()) add(`agent.${name}`, `policy ${name}`, current.agent[name][s]);
    }
    const title = `${kind === 0 ? "Agent" : meta.kinds[kind] || "Entity"} #${s}` + (e.alive[s] ? "" : " (dead)");
    panel.innerHTML = `<h3 style="color:${rgb(entityColour(e, s))}">${title}</h3><table>${rows.join("")}</table>`;
  }

  function drawLegend() {
    const parts = [];
    meta.kinds.forEach((k, i) => {
      const c = i === 0 ? meta.team_colours[0] : meta.kind_colours[i];
      parts.push(`<div><span class="swatch" style="background:${rgb(c)}"></span>${k}${i === 0 ? " (team 0; teams differ)" : ""}</div>`);
    });
    if (V.overlay) {
      const o = overlayInfo(V.overlay), st = V.overlayStats;
      const range = st && st.finite ? ` ${fmt(st.min)} … ${fmt(st.max)}` : " (nothing to show" + (o.kind === "agent" ? ": select an agent)" : ")");
      parts.push(`<div id="overlay-legend"><b>${o.name}</b>: ${o.description}.${range}</div>`);
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
      V.framesReceived++;
      last = Math.max(last, f.index);
      first = Math.max(first, last - (meta.history || CACHE_FRAMES) + 1);
      $("scrub").min = first;
      $("scrub").max = last;
      if (V.playing && followLive) showIndex(last);
      else $("frameinfo").textContent = `frame ${V.index} of ${first}..${last}`;
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
