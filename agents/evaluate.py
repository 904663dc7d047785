"""Evaluate a checkpoint on held-out seeds, next to random agents on the same seeds.

    python -m agents.evaluate --checkpoint=DIR [--episodes=N] [--seed=S] [--config=...] [--greedy]
    python -m agents.evaluate --checkpoint=DIR --vs=OTHER_DIR      # two policies in one world
    python -m agents.evaluate --checkpoint=DIR --serve [--port=8000] [--host=127.0.0.1] [--fps=8]
                                                                   # watch it play live in the browser

DIR is a run directory or its ``checkpoints`` directory (the latest checkpoint
is used), or one numbered checkpoint, ``RUN/checkpoints/<update>`` (that one),
or ``pretrained:small`` / ``pretrained:medium``, a policy shipped in the package
(``agents.pretrained``; ``--vs`` takes the same).
Each episode is one world from reset to its horizon, all episodes in one
vmapped, jitted ``lax.scan``. World keys come from ``--seed`` folded with a
constant no training run uses, so evaluation worlds are held out from the
worlds a run trained on. The world config is the one saved with the
checkpoint unless ``--config`` (plus ``--key=value`` overrides) names another.

Mean lifetime (SPEC section 12) counts every agent whose life ended, by death
or at the horizon, and the confidence interval is 95% over episodes. The last
line is ``mean_lifetime=<number> random_mean_lifetime=<number>``.

Tasks: a checkpoint trained with a curriculum (``env.curriculum``) is
evaluated on it, and a table follows: per task, the lives that held it (ended
holding it), its completion rate and mean ticks to completion, for the policy
and for random agents on the same worlds. ``--task=NAME`` makes every agent
draw that one task of the curriculum (``env.task``), to measure one task on
its own.

``--vs``: the slots of each world are split in half (spawn tiles are a random
permutation, so the halves are alike), one half played by each checkpoint;
the two mean lifetimes are printed side by side, the tool for comparing
emergent policies.
"""
from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

import nmmo_jax
from agents import checkpoint as ckpt
from agents import models as M
from nmmo_jax.config import ConfigError, parse_cli_overrides

HELD_OUT = 0x5EED_E7A1  # folded into every evaluation key; training never uses it


def load_policy(path):
    """(model, params, saved config, update) of the checkpoint ``path`` names (see ``agents.checkpoint``);
    ``pretrained:NAME`` is a policy shipped in the package (see ``agents.pretrained``)."""
    from agents import pretrained
    if pretrained.is_pretrained(path):
        return pretrained.load(path)
    from agents.ppo import make_train
    saved = ckpt.saved_config(path)
    trainer = make_train(saved)
    template = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
    runner, step = ckpt.restore(path, template, saved)
    return trainer.model, runner.params, saved, step


COMBAT_TOTALS = ("npc_kills", "player_kills", "killed_by_npcs", "attacks")
# With env.items, per episode too; mean_equipment_level is the mean over the episode's ticks.
ECONOMY_TOTALS = ("items_harvested", "items_equipped", "items_consumed", "sales", "gifts", "mean_equipment_level")


def task_totals(env) -> tuple:
    """Per task of the world's curriculum: lives that ended holding it, its completions, their ticks."""
    if env.curriculum is None:
        return ()
    return tuple(f"task_{n}_{k}" for n in env.curriculum.names for k in ("ended", "completed", "ticks"))


def totals_of(env) -> tuple:
    return COMBAT_TOTALS + (ECONOMY_TOTALS if env.cfg.items else ()) + task_totals(env)


