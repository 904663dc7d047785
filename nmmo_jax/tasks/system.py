"""Tasks inside the compiled step: draw at spawn, count events, measure progress, pay for progress.

Once a tick, after the world's systems (``env.step`` calls ``update`` before the
observation):

1. the tick's events are added to every player's counters (``counters.tally``)
   and the tile it stands on to its explored bitmap;
2. every live player's task is measured: each part's predicate gives a
   progress in [0, 1]; a task is the minimum (``all``) or maximum (``any``) of
   its parts;
3. reward = weight x (progress - best so far) where positive, and ``best``
   rises to it. Over a life the rewards telescope to weight x best, so a
   completion pays the weight exactly once, whether progress arrives in one
   step or many, and falling back (gold spent) costs nothing and pays nothing
   until the old best is passed;
4. a player completing a task with ``end_on_completion`` leaves the world
   (its episode ends: ``terminated``, no death penalty; in a persistent world
   its slot respawns like a dead one);
5. players born this tick (respawned) restart their counters and draw a new
   task from the curriculum's weights.

Only players alive at the end of the tick are measured; a death's tick pays
no task reward. Everything is array ops over [A] and [A, MAX_PARTS]; only the
predicates the curriculum uses are evaluated.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nmmo_jax import items as I
from nmmo_jax import rand
from nmmo_jax.state import NEVER, TaskState, WorldState
from nmmo_jax.systems import items as IT
from nmmo_jax.tasks import counters as C
from nmmo_jax.tasks import predicates as P
from nmmo_jax.tasks.curriculum import ALL, MAX_PARTS, Curriculum

# obs["task"]: per part (predicate, subject, target), then (combine, ends, best progress in percent).
PART_FEATURES = ("predicate", "subject", "target")
DESCRIPTOR = tuple(f"part{p}_{f}" for p in range(MAX_PARTS) for f in PART_FEATURES) + (
    "any", "ends", "progress_percent")


def draw(key, cur: Curriculum, count: int):
    """i32[count] task rows drawn with the curriculum's weights (inverse of the cumulative weights).

    One word from the key, hashed with each agent's index (``rand.mix``), gives
    every agent its uniform number: the step draws for every agent every tick
    (only the newborn keep theirs), and the key's generator costs more per word.
    """
    word = rand.words(key, 1)[0]
    spread = jnp.arange(count, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9)
    u = rand.uniform(rand.mix(word + spread))
    edges = jnp.asarray(np.cumsum(cur.weight)[:-1], jnp.float32)
    task = jnp.sum(u[:, None] >= edges[None, :], axis=1).astype(jnp.int32)
    # Weights of 0 are never drawn, even where float rounding puts u on an edge.
    allowed = jnp.asarray(cur.weight > 0)
    last = int(np.flatnonzero(cur.weight > 0)[-1])
    return jnp.where(allowed[task], task, last)


def initial(key, cur: Curriculum | None, num_agents: int) -> TaskState:
    tasks = TaskState(counters=jnp.zeros((num_agents, len(C.COUNTERS)), jnp.int32),
                      explored=jnp.zeros((num_agents, C.EXPLORED_WORDS), jnp.uint32),
                      task=jnp.zeros(num_agents, jnp.int32), best=jnp.zeros(num_agents, jnp.float32))
    if cur is None:
        return tasks
    return tasks.replace(task=draw(key, cur, num_agents))


def measure(cur: Curriculum, state: WorldState, counters, cfg):
    """f32[A]: each player's progress on its task, now."""
    a = cfg.num_agents
    ctx = P.Context(state=state, counters=counters, num_agents=a, map_size=cfg.map_size, border=cfg.border)
    task = state.tasks.task
    pred = jnp.asarray(cur.predicate)[task]
    subj = jnp.asarray(cur.subject)[task]
    targ = jnp.asarray(cur.target)[task]
    parts = jnp.stack([P.progress(ctx, pred[:, p], subj[:, p], targ[:, p], cur.part_predicates(p))
                       for p in range(MAX_PARTS)], 1)
    present = pred > 0
    low = jnp.min(jnp.where(present, parts, 1.0), axis=1)
    high = jnp.max(jnp.where(present, parts, 0.0), axis=1)
    return jnp.where(jnp.asarray(cur.combine)[task] == ALL, low, high)


