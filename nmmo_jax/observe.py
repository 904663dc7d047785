"""Observations and action masks (SPEC sections 10-11), built without all-pairs work.

Per player, fixed shapes:

* ``tiles``: u8[15, 15, 3] window centred on the player: material id,
  resource state (0 none, 1 harvestable, 2 depleted) and live-entity count.
* ``entities``: i16[K, F] rows of attributes (``ENTITY_FEATURES``), the player
  itself in row 0, then the other entities in its window nearest first.
  ``entity_mask``: bool[K], which rows are real.
* ``action_mask``: one bool array per action head: ``move`` [5] and, with
  combat on, ``attack_style`` [4] (no-op, melee, range, mage) and
  ``attack_target`` [K] (a row of this entity set).
* with ``env.fog``, ``tiles`` has a fourth channel: the health standing on
  that tile will cost next tick (fog.py), capped at 255.

Attack masks say exactly what combat.py will let land next tick, from the
same facts: a row is a legal target when it holds another entity within the
largest reach, not a player under spawn immunity (observed time_alive <
spawn_immunity), not a team-mate when teams exclude them, and the observer
can act (alive, and its freeze will have run out after next tick's
countdown: observed freeze <= 1). Nothing these facts depend on changes
between the observation and next tick's attack phase except the countdowns,
which is why the thresholds are written as they are. A style is legal when
some legal row is within that style's reach. Row 0 (the observer itself,
never attackable) is always legal for ``attack_target`` and means "no
target", and style 0 means "no attack", so every head always has a legal
choice. The heads are sampled independently, so under classic reach a legal
style and a legal row may still be out of reach of each other: that attack is
a no-op. Moves other than "stay" are masked while the observer will still be
frozen (observed freeze >= 2).

``observe`` also returns, for the state, the slot shown in each entity row
(``WorldState.obs_slots``): attack targets and NPC sight resolve through it.

How it stays cheap (DESIGN section 4): once per tick we build per-tile grids
(material + entity count (+ fog cost) packed in one int32, and the lowest and highest live
entity slot on the tile packed in another), take each player's window of both
with one ``dynamic_slice``, read the window in a fixed nearest-first order
(a static permutation), and compact the occupied entries into K rows with a
running count (``counting.running_count``, a cumulative sum done as two small
matrix products). Cost is linear in players; no sort, no top-k, no distances
between every pair. The grid keeps two entities per tile; a third on the same
tile shows only in the tile's count.

Dead players still get arrays of the same shape, with every entity row and
every move but "stay" masked.
"""
import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import items as I
from nmmo_jax import tiles as T
from nmmo_jax.config import EnvParams, StaticConfig
from nmmo_jax.counting import running_count
from nmmo_jax.state import KIND_PLAYER, NUM_SKILLS, WorldState
from nmmo_jax.systems import combat, fog
from nmmo_jax.systems import items as IT
from nmmo_jax.systems import market as MK

SKILL_NAMES = ("melee", "range", "mage", "fishing", "herbalism", "prospecting", "carving", "alchemy")
ENTITY_FEATURES = (
    ("id", "slot index + 1 (0 for an empty row)"),
    ("type", "0 player, 1 passive, 2 neutral, 3 aggressive NPC"),
    ("team", "team id"),
    ("row", "row relative to the observer"),
    ("col", "column relative to the observer"),
    ("health", ""), ("food", ""), ("water", ""),
    ("time_alive", "ticks lived in the current life"),
    ("freeze", "ticks left frozen"),
    *((f"level_{s}", "skill level") for s in SKILL_NAMES),
    ("equipment_level", "summed level of equipped items"),
    ("in_combat", "1 while in combat status"),
    ("gold", ""),
    ("said", "comm token said on the last tick (0 silent)"),
)
FEATURE_INDEX = {name: i for i, (name, _) in enumerate(ENTITY_FEATURES)}
NUM_ENTITY_FEATURES = len(ENTITY_FEATURES)
TILE_FEATURES = ("material", "resource", "entity_count")  # + "fog" with env.fog
INVENTORY_FEATURES = (
    ("item", "item type id (nmmo_jax.items), 0 empty"),
    ("level", "1..10"),
    ("quantity", "1, or the size of an ammunition stack"),
    ("equipped", "1 while equipped"),
    ("price", "listing price 1..99, 0 not listed"),
)
MARKET_FEATURES = ("price", "count")  # per (type, level) offer: lowest listed price, listings


