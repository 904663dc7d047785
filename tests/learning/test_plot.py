"""agents.plot: learning curves from runs' metrics.csv, one run or several seeds on one page."""
import csv

import pytest

pytest.importorskip("matplotlib")

from agents import plot  # noqa: E402
from nmmo_jax.config import ConfigError  # noqa: E402

FIELDS = ["update", "agent_steps", "mean_lifetime", "v_loss", "entropy", "approx_kl", "npc_kills",
          "player_kills", "killed_by_npcs"]


def fake_run(path, updates, lifetime):
    path.mkdir()
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for u in range(1, updates + 1):
            w.writerow(dict(update=u, agent_steps=1000, mean_lifetime=lifetime + u, v_loss=0.1, entropy=3.0,
                            approx_kl=0.01, npc_kills=1, player_kills=0, killed_by_npcs=2))
    return path


def test_steps_accumulate_in_millions():
    assert plot.cumulative_millions([5e5, 5e5, 1e6]) == [0.5, 1.0, 2.0]


def test_several_runs_on_one_page_and_the_default_file(tmp_path):
    a, b = fake_run(tmp_path / "seed0", 30, 25.0), fake_run(tmp_path / "seed1", 20, 28.0)
    out = tmp_path / "curve.png"
    plot.main([str(a), str(b), f"--out={out}", "--random=30"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot.main([str(a)])
    assert (a / "learning_curve.png").stat().st_size > 1000


def test_a_missing_run_is_named_before_anything_is_drawn(tmp_path, capsys):
    a = fake_run(tmp_path / "seed0", 5, 25.0)
    out = tmp_path / "curve.png"
    with pytest.raises(SystemExit) as err:
        plot.main([str(a), str(tmp_path / "nope"), f"--out={out}"])
    assert "nope/metrics.csv not found" in str(err.value) and not out.exists()
    with pytest.raises(ConfigError, match="no rows"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "metrics.csv").write_text(",".join(FIELDS) + "\n")
        plot.read_metrics(tmp_path / "empty")
