"""The economy's phases of a tick, in SPEC section 4's order (the rules are in items.py, market.py, gifts.py).

``env.step`` calls them where they stand in the tick:

* ``trade`` (action phase, before attacks): use, buy, give and give gold, then
  destroy. Combat status is read once, at the start of the action phase,
  after the countdowns of vitals, so every blocked head sees the same status
  the masks predicted;
* ``fire``: after attacks, the ammunition of each landed attack is used;
* ``sell``: after movement, new listings;
* ``loot``: with deaths, the items of kills change hands and everything else a
  dead player held is destroyed;
* ``settle``: at the end of the tick, old listings expire and every entity's
  ``equipment_level`` is brought up to date.

Each returns the state and a dict of per-player (or per-world) event counts
that ``env.step`` turns into ``info`` metrics.
"""
from __future__ import annotations

import jax.numpy as jnp

from nmmo_jax import items as I
from nmmo_jax import rand
from nmmo_jax.state import WorldState
from nmmo_jax.systems import combat, gifts
from nmmo_jax.systems import items as IT
from nmmo_jax.systems import market as MK


def _priorities(seed, state: WorldState, num_agents: int):
    """Fair per-tick random priorities of the players (distinct, following tiles, not slots)."""
    prio, low = combat.tile_priority(seed, state.entities.pos[:num_agents], state.tiles.shape[1])
    bits = max(1, int(num_agents).bit_length())
    return prio, (prio >> bits) & 0x3FFF


def trade(key, state: WorldState, head, params, num_agents: int):
    """Use, buy, give, give gold and destroy (``head(name)`` gives the players' i32[A] actions)."""
    a = num_agents
    e = state.entities
    inv = state.inventory
    can_act = e.alive[:a] & (e.freeze[:a] <= 0)
    can_trade = can_act & (e.combat_timer[:a] <= 0)
    seeds = rand.words(key, 2)
    buyer_prio, seller_tie = _priorities(seeds[0], state, a)
    giver_prio, _ = _priorities(seeds[1], state, a)

    inv, e, used = IT.use(inv, e, head("use"), can_trade, params, a)
    inv, gold, bought = MK.buy(inv, e.gold[:a], head("buy"), can_trade, buyer_prio, seller_tie, state.tick)
    free = jnp.any(inv.item == 0, axis=1)
    target, ok = gifts.receiver(state.obs_slots, head("give_target"), a, e.alive[:a])
    inv, gave = gifts.give_items(inv, head("give_item"), target, ok & free[target], can_trade, giver_prio)
    target, ok = gifts.receiver(state.obs_slots, head("give_gold_target"), a, e.alive[:a])
    gold, gold_given, gold_received = gifts.give_gold(gold, head("give_gold_amount"), target, ok, can_trade)
    inv, destroyed, destroyed_qty = IT.destroy(inv, head("destroy"), can_act)
    e = e.replace(gold=e.gold.at[:a].set(gold))
    events = dict(used, **bought, gave=gave, gold_given=gold_given, gold_received=gold_received, destroyed=destroyed, destroyed_qty=destroyed_qty)
    state = state.replace(entities=e, inventory=inv, market_sales=bought["offer_sales"],
                          market_volume=bought["offer_volume"])
    return state, events


def fire(state: WorldState, landed_style, num_agents: int):
    inv, fired, fired_item = IT.fire_ammunition(state.inventory, landed_style[:num_agents])
    return state.replace(inventory=inv), dict(fired=fired, fired_item=fired_item)


def sell(state: WorldState, head, num_agents: int):
    e = state.entities
    a = num_agents
    can_trade = e.alive[:a] & (e.freeze[:a] <= 0) & (e.combat_timer[:a] <= 0)
    inv, listed = MK.list_items(state.inventory, head("sell_item"), head("sell_price"), can_trade, state.tick)
    return state.replace(inventory=inv), dict(listed=listed)


def loot(key, state: WorldState, combat_events, died, num_agents: int):
    """Kills' items to their looters, then dead players' inventories are emptied (``died``: this tick's deaths)."""
    a = num_agents
    e = state.entities
    inv = state.inventory
    held = jnp.sum(jnp.where(inv.item > 0, inv.quantity, 0), axis=1)
    if combat_events is not None:
        looter = combat_events["looter"]
        npc_level = jnp.max(e.levels[a:], axis=1)
        inv, ev = IT.loot(key, inv, looter[:a], looter[a:], npc_level, a)
    else:
        z = jnp.zeros(a, jnp.int32)
        zt = jnp.zeros(I.NUM_TYPES, jnp.int32)
        ev = dict(loot_items=z, loot_units=z, npc_drops=z, loot_lost=z, moved_by_type=zt, created_by_type=zt)
    dead = died[:a]
    # what dead players held and no killer took is destroyed with them (units)
    destroyed = jnp.sum(jnp.where(dead, held, 0)) - jnp.sum(ev["loot_units"])
    dead_units = IT.by_type(state.inventory.item, jnp.where(dead[:, None], state.inventory.quantity, 0))
    inv = IT.clear(inv, jnp.broadcast_to(dead[:, None], inv.item.shape))
    return state.replace(inventory=inv), dict(ev, destroyed_at_death=destroyed,
                                              destroyed_by_type=dead_units - ev["moved_by_type"])


def settle(state: WorldState, num_agents: int):
    inv, expired = MK.expire(state.inventory, state.tick)
    _, _, level = IT.equipment(inv)
    e = state.entities
    e = e.replace(equipment_level=e.equipment_level.at[:num_agents].set(level))
    return state.replace(inventory=inv, entities=e), dict(expired=expired)


def equipment_bonus(state: WorldState):
    attack, defense, _ = IT.equipment(state.inventory)
    return attack, defense


def totals(state: WorldState, num_agents: int):
    """(gold held by live players, item units held per type i32[17]) for metrics and conservation checks."""
    inv = state.inventory
    gold = jnp.sum(jnp.where(state.entities.alive[:num_agents], state.entities.gold[:num_agents], 0))
    units = jnp.zeros(I.NUM_TYPES, jnp.int32).at[inv.item.reshape(-1)].add(inv.quantity.reshape(-1))
    return gold, units.at[0].set(0)