def nearest_first_order(radius: int) -> np.ndarray:
    """Flat window indices sorted by Euclidean distance from the centre, ties row-major (static)."""
    size = 2 * radius + 1
    r, c = np.divmod(np.arange(size * size), size)
    dist = (r - radius) ** 2 + (c - radius) ** 2
    return np.lexsort((np.arange(size * size), dist)).astype(np.int32)


def entity_table(state: WorldState) -> jnp.ndarray:
    """i16[N+1, F]: every slot's attribute row, absolute position, plus an all-zero row N."""
    e = state.entities
    n = e.alive.shape[0]
    cols = [jnp.arange(1, n + 1), e.kind, e.team, e.pos[:, 0], e.pos[:, 1], e.health, e.food, e.water,
            e.time_alive, e.freeze, *[e.levels[:, s] for s in range(NUM_SKILLS)], e.equipment_level,
            (e.combat_timer > 0).astype(jnp.int32), e.gold, e.said]
    table = jnp.stack(cols, axis=1)
    table = jnp.clip(table, -32768, 32767).astype(jnp.int16)
    return jnp.concatenate([table, jnp.zeros((1, table.shape[1]), jnp.int16)], axis=0)


def observe(state: WorldState, cfg: StaticConfig, params: EnvParams):
    """(observation dict, slots i32[A, K]: the entity slot of every row, -1 for an empty row)."""
    e = state.entities
    n = cfg.num_entities
    a = cfg.num_agents
    k = cfg.entity_rows
    rad = cfg.window_radius
    size = cfg.window_size
    h, w = state.tiles.shape

    # Per-tile grids, rebuilt each tick from live entities.
    flat = jnp.where(e.alive, e.pos[:, 0] * w + e.pos[:, 1], h * w)
    slots = jnp.arange(n, dtype=jnp.int32)
    count = jnp.zeros(h * w, jnp.int32).at[flat].add(1, mode="drop")
    hi = jnp.full(h * w, -1, jnp.int32).at[flat].max(slots, mode="drop")
    lo = jnp.full(h * w, n, jnp.int32).at[flat].min(slots, mode="drop")
    lo = jnp.where((lo == n) | (lo == hi), -1, lo)
    tile_grid = (state.tiles.reshape(-1).astype(jnp.int32) | (jnp.minimum(count, 255) << 8)).reshape(h, w)
    if cfg.fog:  # fog cost per map tile rides in bits 16..23 of the same grid, so the window slice carries it
        fog_cost = jnp.minimum(fog.damage_grid(state.tick, params, cfg), 255)
        tile_grid = tile_grid | (fog_cost << 16)
    pair_grid = ((hi + 1) | ((lo + 1) << 16)).reshape(h, w)  # 0: no entity on the tile
    pad = max(0, rad - cfg.border + 1)
    if pad:  # small borders: pad with void so every window stays inside the array
        tile_grid = jnp.pad(tile_grid, pad)
        pair_grid = jnp.pad(pair_grid, pad)

    pos = e.pos[:a]
    corner = pos - rad + pad
    tile_win = jax.vmap(lambda c: jax.lax.dynamic_slice(tile_grid, (c[0], c[1]), (size, size)))(corner)
    pair_win = jax.vmap(lambda c: jax.lax.dynamic_slice(pair_grid, (c[0], c[1]), (size, size)))(corner)
    material = (tile_win & 255).astype(jnp.uint8)
    channels = [material, jnp.asarray(T.RESOURCE_STATE)[material], ((tile_win >> 8) & 255).astype(jnp.uint8)]
    if cfg.fog:
        channels.append((tile_win >> 16).astype(jnp.uint8))
    tiles_obs = jnp.stack(channels, axis=-1)

    # Entity rows, in two compactions. Stage 1: the first K-1 occupied tiles
    # around the player, nearest first (the centre, its own tile, is order[0]).
    order = jnp.asarray(nearest_first_order(rad))
    me = jnp.arange(a, dtype=jnp.int32)
    pairs = pair_win.reshape(a, size * size)[:, order]
    own, around = pairs[:, :1], pairs[:, 1:]
    occupied = around != 0
    tile_rank = running_count(occupied, jnp.int16)  # 1-based
    slot = jnp.where(occupied, tile_rank - 1, k)
    near = jnp.zeros((a, k - 1), jnp.int32).at[me[:, None], slot].set(around, mode="drop")
    # Stage 2: the (at most two) entities of those tiles, self excluded, into rows 1..K-1.
    words = jnp.concatenate([own, near], axis=1)
    ids = jnp.stack([(words & 0xFFFF) - 1, (words >> 16) - 1], axis=-1).reshape(a, 2 * k)
    valid = (ids >= 0) & (ids != me[:, None])
    rank = running_count(valid, jnp.int16)  # 1-based: row 0 is self
    row = jnp.where(valid, rank, k)
    rows = jnp.full((a, k), -1, jnp.int32).at[me[:, None], row].set(ids, mode="drop")
    live = e.alive[:a]
    rows = rows.at[:, 0].set(me)
    rows = jnp.where(live[:, None], rows, -1)
    entity_mask = rows >= 0

    table = entity_table(state)
    feats = table[jnp.where(entity_mask, rows, n)]
    rel = (feats[..., 3:5] - pos[:, None, :].astype(jnp.int16)) * entity_mask[..., None]
    feats = feats.at[..., 3:5].set(rel)

    centre = rad
    can_act = live & (e.freeze[:a] <= 1)  # next tick's countdown leaves it unfrozen
    neighbours = material[:, centre + T.MOVE_DELTAS[1:, 0], centre + T.MOVE_DELTAS[1:, 1]]  # [A, 4]
    move_mask = jnp.concatenate([jnp.ones((a, 1), bool), jnp.asarray(T.PASSABLE)[neighbours]], axis=1)
    move_mask = move_mask & jnp.concatenate([jnp.ones((a, 1), bool), jnp.broadcast_to(can_act[:, None], (a, 4))], 1)
    action_mask = {"move": move_mask}
    if cfg.combat:
        action_mask.update(attack_masks(feats, entity_mask, can_act, e.team[:a], params, cfg))
    extra = {}
    if cfg.items:
        extra, item_masks = economy(state, feats, entity_mask, can_act, cfg)
        action_mask.update(item_masks)
    if cfg.comm_tokens:
        action_mask["comm"] = jnp.broadcast_to(live[:, None], (a, cfg.comm_tokens + 1)).at[:, 0].set(True)

    obs = {
        "tiles": tiles_obs,
        "entities": feats,
        "entity_mask": entity_mask,
        "action_mask": action_mask,
        **extra,
    }
    return obs, rows


