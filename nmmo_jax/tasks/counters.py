"""Per-agent event counters of the current life (SPEC section 13), tallied from what the systems report.

Each system already returns what happened on the tick, per player (harvest:
what was eaten, drunk and gathered; the economy: what was used, bought, sold,
given, fired; combat: damage and kills). ``tally`` turns those reports into
one i32[A, C] increment and adds it, so the systems need no knowledge of
tasks and a new counter is one entry of ``COUNTERS`` plus one line in
``tally``. Counters restart at every (re)spawn (``tasks.system``).

Tiles explored: an exact count of distinct tiles needs a bit per tile per
agent (1,024 agents x 160 x 160 tiles on the large preset is 3 MB a world,
copied every tick). Instead every tile an agent stands on at the end of a tick
is hashed (``rand.mix`` of its flat index) to one of ``EXPLORED_BITS`` = 1,024
bits of the agent's own bitmap, and the counter is the number of bits set. It
is exact until two visited tiles share a bit; with n distinct tiles the
expected count is 1024 (1 - (1 - 1/1024)^n), i.e. n - n^2/2048 for small n:
127 (not 128) after 128 distinct tiles, 220 after 250. It never over-counts,
and staying on one tile never adds. The memory is 128 bytes an agent on any
map size.
"""
from __future__ import annotations

import jax.numpy as jnp

from nmmo_jax import rand
from nmmo_jax import tiles as T
from nmmo_jax.state import KIND_AGGRESSIVE, KIND_NEUTRAL, KIND_PASSIVE, KIND_PLAYER

COUNTERS = (
    "eat", "drink",                                   # foliage eaten, water drunk (ticks)
    "harvest_fish", "harvest_herb", "harvest_ore", "harvest_tree", "harvest_crystal",
    "items_consumed", "items_equipped", "items_destroyed", "ammunition_fired",
    "gold_earned",                                    # from sales, gifts received and kills' loot
    "gold_spent",                                     # on purchases and gold given
    "items_sold", "items_bought", "items_given",
    "kills_passive", "kills_neutral", "kills_aggressive",  # NPC kills by kind (a shared kill counts for each)
    "kills_player",
    "damage_dealt", "damage_taken",
    "tiles_explored",                                 # distinct tiles stood on (hashed, see above)
)
INDEX = {name: i for i, name in enumerate(COUNTERS)}
EXPLORED_WORDS = 32
EXPLORED_BITS = 32 * EXPLORED_WORDS
_TILE_SALT = 0x68E31DA4


def tally(counters, num_agents: int, harvested, econ=None, events=None):
    """counters i32[A, C] plus this tick's events (the systems' reports; ``econ``/``events`` None when off)."""
    a = num_agents
    zero = jnp.zeros(a, jnp.int32)
    stand = harvested["stand"]
    col = {
        "eat": stand == T.FOLIAGE,
        "drink": harvested["drink"],
        "harvest_fish": harvested["fish"],
        "harvest_herb": stand == T.HERB,
        "harvest_ore": stand == T.ORE,
        "harvest_tree": stand == T.TREE,
        "harvest_crystal": stand == T.CRYSTAL,
    }
    if econ:
        trade = econ["trade"]
        col.update(
            items_consumed=trade["consumed"], items_equipped=trade["equipped"],
            items_destroyed=trade["destroyed"] > 0, items_bought=trade["bought"], items_given=trade["gave"],
            items_sold=trade["sold_count"], gold_spent=trade["paid"] + trade["gold_given"],
            gold_earned=trade["earned"] + trade["gold_received"])
        if "fire" in econ:
            col["ammunition_fired"] = econ["fire"]["fired"]
    if events is not None:
        kind = events["kill_kind"][:a]
        col.update(
            kills_passive=kind == KIND_PASSIVE, kills_neutral=kind == KIND_NEUTRAL,
            kills_aggressive=kind == KIND_AGGRESSIVE, kills_player=kind == KIND_PLAYER,
            damage_dealt=events["dealt"][:a], damage_taken=events["taken"][:a],
            gold_earned=col.get("gold_earned", zero) + events["gold_looted"][:a])
    add = jnp.stack([jnp.asarray(col.get(name, zero)).astype(jnp.int32) for name in COUNTERS], axis=1)
    return counters + add


def explore(explored, counters, pos, alive, map_width: int):
    """Mark each live agent's tile in its bitmap; ``tiles_explored`` counts the bits newly set."""
    flat = (pos[:, 0] * map_width + pos[:, 1]).astype(jnp.uint32)
    h = rand.mix(flat ^ jnp.uint32(_TILE_SALT)) % jnp.uint32(EXPLORED_BITS)
    word = (h >> 5).astype(jnp.int32)
    bit = jnp.uint32(1) << (h & jnp.uint32(31))
    # One-hot over the 32 words (no scatter): the word index selects where the bit goes.
    hit = jnp.arange(EXPLORED_WORDS, dtype=jnp.int32)[None, :] == word[:, None]
    add = jnp.where(hit & alive[:, None], bit[:, None], jnp.uint32(0))
    new = (jnp.sum(jnp.where(hit, explored, 0), axis=1) & bit) == 0
    explored = explored | add
    fresh = (new & alive).astype(jnp.int32)
    return explored, counters.at[:, INDEX["tiles_explored"]].add(fresh)
