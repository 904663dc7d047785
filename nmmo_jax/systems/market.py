"""The market (SPEC section 7): listings locked in sellers' inventories, one offer per (type, level).

* ``offers``: the table every player of a world observes, built once per
  world and tick: for each of the 160 (type, level) pairs, the lowest listed
  price and how many listings there are.
* ``buy``: each buyer names an offer. The buyers of one offer are served one
  at a time in a fair random order (``combat.tile_priority``: it follows the
  buyers' tiles, not their slots); each gets the offer's cheapest remaining
  listing (ties: the oldest, then a random order of the sellers' tiles) when
  it has the gold and the room, else nothing and pays nothing, and the
  listing stays for the next buyer. It runs as rounds of a ``while_loop``: in
  each round every offer serves its next buyer, so a tick costs as many rounds
  as the most-wanted offer has buyers (usually 0 or 1), each O(listings).
  A buyer never buys an offer it lists itself (its mask excludes it), so
  never its own listing.
* ``list_items``: ``sell_item`` + ``sell_price`` locks an unequipped,
  unlisted item at price 1..99 on the tick ``t`` it is made; ``expire`` unlists
  it at the end of tick ``t + 3`` (the tick counter then reads ``t + 4``), so it
  can be bought on ticks ``t + 1 .. t + 3``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from nmmo_jax import items as I
from nmmo_jax.state import Inventory
from nmmo_jax.systems import items as IT

LISTING_TICKS = 3


def offer_of(inv: Inventory):
    """i32[A, S]: the offer index of each listed slot, ``NUM_OFFERS`` where nothing is listed."""
    return jnp.where(inv.price > 0, I.offer_index(inv.item, jnp.clip(inv.level, 1, I.MAX_LEVEL)), I.NUM_OFFERS)


def offers(inv: Inventory):
    """(lowest price i32[160], listing count i32[160]) of the world's market (0, 0 for an empty offer)."""
    o = offer_of(inv).reshape(-1)
    price = inv.price.reshape(-1)
    low = jnp.full(I.NUM_OFFERS, I.MAX_PRICE + 1, jnp.int32).at[o].min(price, mode="drop")
    count = jnp.zeros(I.NUM_OFFERS, jnp.int32).at[o].add(1, mode="drop")
    return jnp.where(count > 0, low, 0), count


def own_offers(inv: Inventory):
    """bool[A, 160]: the offers each player lists on itself (it may not buy them)."""
    a = inv.item.shape[0]
    return jnp.zeros((a, I.NUM_OFFERS + 1), bool).at[jnp.arange(a)[:, None], offer_of(inv)].set(True)[:, :-1]


def list_items(inv: Inventory, item_choice, price_choice, can_trade, tick):
    """``sell_item`` (1..12) + ``sell_price`` (0..98 for prices 1..99). Returns (inventory, listed bool[A])."""
    s = inv.item.shape[1]
    slot, valid = IT.slot_choice(item_choice, s)
    price = price_choice + 1
    ok = valid & can_trade & (price >= 1) & (price <= I.MAX_PRICE) & IT.pick(IT.destroyable(inv), slot)
    here = (jnp.arange(s)[None] == slot[:, None]) & ok[:, None]
    inv = inv.replace(price=jnp.where(here, price[:, None], inv.price),
                      listed_tick=jnp.where(here, tick, inv.listed_tick))
    return inv, ok


def expire(inv: Inventory, tick):
    """Unlist what was listed ``LISTING_TICKS + 1`` or more ticks ago (``tick`` is the counter after this tick)."""
    old = (inv.price > 0) & (tick - inv.listed_tick > LISTING_TICKS)
    return inv.replace(price=jnp.where(old, 0, inv.price)), jnp.sum(old)


