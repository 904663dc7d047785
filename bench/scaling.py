"""How step cost grows with agents and with environments.

    python -m bench.scaling [--steps=64] [--out=FILE]

Two sweeps, each a row per setting with agent-steps/s and microseconds per
agent-step (flat = linear cost):

* envs 1..64 on the medium preset (128 agents per env): batching across envs;
* agents 128..4096 on one 1088-tile map (1056 playable, room for 4096 on the
  spawn ring; NPC slots = agents): cost per agent as the population grows on a
  fixed map. The fixed per-tile work (regrowth, occupancy grids over 1.2M tiles)
  is spread over more agents as they grow.

Prints a markdown table (the one in bench/README.md).
"""
import sys

import nmmo_jax
from bench.throughput import run
from nmmo_jax.config import parse_cli_overrides

ENV_SWEEP = (1, 4, 16, 64)
AGENT_SWEEP = (128, 512, 1024, 2048, 4096)


def main(argv=None):
    flags, _ = parse_cli_overrides(sys.argv[1:] if argv is None else argv, known_flags=("steps", "out"))
    steps = int(flags.get("steps", 64))
    lines = ["| sweep | agents/env | envs | agent-steps/s | us per agent-step | obs bytes/agent | compile s |",
             "|---|---|---|---|---|---|---|"]

    def row(name, cfg, envs):
        res = run(cfg, envs, steps, repeats=2)
        n = cfg.env.num_agents
        line = (f"| {name} | {n} | {envs} | {res['agent_steps_per_s']:,.0f} | "
                f"{1e6 / res['agent_steps_per_s']:.2f} | {res['obs_bytes']} | {res['compile_s']:.1f} |")
        print(line, flush=True)
        lines.append(line)

    for envs in ENV_SWEEP:
        row("envs (medium)", nmmo_jax.load_config("medium"), envs)
    for agents in AGENT_SWEEP:
        cfg = nmmo_jax.load_config("large", {"map_size": 1088, "num_agents": agents, "num_npcs": agents})
        row("agents (1088 map)", cfg, 1)
    if "out" in flags:
        with open(flags["out"], "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
