"""What the viewer shows: frames from a replay file, or frames a policy is producing right now.

Both sources answer the same four questions, so the server and the page do
not care which one they have:

* ``meta()``: the world's facts (map size, palette, overlays, ...) and the range
  of frame indices available now (``first``..``last``; a live source's range
  moves as it plays and forgets old frames);
* ``frame(i)``: one frame as JSON-able data: the tiles (base64 uint8) and every
  recorded entity field for every slot, named by the recorded leaf (so fields
  the world gains later reach the page's entity panel untouched), plus the
  per-agent policy outputs, world scalars and the step's ``info/`` scalars;
* ``overlay(name, i, agent)``: f32[H, W] picture of an overlay;
* ``series()``: the chart's history of the world (``Series``): population,
  mean lifetime, kills and trades, one point per frame.

``LiveSource`` runs a ``Recorder`` in a background thread, a compiled chunk at a
time, and publishes its frames at ``fps`` to a callback (the server's
WebSocket broadcast). A world that ends (non-persistent: horizon or everyone
dead) is followed by a fresh one, with a new episode number.

The page reads like a game client, so it is sent names, not just numbers: the
meta carries the item table of ``nmmo_jax/items.py`` (names, classes,
equipment slots), the tile palette and names, the overlay colour ramp, the
vitals' maxima and the ``NEVER`` sentinel; nothing of the rules is written
twice in JavaScript. In a world with items on (``economy`` in the meta), each
frame also carries the players' inventories and a market summary (the offers
as the players see them, the sales of the last ``RECENT_FRAMES`` frames); a
world with items off sends neither, and the page shows no economy.

In a world with tasks (``env.curriculum``; ``tasks`` in the meta: the
header's curriculum table of ``record.task_table``, names and descriptions),
each frame carries every player's task row, best progress and the counters
the curriculum's tasks read (``tasks_json``); a world without sends neither.

Derived numbers are computed here, in numpy, where they can be unit-tested:
the offers (``offers_json``: one per (type, level), as ``systems/market.py``
builds the observed table), the recent sales (``sales_json``, from
``state/market_sales`` and ``market_volume``) and the chart series
(``Series``, from ``state/entities/alive``, ``state/market_sales`` and the
recorded ``info/`` scalars; a replay recorded before ``info/`` was recorded
simply has fewer series).
"""
from __future__ import annotations

import base64
import collections
import threading
import time

import jax
import numpy as np

from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.observe import SKILL_NAMES
from nmmo_jax.render import frames as F
from nmmo_jax.render.playback import overlay_picture
from nmmo_jax.state import NEVER
from nmmo_jax.systems.market import LISTING_TICKS

KIND_NAMES = ["player", "passive NPC", "neutral NPC", "aggressive NPC"]
INVENTORY_FIELDS = ("item", "level", "quantity", "equipped", "price", "listed_tick")
RECENT_FRAMES = 32  # the market view's "recent sales": this many frames back, the shown one included
# The chart (name, what it plots); a series whose leaves a replay lacks is left out.
SERIES = (("population", "live players"),
          ("mean_lifetime", "mean lifetime of the lives ended so far (ticks)"),
          ("kills", "kills by players so far (players and NPCs)"),
          ("trades", "market sales so far (items bought)"))


def _jsonable(x: np.ndarray):
    """Nested lists with NaN/inf as None (JSON has no NaN)."""
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating):
        obj = x.astype(object)
        obj[~np.isfinite(x)] = None
        return obj.tolist()
    return x.tolist()


def _config(header: dict) -> tuple[dict, dict]:
    cfg = header.get("config") or {}
    return cfg.get("env") or {}, cfg.get("params") or {}


ECONOMY_LEAVES = {f"state/inventory/{f}" for f in INVENTORY_FIELDS} | {"state/market_sales", "state/market_volume"}


