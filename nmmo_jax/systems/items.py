"""Items in players' inventories (SPEC section 7): receiving, equipment, use, destroy, ammunition, loot.

Every function works on the whole ``Inventory`` (players x 12 slots) at once;
an action that does not apply to a player leaves its row untouched, so slot
order never matters except where SPEC names an order.

* ``receive``: one item per player joins a matching unlisted ammunition stack,
  else takes the lowest free slot, else is lost (counted). Every source of items
  (harvest drops, purchases, gifts, loot) goes through it.
* ``equipment``: attack per style, defense and equipment level, derived from
  the equipped flags (at most one item per equipment slot).
* ``use`` / ``destroy`` / ``fire_ammunition``: SPEC's rules, each a no-op when
  its conditions fail.
* ``loot``: on a kill, the victim's items (a player killed by players) or an
  armour piece and a tool at the NPC's level (an NPC killed by players) go to
  one of the player killers, picked by ``combat.tile_priority`` (fair, not by
  slot); the items arrive one at a time through ``receive``, in slot order of
  the victim's inventory (``receive_many``), so what does not fit is lost.
  Everything a dead player still holds is then destroyed.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nmmo_jax import items as I
from nmmo_jax.counting import running_count
from nmmo_jax.state import Inventory


def table(column):
    return jnp.asarray(column)


def effect(tab, item, level):
    """base + per_level * level of an effect table (``items.DEFENSE``, ...) for arrays of types and levels."""
    t = jnp.asarray(tab)
    return t[item, 0] + t[item, 1] * jnp.where(item > 0, level, 0)


def required_level(levels, item):
    """The player's level in the skill an item needs (``items.SKILL``); levels [A, 8], item [A] or [A, S]."""
    skill = table(I.SKILL)[item]
    combat = jnp.max(levels[:, :3], axis=-1)
    if item.ndim == 2:
        own = jnp.take_along_axis(levels, jnp.clip(skill, 0, 7), axis=1)
        return jnp.where(skill == I.HIGHEST_COMBAT, combat[:, None], own)
    own = jnp.take_along_axis(levels, jnp.clip(skill, 0, 7)[:, None], axis=1)[:, 0]
    return jnp.where(skill == I.HIGHEST_COMBAT, combat, own)


def by_type(item, units):
    """i32[17]: ``units`` summed per item type (``item`` 0 counts nowhere)."""
    return jnp.zeros(I.NUM_TYPES, jnp.int32).at[item.reshape(-1)].add(units.reshape(-1)).at[0].set(0)


def clear(inv: Inventory, where) -> Inventory:
    """Empty the slots where ``where`` (bool[A, S])."""
    z = lambda x: jnp.where(where, jnp.zeros_like(x), x)
    return jax.tree_util.tree_map(z, inv)


def matching_stack(inv: Inventory, item, level):
    """bool[A, S]: the unlisted stack each player's incoming ammunition (item, level [A]) would join."""
    stacks = table(I.STACKS)[item]
    return (stacks[:, None] & (inv.item == item[:, None]) & (inv.level == level[:, None]) & (inv.price == 0)
            & (item[:, None] > 0))


def has_room(inv: Inventory, item, level):
    """bool[A]: whether ``receive`` would place (item, level): a matching stack or a free slot."""
    return jnp.any(matching_stack(inv, item, level), axis=1) | jnp.any(inv.item == 0, axis=1)


def receive(inv: Inventory, item, level, quantity, want):
    """Each player where ``want`` receives one stack (item, level, quantity: i32[A]).

    Returns (inventory, landed bool[A], lost bool[A]).
    """
    s = inv.item.shape[1]
    match = matching_stack(inv, item, level)
    has_match = jnp.any(match, axis=1)
    free = inv.item == 0
    target = jnp.where(has_match, jnp.argmax(match, axis=1), jnp.argmax(free, axis=1))
    landed = want & (item > 0) & (has_match | jnp.any(free, axis=1))
    at = (jnp.arange(s)[None] == target[:, None]) & landed[:, None]
    new = at & ~match
    inv = inv.replace(
        item=jnp.where(at, item[:, None], inv.item),
        level=jnp.where(at, level[:, None], inv.level),
        quantity=jnp.where(at, jnp.where(match, inv.quantity, 0) + quantity[:, None], inv.quantity),
        equipped=jnp.where(new, False, inv.equipped),
        price=jnp.where(new, 0, inv.price),
        listed_tick=jnp.where(new, 0, inv.listed_tick),
    )
    return inv, landed, want & (item > 0) & ~landed