def rollout_lifetimes(env, params_env, policies, owner, keys, ticks: int, greedy: bool):
    """Per-episode lifetimes for each policy group, and the world's combat totals.

    ``policies`` is a list of (model, params) or None for random legal actions;
    ``owner`` i32[A] says which policy plays each slot. Returns i32[E, G]
    lifetime sums and ended counts, and a dict of i32[E] per-episode totals of
    the world's ``COMBAT_TOTALS`` metrics (whole world, every group together).
    """
    a = env.num_agents
    groups = len(policies)
    owner = jnp.asarray(owner)

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, params_env)
        carries = [None if p is None else p[0].initial_carry(a) for p in policies]

        def tick(c, key):
            obs, state, carries, reset, sums, counts, totals = c
            keys = jax.random.split(key, groups + 1)
            action = None
            new_carries = []
            for g, pol in enumerate(policies):
                if pol is None:
                    act_g = env.sample_actions(keys[g], obs)
                    new_carries.append(None)
                else:
                    model, params = pol
                    logits, _, carry = model.apply(params, obs, carries[g], reset)
                    act_g = (M.greedy_actions(logits) if greedy else M.sample_actions(keys[g], logits))
                    new_carries.append(carry)
                mine = owner == g
                action = act_g if action is None else jax.tree_util.tree_map(
                    lambda new, old: jnp.where(mine, new, old), act_g, action)
            obs, state, reward, term, trunc, info = env.step(keys[-1], state, action, params_env)
            ended = term | trunc
            life = state.entities.time_alive[:a]
            one_hot = (owner[:, None] == jnp.arange(groups)[None]) & ended[:, None]
            sums = sums + jnp.sum(jnp.where(one_hot, life[:, None], 0), axis=0)
            counts = counts + jnp.sum(one_hot, axis=0)
            reset = ended | ~obs["entity_mask"][:, 0]
            totals = {k: totals[k] + info[k].astype(totals[k].dtype) for k in totals}
            return (obs, state, new_carries, reset, sums, counts, totals), None

        zeros = jnp.zeros(groups, jnp.int32)
        totals0 = {k: jnp.zeros((), jnp.float32 if k == "mean_equipment_level" else jnp.int32)
                   for k in totals_of(env)}
        c0 = (obs, state, carries, jnp.ones(a, bool), zeros, zeros, totals0)
        (_, _, _, _, sums, counts, totals), _ = jax.lax.scan(tick, c0, jax.random.split(k_run, ticks))
        if "mean_equipment_level" in totals:
            totals["mean_equipment_level"] = totals["mean_equipment_level"] / ticks
        return sums, counts, totals

    return jax.jit(jax.vmap(episode))(keys)


def summarize(sums, counts):
    """Mean lifetime over all ended agents and a 95% interval over episodes."""
    sums, counts = np.asarray(sums, np.float64), np.asarray(counts, np.float64)
    mean = sums.sum() / max(counts.sum(), 1)
    per_episode = sums / np.maximum(counts, 1)
    half = 1.96 * per_episode.std(ddof=1) / math.sqrt(len(per_episode)) if len(per_episode) > 1 else float("nan")
    return mean, half


def economy_line(label, totals):
    """Per-episode means of the economy: items harvested, equipped, consumed, sales, gifts, equipment level."""
    m = {k: float(np.mean(np.asarray(v))) for k, v in totals.items()}
    return (f"{label:<7} per episode: harvested {m['items_harvested']:.1f}  equipped {m['items_equipped']:.1f}  "
            f"consumed {m['items_consumed']:.1f}  sales {m['sales']:.1f}  gifts {m['gifts']:.1f}  "
            f"mean equipment level {m['mean_equipment_level']:.2f}")