def economy_on(header: dict, names=None) -> bool:
    """Whether the recorded world had items on (``env.items``; a header without it: off) and, given the
    recorded leaf ``names``, recorded what the page shows of its economy."""
    return bool(_config(header)[0].get("items", False)) and (names is None or ECONOMY_LEAVES <= set(names))


TASK_LEAVES = {"state/tasks/task", "state/tasks/best", "state/tasks/counters"}


def task_meta(header: dict, names=None) -> dict | None:
    """The header's curriculum table (``record.task_table``) with ``read``: the counters its tasks read; None for a
    world without tasks (or, given the recorded leaf ``names``, a recording without its task leaves)."""
    table = header.get("tasks")
    if not isinstance(table, dict) or not table.get("tasks") or (names is not None and not TASK_LEAVES <= set(names)):
        return None
    read = sorted({p["counter"] for t in table["tasks"] for p in t.get("parts", []) if p.get("counter")},
                  key=lambda c: table["counters"].index(c))
    return dict(table, read=read)


def tasks_json(table: dict, get) -> dict:
    """Every player's task of one frame: ``task`` (row of ``table["tasks"]``), ``best`` (progress 0..1) and
    ``counters``: name -> per-player count, for the counters the curriculum's tasks read (``table["read"]``)."""
    counters = np.asarray(get("state/tasks/counters"))
    columns = table["counters"]
    return dict(task=np.asarray(get("state/tasks/task")).tolist(), best=_jsonable(get("state/tasks/best")),
                counters={c: counters[:, columns.index(c)].tolist() for c in table["read"]})


def item_table() -> dict:
    """The item table of ``nmmo_jax/items.py`` as the page needs it, indexed by item type id (0: empty)."""
    return dict(names=list(I.NAMES), classes=[I.CLASS_NAMES[c] for c in I.CLASS],
                equip_slot=I.EQUIP_SLOT.tolist(), equip_slot_names=list(I.EQUIP_SLOT_NAMES),
                stacks=I.STACKS.tolist(), max_level=I.MAX_LEVEL, max_price=I.MAX_PRICE,
                listing_ticks=LISTING_TICKS)


def world_meta(header: dict, names=None) -> dict:
    """The facts the page needs to draw any frame of this world (``names``: the recorded leaves, if known)."""
    env, params = _config(header)
    economy = economy_on(header, names)
    return dict(
        height=int(header["map"]["height"]), width=int(header["map"]["width"]),
        border=int(header["map"].get("border", 0)),
        num_agents=int(header["num_agents"]), num_entities=int(header["num_entities"]),
        max_health=int(header.get("max_health", 100)), window=int(header["window"]),
        overlays=header.get("overlays", []), policy=header.get("policy"), config=header.get("config"),
        palette=F.PALETTE.tolist(), materials=list(T.NAMES), team_colours=F.TEAM_COLOURS.tolist(),
        kind_colours=F.KIND_COLOURS.tolist(), kinds=KIND_NAMES, colormap=F.COLORMAP.tolist(),
        overlay_alpha=F.OVERLAY_ALPHA, outline=F.OUTLINE.tolist(), health_ok=F.HEALTH_OK.tolist(),
        health_lost=F.HEALTH_LOST.tolist(), skill_names=list(SKILL_NAMES),
        max_food=int(params.get("max_food", 100)), max_water=int(params.get("max_water", 100)),
        never=NEVER, economy=economy, items=item_table() if economy else None,
        comm_tokens=int(env.get("comm_tokens", 0) or 0), tasks=task_meta(header, names),
        series=[dict(name=n, description=d) for n, d in SERIES],
    )


def offer_parts(index):
    """(item type, level) of market offer indices (``items.offer_index`` read backwards)."""
    index = np.asarray(index)
    return index // I.MAX_LEVEL + 1, index % I.MAX_LEVEL + 1