def receive_many(inv: Inventory, item, level, quantity, want, leaving=None):
    """Each player receives up to M stacks at once (item, level, quantity, want: [A, M]), as ``receive`` would
    one after another in order m = 0, 1, ...: ammunition joins its first matching unlisted stack (or the
    stack an earlier incoming one of the same type and level started), everything else takes the lowest
    free slots in order, and what finds no room is lost. One shot of [A, M, S] comparisons instead of M
    sequential passes (loot brings up to 12 stacks a tick, harvests up to 3).

    Every incoming stack gets a destination slot index (S: none), so the work is comparisons and plain
    sums over small axes: no gathers (``take_along_axis``) and no argmax, which are slow on the CPU
    under ``vmap``.

    ``leaving`` bool[A, S]: slots whose stacks leave this tick (gifts): nothing joins them.
    Returns (inventory, landed bool[A, M], lost bool[A, M]).
    """
    a, s = inv.item.shape
    m = item.shape[1]
    slot_ids = jnp.arange(s, dtype=jnp.int32)[None, None, :]                                 # [1, 1, S]
    open_stack = inv.price == 0 if leaving is None else (inv.price == 0) & ~leaving
    want = want & (item > 0)
    stacks = table(I.STACKS)[item] & want                                                  # [A, M]
    same = (inv.item[:, None, :] == item[:, :, None]) & (inv.level[:, None, :] == level[:, :, None])
    match = stacks[:, :, None] & same & open_stack[:, None, :]                              # [A, M, S]
    joins = jnp.min(jnp.where(match, slot_ids, s), axis=2)                                 # [A, M], S: none
    has_match = joins < s
    # an incoming stack follows the first earlier incoming stack of its type and level (when neither merges)
    earlier = jnp.tril(jnp.ones((m, m), bool), -1)[None]                                    # [1, m, j]: j < m
    twin = (stacks[:, :, None] & stacks[:, None, :] & ~has_match[:, :, None] & ~has_match[:, None, :]
            & (item[:, :, None] == item[:, None, :]) & (level[:, :, None] == level[:, None, :]) & earlier)
    follows = jnp.any(twin, axis=2)
    leader = twin & ~follows[:, None, :]                                                    # one-hot of the first
    needs = want & ~has_match & ~follows
    rank = jnp.sum(needs[:, None, :] & earlier, axis=2)                                    # among slot-needers
    free = inv.item == 0
    free_rank = jnp.where(free, jnp.cumsum(free, axis=1) - 1, -1)                          # [A, S]
    placed = needs & (rank < jnp.sum(free, axis=1)[:, None])
    into = placed[:, :, None] & (free_rank[:, None, :] == rank[:, :, None])                # [A, M, S] new slots
    new_slot = jnp.min(jnp.where(into, slot_ids, s), axis=2)                               # [A, M]
    lead_slot = jnp.min(jnp.where(leader, new_slot[:, None, :], s), axis=2)
    dest = jnp.where(has_match, joins, jnp.where(follows, lead_slot, new_slot))           # [A, M], S: lost
    landed = dest < s
    to = dest[:, :, None] == slot_ids                                                      # [A, M, S]
    qty_in = jnp.sum(jnp.where(to, quantity[:, :, None], 0), axis=1)                       # [A, S]
    new = jnp.any(into, axis=1)
    new_item = jnp.sum(jnp.where(into, item[:, :, None], 0), axis=1)
    new_level = jnp.sum(jnp.where(into, level[:, :, None], 0), axis=1)
    inv = inv.replace(
        item=jnp.where(new, new_item, inv.item),
        level=jnp.where(new, new_level, inv.level),
        quantity=jnp.where(new, 0, inv.quantity) + qty_in,
        equipped=jnp.where(new, False, inv.equipped),
        price=jnp.where(new, 0, inv.price),
        listed_tick=jnp.where(new, 0, inv.listed_tick),
    )
    return inv, landed, want & ~landed


