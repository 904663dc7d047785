"""PPO fused with the world into one compiled graph.

``make_train(config)`` returns a ``Trainer`` whose pieces are pure functions:

* ``init(key) -> Runner``: networks, optimiser, a batch of worlds, RNG;
* ``update_chunk(runner) -> (runner, metrics)``: ``train.updates_per_chunk``
  updates as one ``lax.scan``, compiled once; ``train.py`` calls it in a loop
  and logs and checkpoints between calls;
* ``train(key) -> (runner, metrics)``: the whole run as one pure function.

One update: a rollout of ``rollout_len`` ticks over ``num_envs`` worlds (a
``lax.scan``; all agents share one policy, the batch is envs x agents slots),
GAE, then ``update_epochs`` epochs of ``num_minibatches`` minibatches (nested
scans). Minibatches split the slots and keep whole sequences, so the same code
serves the feed-forward and the recurrent model.

Masks and episode boundaries (DESIGN section 5):
* a slot is *valid* at a tick when its agent is alive and its world is not
  over; invalid steps (dead, waiting to respawn, finished world) are left out
  of the loss, the entropy and the advantage normalisation (``jnp.where``, so
  their values cannot leak even as NaN);
* a death ends the slot's episode with no bootstrap; a horizon truncation
  bootstraps from the value of the final observation; either cuts the GAE
  chain; the recurrent state resets on the first step after any boundary.

With ``train.persistent_worlds`` the run trains in a persistent copy of the
world: a dead slot respawns after ``params.respawn_delay`` ticks and the live
agents are truncated every ``horizon`` ticks, so nearly every slot-tick is a
learning sample. (In a non-persistent small world random agents live ~36 of
128 ticks: two thirds of the compute would go to dead slots.) With
``train.restart_at_horizon`` (the default) each training world still restarts
(new map, everyone fresh) when its live agents are truncated at the horizon:
a policy trained only in long-running worlds meets the crowded start of a
fresh world, all agents hungry at once, for the first time in evaluation (on
small: 1.95x random in evaluation while living 148 ticks on average in its
never-ending training worlds). Evaluation plays the world as configured. With
``train.persistent_worlds: false`` worlds are never reset inside a rollout (that would
cost a map generation per tick under vmap); a finished world idles, masked,
and is reset at the start of the next rollout.

Data parallel: pass a ``jax.sharding.Mesh`` with one axis ``data`` and the
world batch (and everything per slot) is sharded over its devices while the
parameters are replicated; the loss is a mean over the global batch, so XLA
averages gradients across devices. The same program runs on one CPU, several
GPUs, or several hosts after ``jax.distributed.initialize()``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import nmmo_jax
from agents import models as M
from nmmo_jax.config import Config, ConfigError


@struct.dataclass
class Runner:
    """Everything a run carries from one update to the next (and into a checkpoint)."""

    params: Any
    opt_state: Any
    env_state: Any         # WorldState batched [E]
    obs: Any               # observations batched [E, A, ...]
    carry: Any             # recurrent state [E*A, ...]
    prev_ended: jnp.ndarray  # bool[E*A]: the slot's episode ended on the last tick
    prev_valid: jnp.ndarray  # bool[E*A]: the slot was valid on the last tick
    env_done: jnp.ndarray  # bool[E]: the world is over and waits for a reset
    key: jnp.ndarray       # uint32[2] raw PRNG key
    update: jnp.ndarray    # i32[] updates done


class Batch(NamedTuple):
    obs: Any
    action: Any
    logp: jnp.ndarray
    value: jnp.ndarray
    advantage: jnp.ndarray
    target: jnp.ndarray
    valid: jnp.ndarray
    reset: jnp.ndarray


def validate(config: Config) -> None:
    """Fail before compiling when the run's shapes do not fit together."""
    t, e = config.train, config.env
    slots = t.num_envs * e.num_agents
    if slots % t.num_minibatches:
        raise ConfigError(
            f"train.num_minibatches={t.num_minibatches} must divide the slots num_envs * num_agents = "
            f"{t.num_envs} * {e.num_agents} = {slots}; allowed: a divisor of {slots}")