def offers_json(item, level, quantity, price) -> list[dict]:
    """The market as the players observe it: one offer per listed (type, level), sorted by type then level.

    ``price``: the lowest listing price (what a buyer pays), ``listings``: how
    many are listed, ``units``: the items they hold together (a listed
    ammunition stack sells whole). Arguments: the inventory's [A, S] arrays.
    """
    listed = np.asarray(price) > 0
    offers: dict[tuple[int, int], dict] = {}
    for it, lv, q, p in zip(*(np.asarray(x)[listed].tolist() for x in (item, level, quantity, price))):
        o = offers.setdefault((it, lv), dict(item=it, level=lv, price=p, listings=0, units=0))
        o["price"] = min(o["price"], p)
        o["listings"] += 1
        o["units"] += q
    return [offers[k] for k in sorted(offers)]


def sales_json(tick: int, sales, volume) -> list[dict]:
    """What sold on the step that led to a frame: one entry per offer with sales (items bought, gold paid)."""
    sales, volume = np.asarray(sales), np.asarray(volume)
    idx = np.flatnonzero(sales)
    items, levels = offer_parts(idx)
    return [dict(tick=int(tick), item=int(it), level=int(lv), sold=int(sales[k]), gold=int(volume[k]))
            for k, it, lv in zip(idx, items, levels)]


class Series:
    """The chart of one world: a point per frame, fed in frame order (``add``), restarted for a new world.

    * ``population``: live players in the frame;
    * ``mean_lifetime``: the mean length of the lives that ended so far (deaths,
      and survivals to the horizon), as the world's ``info`` counts them (SPEC
      section 12); None until one ends;
    * ``kills``: kills by players so far (``info/kills``: players and NPCs);
    * ``trades``: items bought on the market so far (``state/market_sales``),
      in worlds with items on.

    ``names``: the recorded leaf names; a series whose leaves are missing (a
    replay recorded before ``info/``) is not plotted.
    """

    def __init__(self, num_agents: int, names, economy: bool):
        names = set(names)
        self.num_agents = num_agents
        self.has_info = {"info/ended", "info/ended_lifetime_sum", "info/kills"} <= names
        self.has_trades = economy and "state/market_sales" in names
        self.names = [n for n, _ in SERIES if n == "population" or (n == "trades" and self.has_trades)
                      or (n in ("mean_lifetime", "kills") and self.has_info)]
        self.ended = self.lifetimes = self.kills = self.trades = 0

    def add(self, index: int, episode: int, get) -> dict:
        """The point of the next frame; ``get(name)`` reads its leaves."""
        point = dict(index=int(index), episode=int(episode), tick=int(np.asarray(get("state/tick"))),
                     population=int(np.sum(np.asarray(get("state/entities/alive"))[:self.num_agents])))
        if self.has_info:
            self.ended += int(np.asarray(get("info/ended")))
            self.lifetimes += int(np.asarray(get("info/ended_lifetime_sum")))
            self.kills += int(np.asarray(get("info/kills")))
            point["mean_lifetime"] = self.lifetimes / self.ended if self.ended else None
            point["kills"] = self.kills
        if self.has_trades:
            self.trades += int(np.sum(get("state/market_sales")))
            point["trades"] = self.trades
        return point