def task_table(curriculum, totals, random_totals) -> list[str]:
    """Per task: lives that held it (ended holding it), completion rate and mean ticks to completion, both sides."""
    def stats(tot, name):
        ended = float(np.sum(tot[f"task_{name}_ended"]))
        done = float(np.sum(tot[f"task_{name}_completed"]))
        ticks = float(np.sum(tot[f"task_{name}_ticks"]))
        rate = done / ended if ended else float("nan")
        return ended, rate, (ticks / done if done else float("nan"))

    lines = [f"{'task':<16} {'held':>6} {'completed':>10} {'ticks':>7}   {'random held':>11} {'completed':>10} "
             f"{'ticks':>7}"]
    for name in curriculum.names:
        h, r, t = stats(totals, name)
        rh, rr, rt = stats(random_totals, name)
        if h == 0 and rh == 0:
            continue  # nobody held it (e.g. --task chose another)
        pct = lambda x: "-" if x != x else f"{x:.1%}"   # nan: nobody held it / nobody completed it
        num = lambda x: "-" if x != x else f"{x:.1f}"
        lines.append(f"{name:<16} {h:>6.0f} {pct(r):>10} {num(t):>7}   {rh:>11.0f} {pct(rr):>10} {num(rt):>7}")
    h = sum(float(np.sum(totals[f"task_{n}_ended"])) for n in curriculum.names)
    d = sum(float(np.sum(totals[f"task_{n}_completed"])) for n in curriculum.names)
    rh = sum(float(np.sum(random_totals[f"task_{n}_ended"])) for n in curriculum.names)
    rd = sum(float(np.sum(random_totals[f"task_{n}_completed"])) for n in curriculum.names)
    lines.append(f"task_completion={d / max(h, 1):.4f} random_task_completion={rd / max(rh, 1):.4f}")
    return lines


def combat_line(label, totals):
    """One line of per-episode combat means: NPCs and players killed by the agents, agents killed by NPCs."""
    per_episode = {k: float(np.mean(np.asarray(v))) for k, v in totals.items()}
    return (f"{label:<7} per episode: npc_kills {per_episode['npc_kills']:.1f}  "
            f"player_kills {per_episode['player_kills']:.1f}  killed_by_npcs {per_episode['killed_by_npcs']:.1f}  "
            f"hits {per_episode['attacks']:.0f}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(
            argv, known_flags=("checkpoint", "episodes", "seed", "config", "vs", "greedy", "serve", "port", "host", "fps"))
        if "checkpoint" not in flags:
            raise ConfigError("--checkpoint=DIR is required (a run directory or its checkpoints/ directory, or "
                                  "pretrained:NAME, a policy shipped in the package)")
        episodes = int(flags.get("episodes", 16))
        seed = int(flags.get("seed", 0))
        if episodes < 1:
            raise ConfigError("--episodes must be a positive integer")
        serve = None
        if "serve" in flags:  # live viewer (nmmo_jax.viewer): flags checked here, before loading anything
            from nmmo_jax.viewer.__main__ import parse_address, parse_fps
            serve = (*parse_address(flags), parse_fps(flags))
        greedy = str(flags.get("greedy", "false")).lower() in ("1", "true", "yes")
        model, params, saved, step = load_policy(flags["checkpoint"])
        cfg = nmmo_jax.load_config(flags["config"], overrides) if "config" in flags else (
            saved.replace(**overrides) if overrides else saved)
        other = load_policy(flags["vs"]) if "vs" in flags else None
    except (ConfigError, ckpt.CheckpointError, ValueError) as err:
        sys.exit(f"agents.evaluate: {err}")

    env = nmmo_jax.Env(cfg)
    params_env = env.default_params
    if serve is not None:  # --serve: the policy plays world after world, streamed to the viewer page
        from agents.policy_fn import policy_function
        from nmmo_jax.viewer import live_server
        host, port, fps = serve
        print(f"checkpoint={flags['checkpoint']} (update {step}) world={cfg.source}: serving live play; "
              f"compiling...", flush=True)
        policy_info = {"kind": "checkpoint", "checkpoint": flags["checkpoint"], "update": int(step)}
        try:
            live_server(env, policy_function(model, params, greedy=greedy), host, port, fps=fps, seed=seed,
                        initial_carry=model.initial_carry(env.num_agents), header_extra={"policy": policy_info}).run()
        except OSError as err:
            sys.exit(f"agents.evaluate: cannot listen on {host}:{port} ({err.strerror or err})")
        return
    a = env.num_agents
    ticks = cfg.env.horizon
    keys = held_out_keys(seed, episodes)
    print(f"checkpoint={flags['checkpoint']} (update {step}) world={cfg.source} agents={a} "
          f"episodes={episodes} ticks={ticks} seed={seed}{' greedy' if greedy else ''}", flush=True)

    if other is not None:
        owner = np.arange(a) >= a // 2
        sums, counts, _ = rollout_lifetimes(env, params_env, [(model, params), (other[0], other[1])],
                                         owner.astype(np.int32), keys, ticks, greedy)
        m1, h1 = summarize(sums[:, 0], counts[:, 0])
        m2, h2 = summarize(sums[:, 1], counts[:, 1])
        print(f"{'policy':<40} {'slots':>6} {'mean_lifetime':>14} {'95% CI':>10}")
        print(f"{flags['checkpoint']:<40} {a // 2:>6} {m1:>14.1f} {'±' + format(h1, '.1f'):>10}")
        print(f"{flags['vs']:<40} {a - a // 2:>6} {m2:>14.1f} {'±' + format(h2, '.1f'):>10}")
        print(f"mean_lifetime={m1:.2f} vs_mean_lifetime={m2:.2f}")
        return

    result = evaluate(model, params, cfg, episodes=episodes, seed=seed, greedy=greedy)
    print(f"policy  mean lifetime {result['mean_lifetime']:6.1f} ± {result['ci']:.1f} (95% CI over {episodes} episodes)")
    print(f"random  mean lifetime {result['random_mean_lifetime']:6.1f} ± {result['random_ci']:.1f}  "
          f"ratio {result['ratio']:.2f}x")
    if cfg.env.combat:
        print(combat_line("policy", result["totals"]))
        print(combat_line("random", result["random_totals"]))
    if cfg.env.items:
        print(economy_line("policy", result["totals"]))
        print(economy_line("random", result["random_totals"]))
    if env.curriculum is not None:
        print(f"tasks of {env.curriculum.source}" + (f" (every agent: {cfg.env.task})" if cfg.env.task else "")
              + "; held = lives that ended holding the task, ticks = mean ticks to completion")
        for line in task_table(env.curriculum, result["totals"], result["random_totals"]):
            print(line)
    print(f"mean_lifetime={result['mean_lifetime']:.2f} random_mean_lifetime={result['random_mean_lifetime']:.2f}")


