"""Gifts (SPEC section 7): ``give_item`` + ``give_target`` and ``give_gold_amount`` + ``give_gold_target``.

The receiver is a row of the giver's own entity set (``WorldState.obs_slots``,
as for attacks): another live player it sees. Nothing moves between the
observation and this phase of the tick, so that row is still in its window.

* An item gift moves an unequipped, unlisted item (a whole stack) when the
  receiver has room. Several gifts to one receiver land one at a time in the
  tick's fair random order (``combat.tile_priority`` of the givers' tiles)
  while room lasts: rounds of a ``while_loop`` in which every receiver takes
  its next gift through ``items.receive`` (so ammunition stacks merge); a
  gift that finds no room stays with its giver.
* A gold gift moves 1..99 gold (``give_gold_amount`` 0..98) when the giver has
  it. Gold needs no room, so all gold gifts of a tick land at once.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nmmo_jax.state import Inventory
from nmmo_jax.systems import items as IT


def receiver(obs_slots, row, num_agents: int, alive):
    """(player slot, valid) named by each giver's target row: another live player of its entity set."""
    k = obs_slots.shape[1]
    me = jnp.arange(num_agents)
    slot = obs_slots[me, jnp.clip(row, 0, k - 1)]
    ok = (row >= 1) & (row < k) & (slot >= 0) & (slot < num_agents) & (slot != me)
    ok = ok & alive[jnp.clip(slot, 0, num_agents - 1)]
    return jnp.clip(slot, 0, num_agents - 1), ok


def give_items(inv: Inventory, item_choice, target, target_ok, can_trade, prio):
    """Returns (inventory, gave bool[A]: the giver's gift landed)."""
    a, s = inv.item.shape
    slot, valid = IT.slot_choice(item_choice, s)
    pending = valid & can_trade & target_ok & IT.pick(IT.destroyable(inv), slot)

    def cond(c):
        return jnp.any(c[1])

    def round_(c):
        inv, pending, gave = c
        top = jnp.full(a, -1, jnp.int32).at[jnp.where(pending, target, a)].max(prio, mode="drop")
        chosen = pending & (prio == top[target])
        item = jnp.where(chosen, IT.pick(inv.item, slot), 0)
        level, qty = IT.pick(inv.level, slot), IT.pick(inv.quantity, slot)
        # one chosen gift per receiver this round: lay each on its receiver's row
        at = jnp.where(chosen, target, a)
        r_item = jnp.zeros(a, jnp.int32).at[at].set(item, mode="drop")
        r_level = jnp.zeros(a, jnp.int32).at[at].set(level, mode="drop")
        r_qty = jnp.zeros(a, jnp.int32).at[at].set(qty, mode="drop")
        room = IT.has_room(inv, r_item, r_level)
        ok = chosen & room[target]
        inv = IT.clear(inv, (jnp.arange(s)[None] == slot[:, None]) & ok[:, None])
        takes = jnp.zeros(a, bool).at[jnp.where(ok, target, a)].set(True, mode="drop")
        inv, _, _ = IT.receive(inv, jnp.where(takes, r_item, 0), r_level, r_qty, takes)
        return inv, pending & ~chosen, gave | ok

    inv, _, gave = jax.lax.while_loop(cond, round_, (inv, pending, jnp.zeros(a, bool)))
    return inv, gave


def give_gold(gold, amount_choice, target, target_ok, can_trade):
    """Returns (gold i32[A], given i32[A] per giver, received i32[A] per receiver)."""
    a = gold.shape[0]
    amount = amount_choice + 1
    ok = can_trade & target_ok & (amount >= 1) & (amount <= 99) & (gold >= amount)
    given = jnp.where(ok, amount, 0)
    received = jnp.zeros(a, jnp.int32).at[jnp.where(ok, target, a)].add(given, mode="drop")
    return gold - given + received, given, received