# Per-update totals over the training worlds (0 with combat off): NPCs and players killed by
# players, players killed by NPCs. They show an arms race that the mean lifetime alone hides.
COMBAT_METRICS = ("npc_kills", "player_kills", "killed_by_npcs", "deaths")
# With env.items: the economy's per-update totals (SPEC section 12); mean_equipment_level is averaged.
ECONOMY_METRICS = ("items_harvested", "items_equipped", "items_consumed", "items_destroyed", "items_lost",
                   "ammunition_fired", "listings", "sales", "sales_gold", "gifts", "gold_given")


# With env.curriculum: task totals (mean_task_progress is averaged), then per task its completions and the
# lives that ended holding it (completion rate = completed / ended).
TASK_METRICS = ("tasks_completed", "tasks_ended", "task_reward", "mean_task_progress")


def world_metrics(cfg) -> tuple:
    """The per-update world totals a run logs: combat always, the economy's with ``env.items``, tasks'."""
    keys = COMBAT_METRICS + (ECONOMY_METRICS + ("mean_equipment_level",) if cfg.items else ())
    cur = cfg.load_curriculum()
    if cur is not None:
        keys += TASK_METRICS + tuple(f"task_{n}_{k}" for n in cur.names for k in ("completed", "ended"))
    return keys


def diagnostic_keys(action_space) -> tuple:
    """The learner's per-update diagnostics beyond the losses: value fit, advantage scale, per-head entropy."""
    return ("explained_variance", "adv_std") + tuple(f"entropy_{h}" for h in sorted(action_space))


def gae(value, reward, terminated, truncated, last_value, gamma, lam):
    """Generalised advantage estimates over [T, B], cut at every episode boundary.

    ``value[t]`` is V(obs_t); the value of the observation after tick t is
    ``value[t+1]`` (``last_value`` after the last tick). A death adds no
    bootstrap; a truncation bootstraps from that next value; either stops the
    recursion, so nothing flows back across an episode boundary.
    """
    next_value = jnp.concatenate([value[1:], last_value[None]], axis=0)
    term = terminated.astype(jnp.float32)
    cont = (1.0 - term) * (1.0 - truncated.astype(jnp.float32))

    def back(adv_next, x):
        v, nv, r, te, c = x
        delta = r + gamma * nv * (1.0 - te) - v
        adv = delta + gamma * lam * c * adv_next
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(last_value), (value, next_value, reward, term, cont), reverse=True)
    return adv, adv + value