def held_out_keys(seed: int, episodes: int):
    """The evaluation worlds of ``--seed``: folded with a constant no training run uses."""
    return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), HELD_OUT), episodes)


def evaluate(model, params, config, episodes: int = 16, seed: int = 0, greedy: bool = False) -> dict:
    """The policy and random legal agents on the same held-out worlds of ``config`` (what the CLI prints).

    Returns ``mean_lifetime``, ``ci`` (95% half-width over episodes), the same for
    random agents (``random_mean_lifetime``, ``random_ci``), their ``ratio``, and
    per-episode combat ``totals`` / ``random_totals``. Usable in a notebook on a
    freshly trained ``(trainer.model, runner.params)``.
    """
    env = nmmo_jax.Env(config)
    a = env.num_agents
    keys = held_out_keys(seed, episodes)
    zeros = np.zeros(a, np.int32)
    ticks = config.env.horizon
    sums, counts, totals = rollout_lifetimes(env, env.default_params, [(model, params)], zeros, keys, ticks, greedy)
    rsums, rcounts, rtotals = rollout_lifetimes(env, env.default_params, [None], zeros, keys, ticks, greedy)
    mean, half = summarize(sums[:, 0], counts[:, 0])
    rmean, rhalf = summarize(rsums[:, 0], rcounts[:, 0])
    return dict(mean_lifetime=float(mean), ci=float(half), random_mean_lifetime=float(rmean), random_ci=float(rhalf),
                ratio=float(mean / max(rmean, 1e-9)), totals=jax.device_get(totals),
                random_totals=jax.device_get(rtotals))


if __name__ == "__main__":
    main()
