"""Combat (SPEC section 5): which attacks land, damage, combat status, freeze, kills and loot.

Every live entity makes at most one attack a tick: a style (1 melee, 2 range,
3 mage; 0 or anything else is no attack) and a target slot. Players name a row
of their own last entity set (``WorldState.obs_slots`` turns it into a slot);
NPCs choose a slot in npc.py. All attacks of a tick are resolved together from
the same state, and the damage to one target is the scatter-add of its
attackers' damage, so the outcome never depends on slot order. (SPEC's "players
by index, then NPCs" order within a priority has nothing left to decide: no
attack of a tick sees the effect of another, and an entity killed this tick
still makes its own attack, as everyone acted from the same observation.)

An attack lands when all of these hold, and is a no-op otherwise:

* the attacker is alive and not frozen, and the style is 1..3;
* the target is another live entity within the style's reach (L-infinity);
* it is not an NPC attacking an NPC;
* it is not a player attacking a player that has lived fewer than
  ``spawn_immunity`` whole ticks (spawn immunity; NPCs may attack anyone);
* with teams and ``exclude_teammates``, it is not a player attacking a team-mate.

These are exactly the conditions of the observation's attack masks, evaluated
on the same facts (observe.py), so a legal action always lands and an illegal
one never does.

Damage (Neural MMO 2): ``floor(max(mult * offense - defense, 0.25 * offense))``.
A player's offense is ``10 + 5 * level of the style used``, its defense
``5 * highest skill level`` (equipment adds nothing until items exist); an
NPC's are drawn at spawn. ``mult`` is 1.5 when the style beats the target's
main style (mage > melee > range > mage).

Classic (``classic_combat``, Neural MMO 1): a d20 roll hits when
``roll >= DC = 0.3 * defense + 0.7 * target's level in the attacker's style -
attacker's style level + 10``, and a 20 always hits. SPEC's "defense" is read
as the target's highest skill level (the level our defense is built from; the
v1 defense skill does not exist here). DC is compared in tenths, in integers,
so no float rounding can move a threshold. A hit deals ``floor(7 + 63L/99)``
(melee), ``floor(3 + 32L/99)`` (range) or ``floor(1 + 24L/99)`` (mage) with L
the attacker's style level; a miss deals 1; a mage hit freezes the target.

Choices where SPEC is silent:

* Kill credit: a target whose health is at or below 0 after this tick's
  attacks is killed by every entity whose attack landed on it this tick. Its
  gold goes in equal shares (floor) to those killers that are players and
  still alive; the remainder, and the gold of a victim with no such killer, is
  destroyed. NPCs carry gold equal to their level, so a lone player killing an
  NPC gains exactly the NPC's level (SPEC section 8).
* Every landed attack (a classic miss included) puts attacker and target in
  combat status; XP (``xp_per_hit`` to the style used) is paid per landed
  attack, and under classic rules per hit only.
* ``Entities.attacker`` remembers who attacked an entity last; when several
  attack it on one tick, one of them is picked by a random priority drawn each
  tick that follows tiles, not slots (``tile_priority``). NPCs use it to fight
  back (npc.py).
* The classic d20 rolls are drawn per attacker slot, like every other
  independent per-entity draw of the world.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import rand
from nmmo_jax.config import EnvParams, StaticConfig
from nmmo_jax.state import WorldState
from nmmo_jax.systems import skills

NO_ATTACK, MELEE_STYLE, RANGE_STYLE, MAGE_STYLE = 0, 1, 2, 3
NUM_STYLES = 4  # the attack_style head: no-op + three styles
STYLE_NAMES = ("none", "melee", "range", "mage")
# BEATS[style] is the skill column of the main style that ``style`` beats:
# melee beats range, range beats mage, mage beats melee. -2 never matches.
BEATS = np.array([-2, skills.RANGE, skills.MAGE, skills.MELEE], np.int32)
# Classic hit damage floor(a + b * L / 99) per style: (a, b).
CLASSIC_DAMAGE = np.array([[0, 0], [7, 63], [3, 32], [1, 24]], np.int32)
DICE_SIDES = 20


def reach_table(params: EnvParams):
    """i32[4]: reach of each style; the no-op style reaches nothing (-1)."""
    return jnp.stack([jnp.asarray(-1, jnp.int32), jnp.asarray(params.melee_reach, jnp.int32),
                      jnp.asarray(params.range_reach, jnp.int32), jnp.asarray(params.mage_reach, jnp.int32)])


def main_style(xp):
    """Skill column (0 melee, 1 range, 2 mage) of the combat skill with the most XP; -1 if all equal.

    Neural MMO 2's rule: ties among the top skills go to the first of them.
    """
    combat = xp[..., :3]
    top = jnp.argmax(combat, axis=-1).astype(jnp.int32)
    return jnp.where(jnp.max(combat, -1) == jnp.min(combat, -1), -1, top)


def weakness_multiplier(style, target_xp, params: EnvParams):
    """``weakness_multiplier`` where ``style`` (1..3) beats the target's main style, else 1."""
    beats = jnp.asarray(BEATS)[jnp.clip(style, 0, 3)] == main_style(target_xp)
    return jnp.where(beats, params.weakness_multiplier, 1.0).astype(jnp.float32)


