"""End to end in headless Chromium (Debian's ``chromium``, driven by Playwright): the page loads a replay,
plays, follows a clicked entity with the right values (grouped as a game client shows them, item names, no
raw sentinels), shows the market, the legend and the chart, toggles every overlay with its colour scale,
hides the economy of a world with items off, and receives live ticks.

Chromium is found by ``chromium.find_or_install``: ``NMMO_CHROMIUM``, the PATH, ``/usr/bin/chromium``, or
Debian's package installed on the spot (root or passwordless sudo), so the README's test command passes
on a fresh machine; otherwise these tests fail saying what to install. ``NMMO_SKIP_BROWSER=1`` skips them. ``playwright install`` is
never needed: Playwright drives the system Chromium.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request

import numpy as np
import pytest

from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.render import frames as F
from nmmo_jax.state import NEVER
from nmmo_jax.viewer import LiveSource, ReplaySource, ViewerServer
from nmmo_jax.viewer.sources import KIND_NAMES

from . import chromium
from .conftest import LISTINGS, SALES, skip_browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T_CLICK = 20


@pytest.fixture(scope="session")
def browser():
    if skip_browser():
        pytest.skip("NMMO_SKIP_BROWSER is set: browser tests skipped on purpose")
    executable, why = chromium.find_or_install(log=lambda msg: print(msg, flush=True))
    if executable is None:
        pytest.fail(f"browser tests: {why}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (it drives the system Chromium)")
    profile = tempfile.mkdtemp(prefix="nmmo-chromium-")
    pw = sync_playwright().start()
    try:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=executable, args=CHROMIUM_ARGS,
                                                    headless=True, viewport={"width": 1200, "height": 800})
    except Exception as err:
        pw.stop()
        pytest.fail(f"cannot launch Chromium at {executable}: {err}")
    yield ctx
    ctx.close()
    pw.stop()
    shutil.rmtree(profile, ignore_errors=True)


def serve_replay(path):
    """A viewer server on a free port for one replay file: yields its URL, stopped after the module."""
    server = ViewerServer(ReplaySource(path), port=0)
    yield server.start_in_thread()
    server.stop()


@pytest.fixture(scope="module")
def replay_url(recorded):
    yield from serve_replay(recorded[3])


@pytest.fixture
def page(browser):
    p = browser.new_page()
    errors = []
    p.on("pageerror", lambda err: errors.append(str(err)))
    p.set_default_timeout(60_000)
    yield p
    p.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_viewer(page, url):
    page.goto(url)
    page.wait_for_function("window.viewer && window.viewer.ready")


def show(page, t):
    page.evaluate(f"viewer.show({t})")
    page.wait_for_function(f"viewer.index === {t}")


def panel(page) -> dict:
    """field -> shown value of the panel (every value sits in a ``.v`` element inside its ``data-field``)."""
    return page.evaluate("""Object.fromEntries([...document.querySelectorAll('#panel [data-field]')]
                            .map(el => [el.dataset.field, el.querySelector('.v').textContent]))""")


def cells(page, selector) -> list[list[str]]:
    """The text of each cell of each table row matching ``selector``."""
    return page.evaluate(f"""[...document.querySelectorAll({selector!r})]
                             .map(tr => [...tr.children].map(td => td.textContent))""")


def groups(page, where="#panel") -> list[str]:
    return page.evaluate(f"[...document.querySelectorAll('{where} .group')].map(g => g.dataset.group)")


def follow(page, slot):
    page.evaluate(f"viewer.follow({slot})")
    page.wait_for_function(f"document.querySelector('#panel h3') && "
                           f"document.querySelector('#panel h3').dataset.slot === '{slot}'")


def click_tile(page, r, c):
    xy = page.evaluate(f"viewer.tileToScreen({r}, {c})")
    page.mouse.click(xy["x"], xy["y"])


def lone_agent(rp, t, num_agents):
    """A live player standing alone on its tile at frame t (a click on it is unambiguous)."""
    alive = rp.frame("state/entities/alive", t)
    pos = rp.frame("state/entities/pos", t)
    for slot in np.flatnonzero(alive[:num_agents]):
        same = np.all(pos == pos[slot], axis=1) & alive
        if same.sum() == 1:
            return int(slot)
    pytest.fail("no player alone on a tile")


def test_page_loads_a_replay_plays_and_scrubs(page, replay_url, recorded):
    rp = recorded[3]
    open_viewer(page, replay_url)
    assert page.inner_text("#mode") == "replay" and page.inner_text("#tick") == "0"
    assert page.get_attribute("#scrub", "max") == str(rp.num_frames - 1)
    page.select_option("#speed", "32")
    page.click("#play")
    page.wait_for_function("viewer.index >= 10")
    page.click("#play")
    idx = page.evaluate("viewer.index")
    page.wait_for_timeout(300)
    assert page.evaluate("viewer.index") == idx, "still playing after pause"
    assert page.inner_text("#tick") == str(int(rp.frame("state/tick", idx)))
    page.evaluate("(() => { const s = document.getElementById('scrub'); s.value = 33;"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for_function("viewer.index === 33")
    assert page.inner_text("#tick") == "33" and page.evaluate("viewer.draws") > 2


def test_clicking_an_entity_shows_its_values_for_that_tick(page, replay_url, recorded, world):
    rp = recorded[3]
    open_viewer(page, replay_url)
    show(page, T_CLICK)
    slot = lone_agent(rp, T_CLICK, world.A)
    pos = rp.frame("state/entities/pos", T_CLICK)[slot]
    click_tile(page, *pos)
    page.wait_for_function(f"viewer.selected === {slot}")
    for t in (T_CLICK, T_CLICK + 7):   # following it: the panel tracks the shown tick
        if t != T_CLICK:
            show(page, t)
        rows = panel(page)
        state = rp.state(t)
        e = state.entities
        assert rows["alive"] == ("alive" if e.alive[slot] else "dead")
        for field, top in (("health", world.params_env.max_health), ("food", world.params_env.max_food),
                           ("water", world.params_env.max_water)):
            assert rows[field] == f"{int(getattr(e, field)[slot])} / {int(top)}", (t, field)
        for field in ("time_alive", "gold", "team"):
            assert rows[field] == str(int(getattr(e, field)[slot])), (t, field)
        assert rows["freeze"] == ("no" if e.freeze[slot] <= 0 else f"{int(e.freeze[slot])} ticks left")
        assert rows["pos"] == f"{e.pos[slot, 0]}, {e.pos[slot, 1]}"
        assert rows["skill.melee"] == str(int(e.levels[slot, 0]))
        assert page.inner_text("[data-field='skill.alchemy'] .xp") == f"{int(e.xp[slot, 7])} xp"
        value = rp.frame("agent/value", t)[slot]   # NaN once it is dead
        assert rows["agent.value"] == (f"{value:.4f}" if np.isfinite(value) else "—")
        assert rows["agent.action/move"] == str(int(rp.frame("agent/action/move", t)[slot]))
        assert page.inner_text("#panel h3").startswith(f"Agent #{slot}")
    # clicking empty ground (near where the camera follows it, so on screen) lets go
    e = rp.state(T_CLICK + 7).entities
    if e.alive[slot]:
        pos = e.pos[slot]
    taken = {tuple(p) for p in e.pos[e.alive].tolist()}
    ground = next((int(pos[0]) + dr, int(pos[1]) + dc) for dr in (-2, 2) for dc in (-2, 0, 2)
                  if (int(pos[0]) + dr, int(pos[1]) + dc) not in taken)
    click_tile(page, *ground)
    page.wait_for_function("viewer.selected === null")


def item_holder(rp, num_agents):
    """(frame, player) holding the most items while alive, with something equipped if possible."""
    items = rp.array("state/inventory/item") > 0
    equipped = rp.array("state/inventory/equipped").any(axis=2)
    alive = rp.array("state/entities/alive")[:, :num_agents]
    score = np.where(alive, items.sum(axis=2) + 10 * equipped, -1)
    t, slot = np.unravel_index(np.argmax(score), score.shape)
    assert score[t, slot] > 0, "nobody held an item in the recording"
    return int(t), int(slot)


def test_panel_groups_a_players_state_with_item_names_and_no_sentinels(page, replay_url, recorded, world):
    rp = recorded[3]
    t, slot = item_holder(rp, world.A)
    open_viewer(page, replay_url)
    show(page, t)
    follow(page, slot)
    assert groups(page) == ["vitals", "status", "skills", "equipment", "inventory", "listings", "policy"]
    e = rp.state(t).entities
    inv = {f: rp.frame(f"state/inventory/{f}", t)[slot] for f in ("item", "level", "quantity", "equipped", "price")}
    held = [k for k in range(len(inv["item"])) if inv["item"][k] > 0]
    want = [[I.NAMES[inv["item"][k]], f"L{inv['level'][k]}", f"×{inv['quantity'][k]}",
             "equipped" if inv["equipped"][k] else (f"listed {inv['price'][k]}g" if inv["price"][k] else "")]
            for k in held]
    assert cells(page, "#panel tr[data-inv]") == want
    rows = panel(page)
    for k, name in enumerate(I.EQUIP_SLOT_NAMES):   # the five equipment slots, by what sits in them
        on = [j for j in held if inv["equipped"][j] and I.EQUIP_SLOT[inv["item"][j]] == k]
        label = "—" if not on else f"{I.NAMES[inv['item'][on[0]]]} L{inv['level'][on[0]]}"
        assert rows[f"equip.{name}"].startswith(label), (name, rows[f"equip.{name}"])
    assert any(rows[f"equip.{n}"] != "—" for n in I.EQUIP_SLOT_NAMES), "the holder equips nothing"
    assert rows["said"] == (f"token {int(e.said[slot])}" if e.said[slot] else "silent")
    by = int(e.attacker[slot])
    assert rows["attacker"] == ("—" if by < 0 else f"{'agent' if by < world.A else KIND_NAMES[e.kind[by]]} #{by}")
    text = page.inner_text("#panel")
    assert e.respawn_tick[slot] == NEVER and str(NEVER) not in text and "respawn tick" not in text
    # a dead player: "dead", never the sentinel of a respawn that will not come
    last = rp.num_frames - 1
    dead = int(np.flatnonzero(~rp.frame("state/entities/alive", last)[:world.A])[0])
    show(page, last)
    follow(page, dead)
    assert panel(page)["alive"] == "dead" and str(NEVER) not in page.inner_text("#panel")
    assert page.inner_text("#panel h3").endswith("(dead)")
    # an NPC: its own groups, no inventory
    npc = int(np.flatnonzero(rp.frame("state/entities/alive", last)[world.A:])[0]) + world.A
    follow(page, npc)
    assert groups(page) == ["vitals", "status", "combat"]
    assert panel(page)["npc_offense"] == str(int(rp.frame("state/entities/npc_offense", last)[npc]))


@pytest.fixture(scope="module")
def market_url(market_replay):
    yield from serve_replay(market_replay[0])


def test_market_view_and_listings_show_offers_and_recent_sales(page, market_url, market_replay):
    rp, sellers = market_replay
    open_viewer(page, market_url)
    show(page, 20)
    assert page.is_visible("#market") and "no offers" in page.inner_text("#market")
    show(page, 35)
    assert cells(page, "#market tr[data-offer]") == [["hat", "L1", "9g", "2", "2"], ["arrow", "L2", "7g", "1", "5"]]
    assert cells(page, "#market tr[data-sale]") == [["35", "hat", "L1", "1", "9g"], ["35", "arrow", "L2", "1", "4g"],
                                                    ["33", "whetstone", "L1", "2", "10g"]]
    follow(page, sellers[0])
    listed = [v for k, v in sorted(LISTINGS[0].items()) if v[3] > 0]
    assert cells(page, "#panel tr[data-listing]") == [
        [f"{I.NAMES[it]} L{lv}" + (f" ×{q}" if q > 1 else ""), f"{p}g", f"to tick {tick + 3}"]
        for it, lv, q, p, tick in listed]
    # the chart's trades count the sales of the frames so far
    assert page.evaluate("viewer.chart.series.trades.value") == sum(n for f, s in SALES.items() if f <= 35
                                                                     for *_, n, _ in s)


def test_a_world_with_items_off_shows_no_economy(page, custom_url, cli_replay):
    rp = cli_replay
    open_viewer(page, custom_url)
    assert page.evaluate("viewer.meta.economy") is False
    show(page, 5)
    follow(page, lone_agent(rp, 5, 16))
    assert groups(page) == ["vitals", "status", "skills", "policy"]   # random agents: actions, no value
    assert "said" not in panel(page) and str(NEVER) not in page.inner_text("#panel")
    assert not page.is_visible("#market")
    assert page.evaluate("viewer.chart.names") == ["population", "mean_lifetime", "kills"]


def test_chart_plots_the_world_history_and_follows_the_shown_frame(page, replay_url, recorded, world):
    rp = recorded[3]
    open_viewer(page, replay_url)
    chart = page.evaluate("viewer.chart")
    assert chart["names"] == ["population", "mean_lifetime", "kills", "trades"]
    assert chart["points"] == rp.num_frames and (chart["first"], chart["last"]) == (0, rp.num_frames - 1)
    alive = rp.array("state/entities/alive")[:, :world.A].sum(axis=1)
    assert chart["series"]["population"] == dict(points=rp.num_frames, value=int(alive[0]), max=int(alive.max()))
    assert chart["series"]["mean_lifetime"]["value"] is None   # nothing has ended at frame 0
    kills = np.cumsum(rp.array("info/kills"))
    assert chart["series"]["kills"]["max"] == int(kills[-1]) > 0
    # pixels: each series draws its line in its own colour, in its own band below its label
    near = page.evaluate("""(() => { const c = document.getElementById('chart'), g = c.getContext('2d');
        const ch = viewer.chart;
        return ch.colours.map((hex, r) => {
          const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
          const y0 = r * ch.rowHeight + ch.labelHeight, d = g.getImageData(0, y0, c.width, ch.rowHeight - ch.labelHeight).data;
          let n = 0;
          for (let i = 0; i < d.length; i += 4)
            if (Math.abs(d[i] - want[0]) + Math.abs(d[i+1] - want[1]) + Math.abs(d[i+2] - want[2]) < 60) n++;
          return n; }); })()""")
    width = page.evaluate("document.getElementById('chart').width")
    assert all(n > width / 2 for n in near), near   # a line across the plot (mean lifetime: from its first end)
    last = rp.num_frames - 1
    draws = chart["draws"]
    show(page, last)
    chart = page.evaluate("viewer.chart")
    assert chart["draws"] > draws and chart["series"]["population"]["value"] == int(alive[last])
    ended = rp.array("info/ended").sum()
    assert chart["series"]["mean_lifetime"]["value"] == pytest.approx(rp.array("info/ended_lifetime_sum").sum() / ended)
    assert chart["series"]["kills"]["value"] == int(kills[-1])


def test_legend_lists_tile_materials_in_their_palette_colours(page, replay_url):
    open_viewer(page, replay_url)
    shown = page.evaluate("""[...document.querySelectorAll('#legend [data-material]')]
        .map(d => [d.dataset.material, getComputedStyle(d.querySelector('.swatch')).backgroundColor])""")
    assert shown == [[name, "rgb({}, {}, {})".format(*F.PALETTE[m])] for m, name in enumerate(T.NAMES)]
    assert groups(page, "#legend") == ["kinds", "tiles"]


def test_each_overlay_toggles_and_draws_pixels(page, replay_url, recorded, world):
    rp = recorded[3]
    open_viewer(page, replay_url)
    show(page, T_CLICK)
    slot = lone_agent(rp, T_CLICK, world.A)
    click_tile(page, *rp.frame("state/entities/pos", T_CLICK)[slot])   # attention shows the selected agent
    page.wait_for_function(f"viewer.selected === {slot}")
    snap = """(() => { const c = document.getElementById('map');
                 window.__snap = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; })()"""
    changed = """(() => { const c = document.getElementById('map');
                 const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4)
                   if (d[i] !== __snap[i] || d[i+1] !== __snap[i+1] || d[i+2] !== __snap[i+2]) n++;
                 return n; })()"""
    names = [o["name"] for o in rp.overlays]
    assert names == ["counts", "values", "attention", "globalValues"]
    for name in names:
        page.evaluate(snap)
        draws = page.evaluate("viewer.draws")
        page.click(f"#ov-{name}")
        page.wait_for_function(f"viewer.overlayStats && viewer.overlayStats.name === '{name}' && "
                               f"viewer.draws > {draws}")
        stats = page.evaluate("viewer.overlayStats")
        want = np.isfinite(rp.overlay(name, T_CLICK, agent=slot if name == "attention" else None)).sum()
        assert stats["finite"] == want > 0, (name, stats)
        assert page.evaluate(changed) > 100, f"overlay {name} drew nothing"
        assert name in page.inner_text("#legend")
        assert "on" in page.get_attribute(f"#ov-{name}", "class")
        grid = rp.overlay(name, T_CLICK, agent=slot if name == "attention" else None)
        lo, hi = float(np.nanmin(grid)), float(np.nanmax(grid))
        as_text = lambda v: str(int(v)) if v == int(v) else f"{v:.4f}"
        assert (page.inner_text("#ov-min"), page.inner_text("#ov-max")) == (as_text(lo), as_text(hi)), name
        ramp = page.evaluate("getComputedStyle(document.querySelector('#overlay-legend .ramp')).backgroundImage")
        assert ramp.startswith("linear-gradient") and all(
            "rgb({}, {}, {})".format(*map(int, c)) in ramp for c in F.COLORMAP), ramp
        draws = page.evaluate("viewer.draws")
        page.click(f"#ov-{name}")   # off again: the picture is back to the plain map
        page.wait_for_function(f"viewer.overlayStats === null && viewer.draws > {draws}")
        assert page.evaluate(changed) == 0, f"overlay {name} did not switch off"


def test_pan_and_zoom(page, replay_url):
    open_viewer(page, replay_url)
    span = "(() => { const a = viewer.tileToScreen(10, 10), b = viewer.tileToScreen(10, 30); return b.x - a.x; })()"
    before = page.evaluate(span)
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"{span} > {before * 1.5}")
    a = page.evaluate("viewer.tileToScreen(10, 10)")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 40, steps=5)
    page.mouse.up()
    b = page.evaluate("viewer.tileToScreen(10, 10)")
    assert (round(b["x"] - a["x"]), round(b["y"] - a["y"])) == (60, 40)


@pytest.fixture(scope="module")
def live_url(policy_recorder):
    server = ViewerServer(LiveSource(policy_recorder, seed=2, fps=25, history=128), port=0)
    url = server.start_in_thread()
    yield url
    server.stop()


def test_live_mode_receives_ticks(page, live_url):
    open_viewer(page, live_url)
    page.wait_for_function("viewer.framesReceived >= 5")
    assert page.inner_text("#mode") == "live"
    first = page.evaluate("viewer.index")
    page.wait_for_function(f"viewer.index >= {first + 5} && viewer.framesReceived >= 10")
    frame = page.evaluate("viewer.index")
    assert int(page.inner_text("#tick")) >= 5 or frame >= first + 5
    for name in ("counts", "globalValues"):   # overlays work live too
        page.click(f"#ov-{name}")
        page.wait_for_function(f"viewer.overlayStats && viewer.overlayStats.name === '{name}' && "
                               "viewer.overlayStats.finite > 0")
    # the chart grows with the ticks of the world being played
    grown = page.evaluate("viewer.chart.last")
    page.wait_for_function(f"viewer.chart.last > {grown} && viewer.chart.last === viewer.index")
    i, population = page.evaluate("[viewer.chart.last, viewer.chart.series.population.value]")
    frame = json.loads(urllib.request.urlopen(f"{live_url}api/frame/{i}", timeout=30).read())
    assert population == sum(frame["entities"]["alive"][:16]) == frame["stats"]["population"]
    page.click("#play")   # pause: stays put while ticks keep arriving
    held = page.evaluate("viewer.index")
    received = page.evaluate("viewer.framesReceived")
    page.wait_for_function(f"viewer.framesReceived >= {received + 5}")
    assert page.evaluate("viewer.index") == held


@pytest.fixture(scope="module")
def custom_url(cli_replay):
    """The command-line replay (random agents, items off, the README's custom overlay)."""
    server = ViewerServer(ReplaySource(cli_replay), port=0)
    url = server.start_in_thread()
    yield url
    server.stop()


def test_custom_overlay_is_listed_and_drawn_like_the_built_ins(page, custom_url):
    open_viewer(page, custom_url)
    assert page.evaluate("[...document.querySelectorAll('#overlays button')].map(b => b.textContent)") == [
        "counts", "health"]
    show(page, 5)
    draws = page.evaluate("viewer.draws")
    page.click("#ov-health")
    page.wait_for_function(f"viewer.overlayStats && viewer.overlayStats.name === 'health' && viewer.draws > {draws}")
    stats = page.evaluate("viewer.overlayStats")
    assert stats["finite"] > 0 and 0 < stats["min"] <= stats["max"] <= 100
    assert "players' health where they stand" in page.inner_text("#legend")