def equipment(inv: Inventory):
    """(attack i32[A, 4] per attack style 0..3, defense i32[A], equipment level i32[A]) from what is equipped."""
    on = inv.equipped & (inv.item > 0)
    defense = jnp.sum(jnp.where(on, effect(I.DEFENSE, inv.item, inv.level), 0), axis=1)
    attack = jnp.where(on, effect(I.ATTACK, inv.item, inv.level), 0)
    style = table(I.STYLE)[inv.item]
    per_style = jnp.sum(jax.nn.one_hot(style, 4, dtype=jnp.int32) * attack[..., None], axis=1)
    return per_style.at[:, 0].set(0), defense, jnp.sum(jnp.where(on, inv.level, 0), axis=1)


def slot_choice(choice, slots: int):
    """(slot index, valid): a head value 1..slots names slot value-1; 0 and anything else is the no-op."""
    valid = (choice >= 1) & (choice <= slots)
    return jnp.clip(choice - 1, 0, slots - 1), valid


def pick(x, slot):
    return jnp.take_along_axis(x, slot[:, None], axis=1)[:, 0]


def usable(inv: Inventory, levels):
    """bool[A, S]: slots ``use`` would act on: an unlisted item that is equipped (to unequip) or whose level the
    player meets (to equip or consume)."""
    meets = required_level(levels, inv.item) >= inv.level
    return (inv.item > 0) & (inv.price == 0) & (inv.equipped | meets)


def destroyable(inv: Inventory):
    return (inv.item > 0) & ~inv.equipped & (inv.price == 0)


def use(inv: Inventory, entities, choice, can_trade, params, num_agents: int):
    """The ``use`` head: equip, unequip or consume one slot. Returns (inventory, entities, events)."""
    s = inv.item.shape[1]
    a = num_agents
    slot, valid = slot_choice(choice, s)
    levels = entities.levels[:a]
    ok = valid & can_trade & pick(usable(inv, levels), slot)
    item, level = pick(inv.item, slot), pick(inv.level, slot)
    here = (jnp.arange(s)[None] == slot[:, None]) & ok[:, None]
    was_on = pick(inv.equipped, slot)
    unequip = ok & was_on
    equip = ok & ~was_on & table(I.EQUIPABLE)[item]
    consume = ok & (table(I.CLASS)[item] == I.CONSUMABLE)
    same_slot = table(I.EQUIP_SLOT)[inv.item] == table(I.EQUIP_SLOT)[item][:, None]
    equipped = jnp.where(equip[:, None] & same_slot, False, inv.equipped)      # whatever held that slot
    equipped = jnp.where(here & equip[:, None], True, jnp.where(here & unequip[:, None], False, equipped))
    inv = clear(inv.replace(equipped=equipped), here & consume[:, None])
    e = entities
    food_water = jnp.where(consume, effect(I.FOOD_WATER_RESTORE, item, level), 0)
    heal = jnp.where(consume, effect(I.HEALTH_RESTORE, item, level), 0)
    e = e.replace(
        food=e.food.at[:a].set(jnp.minimum(e.food[:a] + food_water, jnp.maximum(e.food[:a], params.max_food))),
        water=e.water.at[:a].set(jnp.minimum(e.water[:a] + food_water, jnp.maximum(e.water[:a], params.max_water))),
        health=e.health.at[:a].set(jnp.minimum(e.health[:a] + heal, jnp.maximum(e.health[:a], params.max_health))),
    )
    return inv, e, dict(equipped=equip, unequipped=unequip, consumed=consume, consumed_item=jnp.where(consume, item, 0))