def player_offense(style_level, params: EnvParams):
    return params.base_offense + params.offense_per_level * style_level


def player_defense(levels, params: EnvParams):
    """Defense from the highest of the eight skill levels (``levels`` [..., 8])."""
    return params.defense_per_level * jnp.max(levels, axis=-1)


def damage(offense, defense, mult, params: EnvParams):
    """floor(max(mult * offense - defense, min_damage_fraction * offense)) as int32."""
    offense = jnp.asarray(offense, jnp.float32)
    raw = jnp.maximum(mult * offense - defense, params.min_damage_fraction * offense)
    return jnp.floor(raw).astype(jnp.int32)


def classic_hit_damage(style, level):
    """floor(a + b * level / 99) for the style's (a, b), in exact integer arithmetic."""
    ab = jnp.asarray(CLASSIC_DAMAGE)[jnp.clip(style, 0, 3)]
    return (ab[..., 0] * 99 + ab[..., 1] * level) // 99


def classic_dc_tenths(defense_level, target_style_level, attacker_level):
    """10 x DC = 3 * defense + 7 * target style level - 10 * attacker level + 100 (exact)."""
    return 3 * defense_level + 7 * target_style_level - 10 * attacker_level + 100


def classic_hits(roll, dc_tenths):
    """A d20 ``roll`` (1..20) hits when roll >= DC, and always on a 20."""
    return (10 * roll >= dc_tenths) | (roll == DICE_SIDES)


def tile_priority(seed, pos, width: int, total_bits: int = 30):
    """Distinct random priorities (< 2**total_bits) that follow the entity's tile, not its slot.

    High bits: a hash of the tile index mixed with ``seed``, a random uint32
    drawn each tick (murmur3's finaliser); low bits: the slot index, which only breaks ties
    between entities on the same tile. Used wherever one of several entities
    must be picked at random, so that relabelling slots changes nothing.
    """
    n = pos.shape[0]
    bits = max(1, int(n).bit_length())
    h = rand.mix((pos[:, 0] * width + pos[:, 1]).astype(jnp.uint32) ^ seed)
    high = (h >> (32 - (total_bits - bits))).astype(jnp.int32)
    return (high << bits) | jnp.arange(n, dtype=jnp.int32), (1 << bits) - 1


def player_targets(state: WorldState, row, entity_rows: int):
    """Slot named by each player's ``attack_target`` row (-1: row 0 = self, empty or out of range)."""
    a = state.obs_slots.shape[0]
    ok = (row >= 1) & (row < entity_rows)
    slot = state.obs_slots[jnp.arange(a), jnp.clip(row, 0, entity_rows - 1)]
    return jnp.where(ok, slot, -1)