def masked_mean(x, mask):
    return jnp.sum(jnp.where(mask, x, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def ppo_loss(model, params, batch: Batch, carry0, recurrent: bool, clip_eps, vf_coef, ent_coef):
    """Clipped PPO loss over a [T, b] minibatch; invalid steps contribute exactly nothing."""
    if recurrent:
        def run(carry, x):
            obs, reset = x
            logits, value, carry = model.apply(params, obs, carry, reset)
            return carry, (logits, value)
        _, (logits, value) = jax.lax.scan(run, carry0, (batch.obs, batch.reset))
    else:
        t, b = batch.valid.shape
        flat = jax.tree_util.tree_map(lambda x: x.reshape((t * b,) + x.shape[2:]), batch.obs)
        logits, value, _ = model.apply(params, flat, model.initial_carry(t * b), batch.reset.reshape(-1))
        logits = jax.tree_util.tree_map(lambda x: x.reshape((t, b) + x.shape[1:]), logits)
        value = value.reshape(t, b)
    mask = batch.valid
    logp = M.log_prob(logits, batch.action)
    head_ent = M.head_entropies(logits)
    ent = sum(head_ent.values())
    adv = batch.advantage
    mean = masked_mean(adv, mask)
    std = jnp.sqrt(masked_mean((adv - mean) ** 2, mask))
    adv = (adv - mean) / (std + 1e-8)
    log_ratio = jnp.where(mask, logp - batch.logp, 0.0)
    ratio = jnp.exp(log_ratio)
    pg = -masked_mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv), mask)
    # zeroed where invalid: a NaN there would reach the gradient as 0 * NaN through (value - target) ** 2
    old_value, target = jnp.where(mask, batch.value, 0.0), jnp.where(mask, batch.target, 0.0)
    v_clip = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    v_loss = 0.5 * masked_mean(jnp.maximum((value - target) ** 2, (v_clip - target) ** 2), mask)
    entropy = masked_mean(ent, mask)
    total = pg + vf_coef * v_loss - ent_coef * entropy
    approx_kl = masked_mean((ratio - 1) - log_ratio, mask)
    clip_frac = masked_mean((jnp.abs(ratio - 1) > clip_eps).astype(jnp.float32), mask)
    # Diagnostics: how much of the return's variance the value explains, the advantages' raw scale, and
    # each head's entropy (a head that collapses early, or one whose bonus keeps it uniform, shows here).
    t_mean = masked_mean(target, mask)
    t_var = masked_mean((target - t_mean) ** 2, mask)
    explained = 1.0 - masked_mean((target - value) ** 2, mask) / jnp.maximum(t_var, 1e-8)
    diag = {f"entropy_{h}": masked_mean(e, mask) for h, e in head_ent.items()}
    return total, dict(pg_loss=pg, v_loss=v_loss, entropy=entropy, approx_kl=approx_kl, clip_frac=clip_frac,
                       explained_variance=explained, adv_std=std, **diag)