def destroy(inv: Inventory, choice, can_act):
    """The ``destroy`` head: remove an unequipped, unlisted item. Returns (inventory, destroyed item i32[A], qty)."""
    s = inv.item.shape[1]
    slot, valid = slot_choice(choice, s)
    ok = valid & can_act & pick(destroyable(inv), slot)
    here = (jnp.arange(s)[None] == slot[:, None]) & ok[:, None]
    item, qty = jnp.where(ok, pick(inv.item, slot), 0), jnp.where(ok, pick(inv.quantity, slot), 0)
    return clear(inv, here), item, qty


def fire_ammunition(inv: Inventory, landed_style):
    """One equipped ammunition of the style of each landed attack (``landed_style`` i32[A], 0 none) is used.

    Returns (inventory, fired bool[A], fired item i32[A]); a stack at 0 disappears.
    """
    ammo = inv.equipped & (table(I.CLASS)[inv.item] == I.AMMUNITION)
    fires = ammo & (table(I.STYLE)[inv.item] == landed_style[:, None]) & (landed_style[:, None] > 0)
    item = jnp.sum(jnp.where(fires, inv.item, 0), axis=1)
    quantity = inv.quantity - fires.astype(jnp.int32)
    inv = clear(inv.replace(quantity=quantity), fires & (quantity <= 0))
    return inv, jnp.any(fires, axis=1), item


LOOT_CHUNK = 8  # receivers served per round of ``loot``'s loop


def first_true(flags, count: int):
    """i32[count]: the indices of the first ``count`` True entries of bool[N] (N where there are fewer)."""
    n = flags.shape[0]
    rank = running_count(flags) - 1  # not cumsum: see nmmo_jax/counting.py
    return jnp.full(count, n, jnp.int32).at[jnp.where(flags & (rank < count), rank, count)].set(
        jnp.arange(n, dtype=jnp.int32), mode="drop")