def buy(inv: Inventory, gold, choice, can_trade, buyer_prio, seller_prio, tick):
    """The ``buy`` head (1..160 names an offer). Returns (inventory, gold, events).

    ``buyer_prio`` i32[A]: distinct per-tick random priorities (higher is
    served first); ``seller_prio`` i32[A] in 0..2**14: ties between equally
    priced, equally old listings.
    """
    a, s = inv.item.shape
    n = a * s
    offer = jnp.clip(choice - 1, 0, I.NUM_OFFERS - 1)
    pending = can_trade & (choice >= 1) & (choice <= I.NUM_OFFERS)
    idx = jnp.arange(n, dtype=jnp.int32)
    seller_of = idx // s
    me = jnp.arange(a, dtype=jnp.int32)

    def cond(c):
        return jnp.any(c[2])

    def round_(c):
        inv, gold, pending, bought, paid, sold, revenue, earned, sold_count = c
        listed = (inv.price > 0).reshape(-1)
        o_l = offer_of(inv).reshape(-1)
        age = jnp.clip(inv.listed_tick.reshape(-1) - tick + LISTING_TICKS, 0, 3)  # older first
        key = (inv.price.reshape(-1) << 16) | (age << 14) | (seller_prio[seller_of] & 0x3FFF)
        key = jnp.where(listed, key, jnp.iinfo(jnp.int32).max)
        best_key = jnp.full(I.NUM_OFFERS, jnp.iinfo(jnp.int32).max, jnp.int32).at[o_l].min(key, mode="drop")
        best = jnp.full(I.NUM_OFFERS, n, jnp.int32).at[jnp.where(listed & (key == best_key[jnp.minimum(o_l, I.NUM_OFFERS - 1)]), o_l, I.NUM_OFFERS)].min(idx, mode="drop")
        first = jnp.full(I.NUM_OFFERS, -1, jnp.int32).at[jnp.where(pending, offer, I.NUM_OFFERS)].max(
            buyer_prio, mode="drop")
        chosen = pending & (buyer_prio == first[offer])
        l = best[offer]
        exists = l < n
        lc = jnp.minimum(l, n - 1)
        item, level = inv.item.reshape(-1)[lc], inv.level.reshape(-1)[lc]
        qty, price = inv.quantity.reshape(-1)[lc], inv.price.reshape(-1)[lc]
        seller = seller_of[lc]
        ok = chosen & exists & (seller != me) & (gold >= price) & IT.has_room(inv, item, level)
        sold_now = jnp.zeros(n, bool).at[jnp.where(ok, l, n)].set(True, mode="drop").reshape(a, s)
        inv = IT.clear(inv, sold_now)
        inv, _, _ = IT.receive(inv, jnp.where(ok, item, 0), level, qty, ok)
        income = jnp.zeros(a, jnp.int32).at[jnp.where(ok, seller, a)].add(price, mode="drop")
        gold = gold - jnp.where(ok, price, 0) + income
        sold = sold.at[jnp.where(ok, I.offer_index(item, jnp.clip(level, 1, I.MAX_LEVEL)), I.NUM_OFFERS)].add(
            1, mode="drop")
        revenue = revenue.at[jnp.where(ok, I.offer_index(item, jnp.clip(level, 1, I.MAX_LEVEL)), I.NUM_OFFERS)].add(
            price, mode="drop")
        sales_now = jnp.zeros(a, jnp.int32).at[jnp.where(ok, seller, a)].add(1, mode="drop")
        return (inv, gold, pending & ~chosen, bought | ok, paid + jnp.where(ok, price, 0), sold, revenue,
                earned + income, sold_count + sales_now)

    zeros_o = jnp.zeros(I.NUM_OFFERS, jnp.int32)
    zeros_a = jnp.zeros(a, jnp.int32)
    c0 = (inv, gold, pending, jnp.zeros(a, bool), zeros_a, zeros_o, zeros_o, zeros_a, zeros_a)
    inv, gold, _, bought, paid, sold, revenue, earned, sold_count = jax.lax.while_loop(cond, round_, c0)
    # per player: bought, paid (as buyer), earned and sold_count (as seller); per offer: sales and volume
    return inv, gold, dict(bought=bought, paid=paid, earned=earned, sold_count=sold_count, offer_sales=sold,
                           offer_volume=revenue)