def frame_json(index: int, get, names, episode: int = 0, economy: bool = False, earlier=(), tasks=None) -> dict:
    """One frame for the page (see the module doc); ``get(name)`` reads a leaf of this frame.

    ``economy``: add the players' inventories and the market (offers now;
    sales of this frame and of ``earlier``, the ``get`` functions of the
    frames before it in the same world, oldest first; newest sale first).
    ``tasks``: the meta's curriculum table (``task_meta``): add the players' tasks (``tasks_json``).
    """
    entities, agent, world, info = {}, {}, {}, {}
    for name in names:
        if name.startswith("info/"):
            info[name[len("info/"):]] = _jsonable(np.asarray(get(name)).reshape(()))
        elif name.startswith("state/entities/"):
            entities[name[len("state/entities/"):]] = _jsonable(get(name))
        elif name.startswith("agent/") and not name.startswith("agent/attention/"):
            agent[name[len("agent/"):]] = _jsonable(get(name))
        elif name.startswith("state/") and name != "state/tiles" and not name.startswith("state/tasks/"):
            v = np.asarray(get(name))
            if v.size == 1:  # world scalars (tick, deaths, ...); map layers stay on the server
                world[name[len("state/"):]] = _jsonable(v.reshape(()))
    tiles = np.ascontiguousarray(np.asarray(get("state/tiles"), np.uint8))
    out = dict(index=int(index), episode=int(episode), tick=int(world.get("tick", index)),
               tiles=base64.b64encode(tiles.tobytes()).decode("ascii"),
               entities=entities, agent=agent, world=world, info=info)
    if economy:
        inv = {f: np.asarray(get(f"state/inventory/{f}")) for f in INVENTORY_FIELDS}
        recent = []
        for g in [*earlier, get]:
            recent = sales_json(np.asarray(g("state/tick")), g("state/market_sales"), g("state/market_volume")) + recent
        out["inventory"] = {f: v.tolist() for f, v in inv.items()}
        out["market"] = dict(offers=offers_json(inv["item"], inv["level"], inv["quantity"], inv["price"]),
                             recent=recent, recent_frames=RECENT_FRAMES)
    if tasks:
        out["tasks"] = tasks_json(tasks, get)
    return out


class ReplaySource:
    """A replay file: every frame is there from the start."""

    live = False

    def __init__(self, replay):
        self.replay = replay
        self._names = set(replay.names)
        self._lock = threading.Lock()  # sparse leaves keep a cursor: one reader at a time
        self.economy = economy_on(replay.header, self._names)
        self.tasks = task_meta(replay.header, self._names)
        self._points = None

    def meta(self) -> dict:
        return dict(world_meta(self.replay.header, self._names), live=False, first=0, last=self.replay.num_frames - 1,
                    source=self.replay.source)

    def _get(self, i):
        if not 0 <= i < self.replay.num_frames:
            raise IndexError(f"frame {i} outside 0..{self.replay.num_frames - 1}")
        return lambda name: self.replay.frame(name, i)

    def _series(self) -> tuple[list, list]:
        """(series names, a point per frame), computed once (the lock held)."""
        if self._points is None:
            s = Series(int(self.replay.header["num_agents"]), self._names, self.economy)
            self._points = (s.names, [s.add(i, 0, self._get(i)) for i in range(self.replay.num_frames)])
        return self._points

    def series(self) -> dict:
        with self._lock:
            names, points = self._series()
            return dict(names=names, points=points)

    def frame(self, i: int) -> dict:
        with self._lock:
            get = self._get(i)
            earlier = [self._get(j) for j in range(max(0, i - RECENT_FRAMES + 1), i)] if self.economy else ()
            out = frame_json(i, get, sorted(self._names), economy=self.economy, earlier=earlier, tasks=self.tasks)
            out["stats"] = self._series()[1][i]
            return out

    def overlay(self, name: str, i: int, agent: int | None = None) -> np.ndarray:
        with self._lock:
            return overlay_picture(self.replay.header, self._get(i), self._names, name, agent)