def loot(key, inv: Inventory, looter, npc_looter, npc_level, num_agents: int):
    """Move the items of kills (see the module doc). Returns (inventory, events).

    ``looter`` i32[A]: for each player victim, the player slot that takes its
    items (-1: none, its items are destroyed with it); ``npc_looter`` i32[M]
    and ``npc_level`` i32[M]: for each NPC victim, the player that gets its
    armour piece and tool (-1: none). Events per receiving player: stacks and
    units taken from player victims, NPC drops received, stacks lost for room.
    The victims' rows are left as they were (``economy.loot`` empties them).

    A receiver takes its player victim's S stacks, then its NPC victim's two
    drops, as one ``receive_many`` of S + 2 stacks. Kills are few, so the
    receivers are served ``LOOT_CHUNK`` at a time in a ``while_loop`` (rows
    gathered, received, written back): usually one round of [8, S + 2, S]
    work a tick, or none, instead of [A, S + 2, S] for every player.
    """
    a = num_agents
    s = inv.item.shape[1]
    # Each killer kills at most one entity a tick (one attack), so each receives at most one victim's items.
    victim_of = jnp.full(a, -1, jnp.int32).at[jnp.where(looter >= 0, looter, a)].set(
        jnp.arange(a, dtype=jnp.int32), mode="drop")
    src = jnp.clip(victim_of, 0, a - 1)
    gets = victim_of >= 0
    m = npc_looter.shape[0]
    npc_of = jnp.full(a, -1, jnp.int32).at[jnp.where(npc_looter >= 0, npc_looter, a)].set(
        jnp.arange(m, dtype=jnp.int32), mode="drop")
    gets_npc = npc_of >= 0
    level = jnp.clip(npc_level[jnp.clip(npc_of, 0, m - 1)], 1, I.MAX_LEVEL)
    # the draws follow the NPC victim (its slot), not the looter's, so relabelling players changes nothing
    draws = jax.random.randint(key, (2, m), 0, 1 << 20)[:, jnp.clip(npc_of, 0, m - 1)]
    drops = jnp.stack([jnp.asarray(I.ARMOUR_TYPES)[draws[0] % len(I.ARMOUR_TYPES)],
                       jnp.asarray(I.TOOL_TYPES)[draws[1] % len(I.TOOL_TYPES)]], axis=1)
    drops = jnp.where(gets_npc[:, None], drops, 0)
    # what each player is offered: its victim's stacks (read before anything moves), then its NPC drops
    item = jnp.concatenate([jnp.where(gets[:, None], inv.item[src], 0), drops], axis=1)       # [A, S + 2]
    lvl = jnp.concatenate([inv.level[src], jnp.stack([level, level], 1)], axis=1)
    qty = jnp.concatenate([inv.quantity[src], jnp.ones_like(drops)], axis=1)

    def cond(c):
        return jnp.any(c[1])

    def round_(c):
        inv, pending, landed = c
        rows = first_true(pending, LOOT_CHUNK)
        ok = rows < a
        r = jnp.minimum(rows, a - 1)
        sub = jax.tree_util.tree_map(lambda x: x[r], inv)
        sub, got, _ = receive_many(sub, item[r], lvl[r], qty[r], ok[:, None] & (item[r] > 0))
        at = jnp.where(ok, rows, a)
        inv = jax.tree_util.tree_map(lambda x, y: x.at[at].set(y, mode="drop"), inv, sub)
        return inv, pending.at[at].set(False, mode="drop"), landed.at[at].set(got, mode="drop")

    c0 = (inv, jnp.any(item > 0, axis=1), jnp.zeros(item.shape, bool))
    inv, _, landed = jax.lax.while_loop(cond, round_, c0)
    lose = (item > 0) & ~landed
    won, npc_landed = landed[:, :s], landed[:, s:]
    taken_units = jnp.sum(jnp.where(won, qty[:, :s], 0), axis=1)
    return inv, dict(loot_items=jnp.sum(won, 1), loot_units=taken_units, npc_drops=jnp.sum(npc_landed, 1),
                     loot_lost=jnp.sum(lose, 1), moved_by_type=by_type(item[:, :s], jnp.where(won, qty[:, :s], 0)),
                     created_by_type=by_type(drops, npc_landed.astype(jnp.int32)))


def harvest_drops(draws, inv: Inventory, harvested, params):
    """The items of this tick's harvests (``harvest.harvest``'s ``harvested``; ``draws`` uint32[A] words).

    Each harvest drops its item (``items.HARVEST_DROP``) at level 1, or
    ``min(1 + tool level, 10)`` while the material's tool is held; ore, tree and
    crystal also drop their weapon at the same level with probability
    ``params.weapon_drop_prob``. Returns (inventory, events: dropped and lost
    counts i32[A]).
    """
    from nmmo_jax import rand
    from nmmo_jax import tiles as T
    held_tool = jnp.where(inv.equipped & (table(I.CLASS)[inv.item] == I.TOOL), inv.item, 0)
    held_level = jnp.sum(jnp.where(held_tool > 0, inv.level, 0), axis=1)
    held = jnp.sum(held_tool, axis=1)

    def level_for(material):
        tool = table(I.HARVEST_TOOL)[material]
        return jnp.where((tool > 0) & (held == tool), jnp.minimum(1 + held_level, I.MAX_LEVEL), 1)

    stand = harvested["stand"]
    fish = jnp.where(harvested["fish"], T.FISH, 0)
    weapon = jnp.where(rand.uniform(draws) < params.weapon_drop_prob, table(I.WEAPON_DROP)[stand], 0)
    item = jnp.stack([table(I.HARVEST_DROP)[stand], weapon, table(I.HARVEST_DROP)[fish]], axis=1)
    level = jnp.stack([level_for(stand), level_for(stand), level_for(fish)], axis=1)
    inv, landed, lose = receive_many(inv, item, level, jnp.ones_like(item), item > 0)
    return inv, dict(harvest_items=jnp.sum(landed, 1), harvest_lost=jnp.sum(lose, 1),
                     created_by_type=by_type(item, landed.astype(jnp.int32)))