class Trainer:
    """The compiled pieces of one PPO run; see the module docstring."""

    def __init__(self, config: Config, mesh: Mesh | None = None, model=None):
        validate(config)
        self.config = config
        t, e = config.train, config.env
        if t.persistent_worlds and not e.persistent:
            e = dataclasses.replace(e, persistent=True)
        self.env = nmmo_jax.Env(e, params=config.params.to_params())
        self.env_params = self.env.default_params
        self.num_envs, self.num_agents = t.num_envs, e.num_agents
        self.slots = t.num_envs * e.num_agents
        self.recurrent = t.model == "recurrent"
        self.model = model if model is not None else M.make_model(t.model, env=self.env, hidden=t.hidden)
        steps = t.total_updates * t.update_epochs * t.num_minibatches
        lr = optax.linear_schedule(t.lr, 0.0, steps) if t.anneal_lr else t.lr
        self.tx = optax.chain(optax.clip_by_global_norm(t.max_grad_norm), optax.adam(lr, eps=1e-5))
        self.mesh = mesh
        if mesh is not None and t.num_envs % mesh.devices.size:
            raise ConfigError(f"train.num_envs={t.num_envs} must be a multiple of the {mesh.devices.size} devices")
        self._v_reset = jax.vmap(self.env.reset, in_axes=(0, None))
        self._v_step = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))
        self.update_chunk = jax.jit(self._chunk, static_argnums=1, donate_argnums=0)
        self.init = jax.jit(self._init)

    # -- sharding helpers ----------------------------------------------------
    def _shard(self, tree):
        """Constrain a per-env or per-slot pytree to be split over the ``data`` axis."""
        if self.mesh is None:
            return tree
        spec = NamedSharding(self.mesh, P("data"))
        return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, spec), tree)

    def _replicate(self, tree):
        if self.mesh is None:
            return tree
        spec = NamedSharding(self.mesh, P())
        return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, spec), tree)

    def _flat(self, tree):
        return jax.tree_util.tree_map(lambda x: x.reshape((self.slots,) + x.shape[2:]), tree)

    def _unflat(self, tree):
        return jax.tree_util.tree_map(lambda x: x.reshape((self.num_envs, self.num_agents) + x.shape[1:]), tree)

    # -- init ------------------------------------------------------------------
    def _init(self, key) -> Runner:
        k_env, k_model, k_run = jax.random.split(key, 3)
        obs, env_state = self._v_reset(jax.random.split(k_env, self.num_envs), self.env_params)
        carry = self.model.initial_carry(self.slots)
        params = self.model.init(k_model, self._flat(obs), carry, jnp.ones(self.slots, bool))
        runner = Runner(
            params=self._replicate(params), opt_state=self._replicate(self.tx.init(params)),
            env_state=self._shard(env_state), obs=self._shard(obs), carry=self._shard(carry),
            prev_ended=self._shard(jnp.ones(self.slots, bool)), prev_valid=self._shard(jnp.ones(self.slots, bool)),
            env_done=self._shard(jnp.zeros(self.num_envs, bool)), key=k_run, update=jnp.zeros((), jnp.int32))
        return runner

    # -- one update ------------------------------------------------------------
    def _rollout(self, runner: Runner, key):
        t = self.config.train
        a = self.num_agents
        k_reset, k_ticks = jax.random.split(key)
        done = runner.env_done
        if self.env.cfg.persistent and not t.restart_at_horizon:  # never ends: no map generation per update
            env_state, obs = runner.env_state, runner.obs
        else:
            fresh_obs, fresh_state = self._v_reset(jax.random.split(k_reset, self.num_envs), self.env_params)

            def pick(new, old):
                return jnp.where(done.reshape(done.shape + (1,) * (new.ndim - 1)), new, old)

            env_state = self._shard(jax.tree_util.tree_map(pick, fresh_state, runner.env_state))
            obs = self._shard(jax.tree_util.tree_map(pick, fresh_obs, runner.obs))
        restarted = jnp.repeat(done, a)
        prev_ended = runner.prev_ended | restarted
        prev_valid = runner.prev_valid & ~restarted
        env_done = jnp.zeros_like(done)
        carry0 = runner.carry
        params = runner.params

        def tick(c, key):
            env_state, obs, carry, prev_ended, prev_valid, env_done = c
            k_act, k_step = jax.random.split(key)
            fobs = self._flat(obs)
            reset = prev_ended | ~prev_valid
            logits, value, carry = self.model.apply(params, fobs, carry, reset)
            action = M.sample_actions(k_act, logits)
            logp = M.log_prob(logits, action)
            valid = fobs["entity_mask"][:, 0] & ~jnp.repeat(env_done, a)
            obs2, env_state2, reward, term, trunc, info = self._v_step(
                jax.random.split(k_step, self.num_envs), env_state, self._unflat(action), self.env_params)
            term, trunc, reward = self._flat(term) & valid, self._flat(trunc) & valid, self._flat(reward)
            live_env = ~env_done
            stats = dict(
                reward_sum=jnp.sum(jnp.where(valid, reward, 0.0)),
                valid=jnp.sum(valid),
                ended=jnp.sum(jnp.where(live_env, info["ended"], 0)),
                lifetime_sum=jnp.sum(jnp.where(live_env, info["ended_lifetime_sum"], 0)),
                **{k: jnp.sum(jnp.where(live_env, info[k], 0)) for k in world_metrics(self.env.cfg)},
            )
            out = (fobs, action, logp, value, reward, term, trunc, valid, reset)
            over = info["done"]
            if self.env.cfg.persistent and t.restart_at_horizon:  # its live agents were just truncated
                over = over | (info["tick"] % self.env.cfg.horizon == 0)
            c2 = (self._shard(env_state2), self._shard(obs2), carry, term | trunc, valid, env_done | over)
            return c2, (out, stats)

        c0 = (env_state, obs, carry0, prev_ended, prev_valid, env_done)
        cT, (traj, stats) = jax.lax.scan(tick, c0, jax.random.split(k_ticks, t.rollout_len))
        env_state, obs, carry, prev_ended, prev_valid, env_done = cT
        _, last_value, _ = self.model.apply(params, self._flat(obs), carry, prev_ended | ~prev_valid)
        fobs, action, logp, value, reward, term, trunc, valid, reset = traj
        adv, target = gae(value, reward, term, trunc, last_value, t.gamma, t.gae_lambda)
        batch = Batch(fobs, action, logp, value, adv, target, valid, reset)
        runner = runner.replace(env_state=env_state, obs=obs, carry=carry, prev_ended=prev_ended,
                                prev_valid=prev_valid, env_done=env_done)
        stats = jax.tree_util.tree_map(jnp.sum, stats)
        return runner, batch, carry0, stats

    def _learn(self, runner: Runner, batch: Batch, carry0, key):
        t = self.config.train
        nmb = t.num_minibatches
        mb = self.slots // nmb

        def loss(params, mbatch, mcarry):
            return ppo_loss(self.model, params, mbatch, mcarry, self.recurrent, t.clip_eps, t.vf_coef, t.ent_coef)

        grad_fn = jax.value_and_grad(loss, has_aux=True)

        def epoch(c, key):
            params, opt_state = c
            perm = jax.random.permutation(key, self.slots)
            # batch leaves are [T, slots, ...]: shuffle slots, split into minibatches of whole sequences
            shuffled = jax.tree_util.tree_map(lambda x: jnp.take(x, perm, axis=1), batch)
            split = jax.tree_util.tree_map(
                lambda x: jnp.moveaxis(x.reshape((x.shape[0], nmb, mb) + x.shape[2:]), 1, 0), shuffled)
            carries = jax.tree_util.tree_map(lambda x: jnp.take(x, perm, axis=0).reshape((nmb, mb) + x.shape[1:]),
                                             carry0)

            def minibatch(c, xs):
                params, opt_state = c
                mbatch, mcarry = xs
                (total, aux), grads = grad_fn(params, mbatch, mcarry)
                updates, opt_state = self.tx.update(grads, opt_state, params)
                params = optax.apply_updates(params, updates)
                return (params, opt_state), dict(aux, loss=total)

            return jax.lax.scan(minibatch, (params, opt_state), (split, carries))

        (params, opt_state), losses = jax.lax.scan(
            epoch, (runner.params, runner.opt_state), jax.random.split(key, t.update_epochs))
        losses = jax.tree_util.tree_map(jnp.mean, losses)
        return runner.replace(params=params, opt_state=opt_state), losses

    def _update(self, runner: Runner, _=None):
        key, k_roll, k_learn = jax.random.split(runner.key, 3)
        runner, batch, carry0, stats = self._rollout(runner.replace(key=key), k_roll)
        runner, losses = self._learn(runner, batch, carry0, k_learn)
        runner = runner.replace(update=runner.update + 1)
        valid = jnp.maximum(stats["valid"], 1)
        metrics = dict(
            losses,
            agent_steps=stats["valid"],
            reward=stats["reward_sum"] / valid,
            episodes=stats["ended"],
            lifetime_sum=stats["lifetime_sum"],
            mean_lifetime=stats["lifetime_sum"] / jnp.maximum(stats["ended"], 1),
            **{k: stats[k] for k in world_metrics(self.env.cfg)},
        )
        for k in ("mean_equipment_level", "mean_task_progress"):
            if k in metrics:  # summed over ticks and worlds: back to a mean
                metrics[k] = metrics[k] / (self.config.train.rollout_len * self.num_envs)
        return runner, metrics

    def _chunk(self, runner: Runner, num_updates: int):
        return jax.lax.scan(self._update, runner, None, length=num_updates)

    def train(self, key):
        """The whole run as one pure function: (final runner, per-update metrics)."""
        runner = self._init(key)
        return jax.lax.scan(self._update, runner, None, length=self.config.train.total_updates)


def make_train(config: Config, mesh: Mesh | None = None, model=None) -> Trainer:
    """Build the compiled pieces of a PPO run for ``config`` (see ``Trainer``)."""
    return Trainer(config, mesh=mesh, model=model)


def data_mesh(devices=None) -> Mesh:
    """A one-axis mesh named ``data`` over ``devices`` (default: all devices, all hosts)."""
    import numpy as np
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))
