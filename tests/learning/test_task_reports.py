"""Task reports of the training stack: the metrics a run logs and evaluation's per-task table (no compile)."""
import numpy as np

from agents import evaluate as EV
from agents import ppo
from nmmo_jax.config import load_config
from nmmo_jax.tasks.curriculum import parse_tasks


def test_a_run_logs_task_metrics_only_with_a_curriculum():
    plain = load_config("small").env
    rich = load_config("small", {"curriculum": "rich"}).env
    assert not any(k.startswith("task") for k in ppo.world_metrics(plain))
    keys = ppo.world_metrics(rich)
    for k in ppo.TASK_METRICS:
        assert k in keys
    for name in rich.load_curriculum().names:
        assert f"task_{name}_completed" in keys and f"task_{name}_ended" in keys


def test_task_table_rates_and_mean_ticks():
    cur = parse_tasks([{"name": "fish", "all": [{"predicate": "count", "counter": "harvest_fish", "n": 2}]},
                       {"name": "rich", "all": [{"predicate": "gold", "gold": 9}]}], horizon=16)
    # two episodes each: fish held by 4 + 6 lives, completed 1 + 2 times in 10 + 20 ticks; rich never held
    totals = {"task_fish_ended": np.array([4, 6]), "task_fish_completed": np.array([1, 2]),
              "task_fish_ticks": np.array([10, 20]), "task_rich_ended": np.array([0, 0]),
              "task_rich_completed": np.array([0, 0]), "task_rich_ticks": np.array([0, 0])}
    random = dict(totals, task_fish_completed=np.array([0, 1]), task_fish_ticks=np.array([0, 7]))
    lines = EV.task_table(cur, totals, random)
    fish = lines[1].split()
    assert fish[0] == "fish" and fish[1] == "10" and fish[2] == "30.0%" and fish[3] == "10.0"
    assert fish[4] == "10" and fish[5] == "10.0%" and fish[6] == "7.0"
    assert len(lines) == 3 and not any(line.startswith("rich") for line in lines)  # nobody held it: no row
    one_sided = dict(random, task_rich_ended=np.array([0, 2]))
    assert EV.task_table(cur, totals, one_sided)[2].split()[:4] == ["rich", "0", "-", "-"]  # no rate, no ticks
    assert lines[-1] == "task_completion=0.3000 random_task_completion=0.1000"