def attack_masks(feats, entity_mask, can_act, team, params: EnvParams, cfg: StaticConfig):
    """``attack_style`` bool[A, 4] and ``attack_target`` bool[A, K] from the entity rows (see module doc)."""
    f = FEATURE_INDEX
    a, k = entity_mask.shape
    rel = feats[..., f["row"]:f["col"] + 1].astype(jnp.int32)
    dist = jnp.max(jnp.abs(rel), axis=-1)  # [A, K]
    is_player = feats[..., f["type"]] == KIND_PLAYER
    ok = entity_mask & (jnp.arange(k) >= 1)[None] & can_act[:, None]
    ok = ok & ~(is_player & (feats[..., f["time_alive"]] < params.spawn_immunity))
    if cfg.num_teams > 0 and cfg.exclude_teammates:
        ok = ok & ~(is_player & (feats[..., f["team"]] == team[:, None]))
    reach = combat.reach_table(params)[1:]  # melee, range, mage
    nearest = jnp.min(jnp.where(ok, dist, 1 << 20), axis=1)  # closest legal row
    style_mask = jnp.concatenate([jnp.ones((a, 1), bool), nearest[:, None] <= reach[None, :]], axis=1)
    target_mask = (ok & (dist <= jnp.max(reach))).at[:, 0].set(True)
    return {"attack_style": style_mask, "attack_target": target_mask}