def update(key, cur: Curriculum, state: WorldState, reports: dict, born, cfg, params, in_play=True):
    """Counts, measures, pays, ends and redraws; returns (state, reward f32[A], facts dict).

    ``reports``: the systems' event reports of the tick (``harvested``, ``econ``,
    ``events``); ``born`` bool[A]: players that (re)spawned this tick, or None
    where nobody can be born (a world that does not respawn: no draws are made).
    ``facts``: ``completed`` bool[A] (reached 1 this tick), ``left`` bool[A]
    (left the world on completion), ``ticks`` i32[A] (their time alive),
    ``task`` i32[A] (the task each player held during the tick), ``gold_left``
    i32[] (the gold the leaving players took out of the world).
    """
    a = cfg.num_agents
    e = state.entities
    alive = e.alive[:a]
    tasks = state.tasks
    counters = C.tally(tasks.counters, a, reports["harvested"], reports.get("econ"), reports.get("events"))
    explored, counters = C.explore(tasks.explored, counters, e.pos[:a], alive, state.tiles.shape[1])
    state = state.replace(tasks=tasks.replace(counters=counters, explored=explored))

    measured = alive & in_play if born is None else alive & ~born & in_play
    progress = measure(cur, state, counters, cfg)
    gain = jnp.where(measured, jnp.maximum(progress - tasks.best, 0.0), 0.0)
    held = tasks.task
    reward = jnp.asarray(cur.reward)[held] * gain
    best = jnp.where(measured, jnp.maximum(tasks.best, progress), tasks.best)
    completed = measured & (best >= 1.0) & (tasks.best < 1.0)
    left = completed & jnp.asarray(cur.ends)[held]
    ticks = e.time_alive[:a]
    gold_left = jnp.sum(jnp.where(left, e.gold[:a], 0))
    if cur.ends.any():  # static: a curriculum without ending tasks pays nothing for leaving
        state = leave(state, left, params, cfg.persistent)

    fresh = state.tasks.replace(best=best)
    if born is not None:
        # Births: fresh counters, explored tiles and a new task.
        new_task = draw(key, cur, a)
        fresh = fresh.replace(
            counters=jnp.where(born[:, None], 0, fresh.counters),
            explored=jnp.where(born[:, None], jnp.uint32(0), fresh.explored),
            task=jnp.where(born, new_task, held),
            best=jnp.where(born, 0.0, best),
        )
    state = state.replace(tasks=fresh)
    return state, reward.astype(jnp.float32), dict(completed=completed, left=left, ticks=ticks, task=held,
                                                   gold_left=gold_left)


def leave(state: WorldState, leaving, params, persistent: bool) -> WorldState:
    """Players that completed an ending task leave: like a death without loot, killer or penalty.

    Their items and gold go with them (the item ledger counts the items as
    removed, so conservation checks still balance); a persistent world
    respawns the slot after ``respawn_delay`` like a dead one.
    """
    a = leaving.shape[0]
    e = state.entities
    inv = state.inventory
    pad = jnp.zeros(e.alive.shape[0] - a, bool)
    gone = jnp.concatenate([leaving, pad])
    respawn_at = state.tick + params.respawn_delay if persistent else NEVER
    e = e.replace(alive=e.alive & ~gone, health=jnp.where(gone, 0, e.health), gold=jnp.where(gone, 0, e.gold),
                  attacker=jnp.where(gone, -1, e.attacker),
                  respawn_tick=jnp.where(gone, respawn_at, e.respawn_tick))
    held = leaving[:, None] & (inv.item > 0)
    # Units per type as a one-hot sum (no scatter: this runs every tick, mostly with nobody leaving).
    kinds = inv.item[..., None] == jnp.arange(I.NUM_TYPES, dtype=inv.item.dtype)
    removed = jnp.sum(jnp.where(held[..., None] & kinds, inv.quantity[..., None], 0), axis=(0, 1))
    ledger = state.item_ledger.at[1].add(removed)
    return state.replace(entities=e, inventory=IT.clear(inv, held), item_ledger=ledger)


def descriptor(cur: Curriculum, tasks: TaskState):
    """i16[A, len(DESCRIPTOR)]: what each player's task asks and how far it has come (obs["task"])."""
    t = tasks.task
    per_part = jnp.stack([jnp.asarray(cur.predicate)[t], jnp.asarray(cur.subject)[t],
                          jnp.asarray(cur.target)[t]], axis=-1).reshape(t.shape[0], -1)
    tail = jnp.stack([jnp.asarray(cur.combine)[t], jnp.asarray(cur.ends.astype(np.int32))[t],
                      jnp.floor(tasks.best * 100).astype(jnp.int32)], axis=-1)
    return jnp.concatenate([per_part, tail], axis=-1).astype(jnp.int16)


def descriptor_bounds():
    """(low, high) per entry of the descriptor, for the observation space."""
    high = []
    for _ in range(MAX_PARTS):
        high += [len(P.PREDICATES), max(P.MAX_SUBJECTS, I.NUM_TYPES) - 1, P.MAX_TARGET]
    high += [1, 1, 100]
    return (0,) * len(high), tuple(high)