def resolve(key, state: WorldState, style, target, params: EnvParams, cfg: StaticConfig, equipment=None):
    """Resolve every entity's attack (``style``, ``target`` slot: i32[N]) at once.

    ``equipment``: (attack i32[A, 4] per style, defense i32[A]) of the players'
    equipped items (``items.equipment``), added to their offense and defense.

    Returns (state, events) where events holds per-slot arrays for metrics:
    ``landed`` (its attack landed), ``dealt``, ``dealt_to_players`` (the part of
    ``dealt`` that hit a player), ``taken``, ``killed`` (died of
    this tick's attacks), ``by_player`` / ``by_npc`` (killed with a player /
    an NPC among the killers), ``looter`` (for a victim, the one living player
    killer that takes its items, picked by ``tile_priority``; -1 none) and
    ``style`` (the style of each entity's landed attack, 0 none).
    """
    e = state.entities
    n = e.alive.shape[0]
    a = cfg.num_agents
    slot = jnp.arange(n, dtype=jnp.int32)
    draws = rand.words(key, n + 1)  # d20 rolls (classic) and the attacker-priority seed

    style_ok = (style >= 1) & (style <= 3)
    s = jnp.where(style_ok, style, 0)
    tgt = jnp.clip(target, 0, n - 1)
    is_player = slot < a
    t_player = tgt < a
    dist = jnp.max(jnp.abs(e.pos - e.pos[tgt]), axis=1)
    lands = (e.alive & (e.freeze <= 0) & style_ok & (target >= 0) & (target < n) & (target != slot)
             & e.alive[tgt] & (dist <= reach_table(params)[s]) & (is_player | t_player))
    pvp = is_player & t_player
    # time_alive already counts this tick: "lived fewer than spawn_immunity whole ticks".
    lands = lands & ~(pvp & (e.time_alive[tgt] <= params.spawn_immunity))
    if cfg.num_teams > 0 and cfg.exclude_teammates:
        lands = lands & ~(pvp & (e.team == e.team[tgt]))

    skill = jnp.maximum(s - 1, 0)
    att_level = jnp.take_along_axis(e.levels, skill[:, None], axis=1)[:, 0]
    t_levels = e.levels[tgt]
    if cfg.classic_combat:
        roll = rand.integers(draws[:n], 1, DICE_SIDES + 1)
        t_style_level = jnp.take_along_axis(t_levels, skill[:, None], axis=1)[:, 0]
        hit = classic_hits(roll, classic_dc_tenths(jnp.max(t_levels, -1), t_style_level, att_level))
        dmg = jnp.where(hit, classic_hit_damage(s, att_level), 1)
        trains = lands & hit
        freezes = lands & hit & (s == MAGE_STYLE)
    else:
        offense = jnp.where(is_player, player_offense(att_level, params), e.npc_offense)
        defense = jnp.where(t_player, player_defense(t_levels, params), e.npc_defense[tgt])
        if equipment is not None:
            eq_attack, eq_defense = equipment
            pad = jnp.zeros(n - a, jnp.int32)
            bonus = jnp.concatenate([jnp.take_along_axis(eq_attack, s[:a, None], axis=1)[:, 0], pad])
            offense = offense + jnp.where(is_player, bonus, 0)
            defense = defense + jnp.where(t_player, jnp.concatenate([eq_defense, pad])[tgt], 0)
        dmg = damage(offense, defense, weakness_multiplier(s, e.xp[tgt], params), params)
        trains = lands
        freezes = None
    dmg = jnp.where(lands, dmg, 0)

    at = jnp.where(lands, tgt, n)  # scatter index; n drops no-ops
    taken = jnp.zeros(n, jnp.int32).at[at].add(dmg, mode="drop")
    attacked = jnp.zeros(n, jnp.int32).at[at].add(1, mode="drop") > 0
    health = jnp.where(attacked, jnp.maximum(e.health - taken, 0), e.health)

    status = jnp.where(lands | attacked, params.combat_status_ticks, e.combat_timer)
    freeze = e.freeze
    if freezes is not None:
        frozen = jnp.zeros(n, jnp.int32).at[jnp.where(freezes, tgt, n)].max(1, mode="drop") > 0
        freeze = jnp.where(frozen, jnp.maximum(freeze, params.freeze_ticks), freeze)

    prio, low = tile_priority(draws[n], e.pos, state.tiles.shape[1])
    best = jnp.full(n, -1, jnp.int32).at[at].max(prio, mode="drop")
    attacker = jnp.where(best >= 0, best & low, e.attacker)

    gain_xp = jnp.where(trains & is_player, params.xp_per_hit, 0)
    xp_gain = jax.nn.one_hot(skill, e.xp.shape[1], dtype=jnp.int32) * gain_xp[:, None]

    # Kills and loot: every landed attacker of a victim shares the kill; living player killers share the gold.
    killed = e.alive & attacked & (health <= 0)
    killer = lands & killed[tgt]
    looter = killer & is_player & (health > 0)
    looters = jnp.zeros(n, jnp.int32).at[jnp.where(looter, tgt, n)].add(1, mode="drop")
    share = e.gold // jnp.maximum(looters, 1)
    gold_looted = share * looters
    lost_in_kill = e.gold - gold_looted
    gold = e.gold + jnp.where(looter, share[tgt], 0)
    gold = jnp.where(killed, 0, gold)
    top = jnp.full(n, -1, jnp.int32).at[jnp.where(looter, tgt, n)].max(prio, mode="drop")
    item_looter = jnp.where(killed & (top >= 0), top & low, -1)
    by_player = jnp.zeros(n, jnp.int32).at[jnp.where(killer & is_player, tgt, n)].max(1, mode="drop") > 0
    by_npc = jnp.zeros(n, jnp.int32).at[jnp.where(killer & ~is_player, tgt, n)].max(1, mode="drop") > 0

    e = e.replace(health=health, combat_timer=status, freeze=freeze, attacker=attacker, gold=gold)
    e = skills.add_xp(e, xp_gain)
    events = dict(landed=lands, dealt=dmg, dealt_to_players=jnp.where(t_player, dmg, 0), taken=taken,
                  killed=killed, by_player=by_player & killed, by_npc=by_npc & killed, looter=item_looter,
                  style=jnp.where(lands, s, 0),
                  # per attacker: the kind of the entity its landed attack killed (-1: no kill), gold it looted
                  kill_kind=jnp.where(killer, e.kind[tgt], -1), gold_looted=jnp.where(looter, share[tgt], 0),
                  # per victim: gold its player killers took, and what the kill destroyed (a share's remainder,
                  # or all of it without a living player killer)
                  gold_taken=jnp.where(killed, gold_looted, 0), gold_destroyed=jnp.where(killed, lost_in_kill, 0))
    return state.replace(entities=e), events