def economy(state: WorldState, feats, entity_mask, can_act, cfg: StaticConfig):
    """(inventory and market observation, masks of the item heads) for every player (SPEC sections 10-11).

    The masks say what next tick's action phase will do, from the same facts
    (systems/items.py, market.py, gifts.py): the countdowns of vitals run first,
    so the agent can act when its observed freeze is <= 1 and may trade (use,
    buy, give, sell) when its combat status is also <= 1. The market table is
    built once per world and broadcast to its players.
    """
    e = state.entities
    inv = state.inventory
    a, s = inv.item.shape
    k = cfg.entity_rows
    can_trade = can_act & (e.combat_timer[:a] <= 1)
    inv_feats = jnp.stack([inv.item, inv.level, jnp.minimum(inv.quantity, 32767), inv.equipped.astype(jnp.int32),
                           inv.price], axis=-1).astype(jnp.int16)
    low, count = MK.offers(inv)
    market = jnp.stack([low, jnp.minimum(count, 255)], axis=-1).astype(jnp.uint8)
    yes = jnp.ones((a, 1), bool)
    usable = IT.usable(inv, e.levels[:a]) & can_trade[:, None]
    free = jnp.any(inv.item == 0, axis=1)
    giftable = IT.destroyable(inv) & can_trade[:, None]
    # gift targets: other live players of the entity set with a free slot (rows show live entities only)
    f = FEATURE_INDEX
    slots = state.obs_slots
    row_slot = jnp.clip(slots, 0, a - 1)
    is_player = entity_mask & (feats[..., f["type"]] == KIND_PLAYER) & (jnp.arange(k) >= 1)[None]
    target = is_player & free[row_slot] & can_trade[:, None]
    gift_target = jnp.concatenate([yes, target[:, 1:]], axis=1)
    giftable = giftable & jnp.any(target, axis=1)[:, None]
    gold = e.gold[:a]
    gold_target = jnp.concatenate([yes, (is_player & can_trade[:, None] & (gold > 0)[:, None])[:, 1:]], axis=1)
    amounts = (jnp.arange(1, I.MAX_PRICE + 1)[None] <= gold[:, None]) | (jnp.arange(I.MAX_PRICE)[None] == 0)
    # buy: a listed offer not its own, affordable, with room for it (a free slot, or an ammunition stack to join)
    offer_type = jnp.asarray(np.repeat(np.arange(1, I.NUM_TYPES), I.MAX_LEVEL))
    stack_offer = jnp.where(jnp.asarray(I.STACKS)[inv.item] & (inv.price == 0),
                            I.offer_index(inv.item, jnp.clip(inv.level, 1, I.MAX_LEVEL)), I.NUM_OFFERS)
    joins = jnp.zeros((a, I.NUM_OFFERS + 1), bool).at[jnp.arange(a)[:, None], stack_offer].set(True)[:, :-1]
    room = free[:, None] | (joins & jnp.asarray(I.STACKS)[offer_type][None])
    buy = ((count > 0)[None] & ~MK.own_offers(inv) & (gold[:, None] >= low[None]) & room & can_trade[:, None])
    masks = {
        "use": jnp.concatenate([yes, usable], axis=1),
        "destroy": jnp.concatenate([yes, IT.destroyable(inv) & can_act[:, None]], axis=1),
        "sell_item": jnp.concatenate([yes, IT.destroyable(inv) & can_trade[:, None]], axis=1),
        "sell_price": jnp.ones((a, I.MAX_PRICE), bool),
        "buy": jnp.concatenate([yes, buy], axis=1),
        "give_item": jnp.concatenate([yes, giftable], axis=1),
        "give_target": gift_target,
        "give_gold_amount": amounts,
        "give_gold_target": gold_target,
    }
    obs = {"inventory": inv_feats, "inventory_mask": inv.item > 0,
           "market": jnp.broadcast_to(market[None], (a, I.NUM_OFFERS, 2))}
    return obs, masks
