"""Record a checkpoint's policy playing one world to a replay file (the learner's side of ``nmmo_jax.replay``).

    python -m agents.record --checkpoint=DIR --out=run.replay [--ticks=N] [--seed=S] [--greedy] [--chunk=64]
                            [--overlays=a,b] [--import=pkg.module] [--global_values=false] [--config=...] [--key=value ...]

DIR is a run directory, its ``checkpoints`` directory, one numbered
checkpoint or ``pretrained:NAME`` (as for ``agents.evaluate``). The world is the one the policy
trained on unless ``--config`` names another; ``--key=value`` overrides apply
to it either way. Actions are sampled (``--greedy``: the most likely legal
action). Every other flag is ``nmmo_jax.replay``'s, parsed and recorded by the
same code (``nmmo_jax.replay.record_replay``): the world records a plain policy
function (``agents.policy_fn``) and never imports the learner.
"""
from __future__ import annotations

import sys

from nmmo_jax import replay as R
from nmmo_jax.config import ConfigError, parse_cli_overrides


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        flags, overrides = parse_cli_overrides(argv, known_flags=R.RECORD_FLAGS)
        if "random" in flags:
            raise ConfigError("--random: random play needs no learner: python -m nmmo_jax.replay --random ...")
        if "checkpoint" not in flags:
            raise ConfigError("--checkpoint=DIR is required (a run directory or one of its checkpoints, or "
                                  "pretrained:NAME)")
        if "out" not in flags:
            raise ConfigError("--out=FILE is required (where to write the replay)")
        greedy = R.bool_flag(flags, "greedy")
        R.import_overlay_modules(flags)

        import nmmo_jax
        from agents import checkpoint as ckpt
        from agents.evaluate import load_policy
        from agents.policy_fn import policy_function
        try:
            model, params, saved, step = load_policy(flags["checkpoint"])
        except ckpt.CheckpointError as err:
            raise ConfigError(str(err)) from None
        cfg = nmmo_jax.load_config(flags["config"], overrides) if "config" in flags else (
            saved.replace(**overrides) if overrides else saved)
        info = {"kind": "checkpoint", "checkpoint": flags["checkpoint"], "update": int(step)}
        R.record_replay(flags, cfg, policy_function(model, params, greedy=greedy),
                        model.initial_carry(cfg.env.num_agents), info=info,
                        label=f"checkpoint {flags['checkpoint']} (update {step}){' greedy' if greedy else ''}")
    except ConfigError as err:
        sys.exit(f"agents.record: {err}")


if __name__ == "__main__":
    main()