class LiveSource:
    """Frames from a ``Recorder`` playing now; keeps the last ``history`` frames for scrubbing back.

    ``publish(frame_json)`` is called from the producer thread for every new
    frame (the server hands it to its event loop). ``start()`` launches the
    thread; ``stop()`` ends it. Each frame carries its chart point (``stats``),
    so the page's chart grows as ticks arrive; ``series()`` gives the points of
    the frames still held, for a page that connects late.
    """

    live = True

    def __init__(self, recorder, seed: int = 0, fps: float = 8.0, history: int = 256, header_extra=None):
        if fps <= 0 or history < 1:
            raise ValueError(f"fps={fps} and history={history} must be positive")
        self.recorder = recorder
        self.seed = seed
        self.fps = fps
        self.header = dict(recorder.header(**(header_extra or {})), frames=0)
        self.economy = economy_on(self.header)
        self.tasks = task_meta(self.header)
        self._frames: collections.deque = collections.deque(maxlen=history)  # (index, episode, frame, point)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.publish = lambda frame: None
        self.error: BaseException | None = None
        self.episode = 0
        self._series_names: list[str] = []

    # -------------------------------------------------------------- producer
    def start(self):
        self._thread = threading.Thread(target=self._run, name="nmmo-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _world_over(self, frame: dict) -> bool:
        env = self.recorder.cfg
        if env.persistent:
            return False
        alive = frame["state/entities/alive"][:env.num_agents]
        return int(frame["state/tick"]) >= env.horizon or not alive.any()

    def _run(self):
        try:
            index = 0
            key = jax.random.PRNGKey(self.seed)
            while not self._stop.is_set():
                key, k_world = jax.random.split(key)
                carry, static = self.recorder.start(k_world)
                static = {k: np.asarray(v) for k, v in jax.device_get(static).items()}
                series = None  # a new world, a new chart
                over = False
                next_time = time.monotonic()
                while not over and not self._stop.is_set():
                    carry, chunk = self.recorder.chunk(carry)
                    chunk = jax.device_get(chunk)
                    for c in range(self.recorder.chunk_len):
                        frame = {name: np.asarray(v[c]) for name, v in chunk.items()}
                        frame.update(static)
                        if series is None:
                            series = Series(self.recorder.cfg.num_agents, frame, self.economy)
                            self._series_names = series.names
                        point = series.add(index, self.episode, frame.__getitem__)
                        delay = next_time - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                        next_time = max(next_time, time.monotonic()) + 1.0 / self.fps
                        with self._lock:
                            self._frames.append((index, self.episode, frame, point))
                        self.publish(self._json(index))
                        index += 1
                        if self._world_over(frame):
                            over = True
                            break
                self.episode += 1
        except BaseException as err:  # surfaced by meta() so the page and the log can say why
            self.error = err
            raise

    # --------------------------------------------------------------- queries
    def _find(self, i: int):
        """(held frames, position of frame i among them); the lock must be held."""
        if not self._frames:
            raise IndexError("no frame produced yet")
        first = self._frames[0][0]
        k = i - first
        if not 0 <= k < len(self._frames):
            raise IndexError(f"frame {i} outside the live history {first}..{self._frames[-1][0]}")
        return k

    def _json(self, i: int) -> dict:
        with self._lock:
            k = self._find(i)
            index, episode, frame, point = self._frames[k]
            earlier = [self._frames[j][2].__getitem__ for j in range(max(0, k - RECENT_FRAMES + 1), k)
                       if self._frames[j][1] == episode] if self.economy else ()
        out = frame_json(index, frame.__getitem__, sorted(frame), episode, economy=self.economy, earlier=earlier,
                         tasks=self.tasks)
        out["stats"] = point
        return out

    def meta(self) -> dict:
        with self._lock:
            first = self._frames[0][0] if self._frames else 0
            last = self._frames[-1][0] if self._frames else -1
        return dict(world_meta(self.header), live=True, first=first, last=last, fps=self.fps, history=self._frames.maxlen,
                    source="live", error=None if self.error is None else repr(self.error))

    def frame(self, i: int) -> dict:
        return self._json(i)

    def series(self) -> dict:
        with self._lock:
            return dict(names=list(self._series_names), points=[f[3] for f in self._frames])

    def overlay(self, name: str, i: int, agent: int | None = None) -> np.ndarray:
        with self._lock:
            _, _, frame, _ = self._frames[self._find(i)]
        return overlay_picture(self.header, frame.__getitem__, set(frame), name, agent)
