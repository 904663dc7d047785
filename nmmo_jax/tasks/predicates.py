"""The predicate table (SPEC section 13): each predicate maps the world to a progress in [0, 1] per agent.

A predicate is one ``Predicate`` entry of ``PREDICATES``: its YAML name, the
name and allowed values of its subject argument (which counter, skill or
item, if it has one), the name and range of its target, and ``progress``, a
pure function ``(ctx, subject i32[A], target i32[A]) -> f32[A]``. Every agent
may hold a different task, so subject and target are per-agent arrays and the
function is evaluated for all agents at once; adding a predicate is one entry
here, and the curriculum loader, the observation and the docs read it.

Progress is measured from a fresh agent, so a new life starts near 0 (a
task's reward is paid for progress made): skills count levels gained above 1,
the distance to the centre counts the way in from the spawn ring.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp

from nmmo_jax import items as I
from nmmo_jax.observe import SKILL_NAMES
from nmmo_jax.tasks.counters import COUNTERS

MAX_TARGET = 30000  # targets ride in the int16 task observation


@dataclass(frozen=True)
class Context:
    """What a predicate reads: the world after the tick and the players' counters (static sizes beside)."""
    state: object          # WorldState
    counters: jnp.ndarray  # i32[A, C]
    num_agents: int
    map_size: int
    border: int


@dataclass(frozen=True)
class Predicate:
    name: str
    doc: str
    subject: str | None                 # YAML key of the subject argument, or None
    subjects: tuple                     # allowed subject names; a subject's id is its index
    target: str                         # YAML key of the target
    target_range: tuple                 # (lo, hi) allowed target values
    progress: Callable


def _ratio(value, target):
    return jnp.clip(value.astype(jnp.float32) / jnp.maximum(target, 1).astype(jnp.float32), 0.0, 1.0)


def _column(x, subject):
    """x[agent, subject[agent]] as a one-hot select (no gather: cheaper under vmap on the CPU)."""
    pick = jnp.arange(x.shape[1], dtype=subject.dtype)[None, :] == subject[:, None]
    return jnp.sum(jnp.where(pick, x, 0), axis=1)


def _count(ctx, subject, target):
    return _ratio(_column(ctx.counters, subject), target)


def _skill(ctx, subject, target):
    level = _column(ctx.state.entities.levels[:ctx.num_agents], subject)
    return _ratio(jnp.maximum(level - 1, 0), target - 1)


def _time_alive(ctx, subject, target):
    return _ratio(ctx.state.entities.time_alive[:ctx.num_agents], target)


def _gold(ctx, subject, target):
    return _ratio(ctx.state.entities.gold[:ctx.num_agents], target)


def _equipped(ctx, subject, target):
    inv = ctx.state.inventory
    match = inv.equipped & (inv.item == subject[:, None])
    return _ratio(jnp.max(jnp.where(match, inv.level, 0), axis=1), target)


def centre_distance(pos, map_size: int):
    """L-infinity tiles from the map's centre (the central 2x2 block of an even side is at 0)."""
    twice = jnp.abs(2 * pos - (map_size - 1))
    return jnp.max(twice, axis=-1) // 2


def _near_centre(ctx, subject, target):
    far = (ctx.map_size - 2 * ctx.border - 1) // 2  # the spawn ring's distance
    d = centre_distance(ctx.state.entities.pos[:ctx.num_agents], ctx.map_size)
    # d <= target is complete even when target >= far (there far - target leaves nothing to measure)
    return jnp.where(d <= target, 1.0, _ratio(far - d, far - target))


EQUIPPABLE = tuple(I.NAMES[t] for t in range(1, I.NUM_TYPES) if I.EQUIP_SLOT[t] >= 0)

PREDICATES = (
    Predicate("count", "the life's event counter reaches n (nmmo_jax.tasks.counters.COUNTERS)",
              "counter", COUNTERS, "n", (1, MAX_TARGET), _count),
    Predicate("skill_level", "a skill reaches level L (progress: levels gained above 1)",
              "skill", SKILL_NAMES, "level", (2, 10), _skill),
    Predicate("time_alive", "alive for T ticks ('horizon': the episode's length)",
              None, (), "ticks", (1, MAX_TARGET), _time_alive),
    Predicate("gold", "holds at least G gold", None, (), "gold", (1, MAX_TARGET), _gold),
    Predicate("equipped", "an item of a type at level L or more is equipped (progress: its level / L)",
              "item", EQUIPPABLE, "level", (1, I.MAX_LEVEL), _equipped),
    Predicate("near_centre", "within d tiles (L-infinity) of the map's centre (progress: the way in from "
                             "the spawn ring)", None, (), "distance", (0, MAX_TARGET), _near_centre),
)
BY_NAME = {p.name: p for p in PREDICATES}
PREDICATE_ID = {p.name: i + 1 for i, p in enumerate(PREDICATES)}  # 0: an empty part
MAX_SUBJECTS = max(len(p.subjects) for p in PREDICATES)


def subject_value(predicate: Predicate, name: str) -> int:
    """The id a predicate's subject is stored as: an index into its subjects (items: the item type id)."""
    if predicate.name == "equipped":
        return I.NAMES.index(name)
    return predicate.subjects.index(name)


def progress(ctx: Context, predicate_id, subject, target, used: tuple) -> jnp.ndarray:
    """f32[A]: the progress of each agent's part (``predicate_id`` 1-based per agent; 0 gives 0).

    ``used`` (static): the predicate ids the curriculum uses; only those are
    evaluated, then each agent's is selected.
    """
    out = jnp.zeros(predicate_id.shape, jnp.float32)
    for pid in used:
        value = PREDICATES[pid - 1].progress(ctx, subject, target)
        out = jnp.where(predicate_id == pid, value, out)
    return out
