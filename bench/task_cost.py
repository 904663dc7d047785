"""What tasks cost a step: the same world without and with a curriculum, alternated in one process.

    python -m bench.task_cost --config=configs/medium.yaml --curriculum=rich --envs=32 --steps=256 \\
        --rounds=4 [--key=value ...]

Both worlds are compiled first (compile time is reported, never timed), then
timed runs alternate (without, with, without, with, ...), so the machine's
drift between minutes falls on both sides alike. Each run is one jitted
``lax.scan`` of vmapped steps with random legal actions, as in
``bench.throughput``. Prints every run, the medians and their ratio; the last
line is ``task_cost_ratio=<median without / median with>`` in time per step,
i.e. how many times a step with tasks costs.
"""
import sys
import time

import jax
import numpy as np

import nmmo_jax
from bench.throughput import make_rollout, obs_bytes_per_agent
from nmmo_jax.config import ConfigError, parse_cli_overrides


def compiled_world(cfg, num_envs: int, steps: int):
    env = nmmo_jax.Env(cfg)
    reset, rollout = make_rollout(env, env.default_params, num_envs, steps)
    key = jax.random.key(0)
    obs, state = jax.block_until_ready(reset(key))
    t0 = time.perf_counter()
    compiled = rollout.lower(key, obs, state).compile()
    return reset, compiled, time.perf_counter() - t0, obs_bytes_per_agent(obs) // num_envs


def timed(reset, compiled, r: int):
    obs, state = jax.block_until_ready(reset(jax.random.key(r)))
    t0 = time.perf_counter()
    _, _, alive = jax.block_until_ready(compiled(jax.random.key(100 + r), obs, state))
    return time.perf_counter() - t0, int(alive)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=("config", "envs", "steps", "rounds"))
        curriculum = overrides.pop("curriculum", overrides.pop("env.curriculum", "rich"))
        base = nmmo_jax.load_config(flags.get("config", "medium"), overrides)
        with_tasks = base.replace(**{"env.curriculum": curriculum})
        num_envs, steps, rounds = (int(flags.get(k, d)) for k, d in (("envs", 32), ("steps", 256), ("rounds", 4)))
    except (ConfigError, ValueError) as err:
        sys.exit(f"bench.task_cost: {err}")
    e = base.env
    print(f"config={base.source} agents={e.num_agents} npc_slots={e.num_npcs} map={e.map_size} envs={num_envs} "
          f"steps={steps} curriculum={curriculum} rounds={rounds}", flush=True)
    worlds = {}
    for name, cfg in (("without", base), ("with", with_tasks)):
        reset, compiled, compile_s, obs_bytes = compiled_world(cfg, num_envs, steps)
        worlds[name] = (reset, compiled)
        print(f"{name} tasks: compile_s={compile_s:.1f} obs_bytes_per_agent={obs_bytes}", flush=True)
    slots = num_envs * steps * e.num_agents
    times = {"without": [], "with": []}
    for r in range(rounds):
        for name in ("without", "with"):
            seconds, live = timed(*worlds[name], r)
            times[name].append(seconds)
            print(f"round {r + 1} {name:<7} tasks: {slots / seconds:,.0f} agent-steps/s "
                  f"({live / seconds:,.0f} live)", flush=True)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"median agent-steps/s: without {slots / med['without']:,.0f}, with {slots / med['with']:,.0f}")
    print(f"task_cost_ratio={med['with'] / med['without']:.3f}")


if __name__ == "__main__":
    main()
