"""Curricula (SPEC section 13): the shipped files, every mistake a ConfigError, draws by weight, the descriptor.

No world is compiled here: curricula are parsed in Python, and ``system.draw`` /
``system.initial`` / ``system.descriptor`` run on their own (eagerly, jitted
and vmapped).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmmo_jax
from nmmo_jax import items as I
from nmmo_jax.config import ConfigError
from nmmo_jax.observe import SKILL_NAMES
from nmmo_jax.tasks import counters as C
from nmmo_jax.tasks import predicates as P
from nmmo_jax.tasks import system as S
from nmmo_jax.tasks.curriculum import ALL, ANY, MAX_PARTS, load_curriculum, parse_tasks

PREDICATE_NAMES = [p.name for p in P.PREDICATES]


def task(name="t", parts=None, combine="all", **keys):
    parts = [{"predicate": "gold", "gold": 3}] if parts is None else parts
    return {"name": name, combine: parts, **keys}


# ----------------------------------------------------------------------------- shipped curricula


def test_survival_is_time_alive_for_the_horizon():
    cur = load_curriculum("survival", horizon=128)
    assert cur.names == ("survive",)
    assert int(cur.predicate[0, 0]) == P.PREDICATE_ID["time_alive"] and int(cur.target[0, 0]) == 128
    assert np.all(cur.predicate[0, 1:] == 0) and float(cur.reward[0]) == 1.0 and not cur.ends[0]
    assert load_curriculum("survival", horizon=64).target[0, 0] == 64


def test_rich_uses_every_predicate_and_both_all_and_any():
    cur = load_curriculum("rich", horizon=128)
    assert cur.used_predicates == tuple(range(1, len(P.PREDICATES) + 1)), "every predicate of PREDICATES"
    assert set(cur.combine.tolist()) == {ALL, ANY}
    assert any(int((cur.predicate[t] > 0).sum()) > 1 and cur.combine[t] == ALL for t in range(cur.num_tasks))
    assert any(int((cur.predicate[t] > 0).sum()) > 1 and cur.combine[t] == ANY for t in range(cur.num_tasks))
    assert cur.ends.any(), "one task ends its episode"
    assert np.isclose(cur.weight.sum(), 1.0) and np.all(cur.weight > 0)
    assert len(cur.describe()) == cur.num_tasks
    assert all(line.startswith(f"{name}:") for line, name in zip(cur.describe(), cur.names))


@pytest.mark.parametrize("name", ["survival", "rich"])
def test_shipped_curricula_load_through_the_config(name):
    config = nmmo_jax.load_config("small", overrides={"curriculum": name})
    cur = config.env.load_curriculum()
    assert cur.num_tasks >= 1 and cur.source.endswith(f"{name}.yaml")
    path_cur = nmmo_jax.load_config("small", overrides={"curriculum": cur.source}).env.load_curriculum()
    assert path_cur.names == cur.names and np.array_equal(path_cur.target, cur.target)


# ----------------------------------------------------------------------------- mistakes


def raises(tasks, *needles, horizon=128):
    with pytest.raises(ConfigError) as err:
        parse_tasks(tasks, horizon, where="my.yaml")
    message = str(err.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in the message: {message}"
    return message


def test_unknown_predicate_lists_the_predicates():
    msg = raises([task(parts=[{"predicate": "fly", "n": 3}])], "my.yaml", "'t'", "predicate", "'fly'")
    assert all(name in msg for name in PREDICATE_NAMES)


@pytest.mark.parametrize("part,field,value,allowed", [
    ({"predicate": "count", "counter": "eats", "n": 3}, "counter", "'eats'", list(C.COUNTERS)),
    ({"predicate": "skill_level", "skill": "cooking", "level": 3}, "skill", "'cooking'", list(SKILL_NAMES)),
    ({"predicate": "equipped", "item": "ration", "level": 1}, "item", "'ration'", list(P.EQUIPPABLE)),
    ({"predicate": "equipped", "item": "sword", "level": 1}, "item", "'sword'", list(P.EQUIPPABLE)),
])
def test_unknown_subject_lists_the_allowed_subjects(part, field, value, allowed):
    msg = raises([task(parts=[part])], f"{field}={value}")
    assert all(name in msg for name in allowed), msg
    assert "ration" not in P.EQUIPPABLE and "hat" in P.EQUIPPABLE and "arrow" in P.EQUIPPABLE


@pytest.mark.parametrize("part,field,lo,hi", [
    ({"predicate": "count", "counter": "eat", "n": 0}, "n=0", 1, P.MAX_TARGET),
    ({"predicate": "count", "counter": "eat", "n": P.MAX_TARGET + 1}, f"n={P.MAX_TARGET + 1}", 1, P.MAX_TARGET),
    ({"predicate": "count", "counter": "eat", "n": 2.5}, "n=2.5", 1, P.MAX_TARGET),
    ({"predicate": "count", "counter": "eat", "n": True}, "n=True", 1, P.MAX_TARGET),
    ({"predicate": "skill_level", "skill": "fishing", "level": 1}, "level=1", 2, 10),
    ({"predicate": "skill_level", "skill": "fishing", "level": 11}, "level=11", 2, 10),
    ({"predicate": "time_alive", "ticks": 0}, "ticks=0", 1, P.MAX_TARGET),
    ({"predicate": "time_alive", "ticks": "forever"}, "ticks='forever'", 1, P.MAX_TARGET),
    ({"predicate": "gold", "gold": "horizon"}, "gold='horizon'", 1, P.MAX_TARGET),
    ({"predicate": "equipped", "item": "hat", "level": 0}, "level=0", 1, I.MAX_LEVEL),
    ({"predicate": "near_centre", "distance": -1}, "distance=-1", 0, P.MAX_TARGET),
])
def test_target_out_of_range_names_the_range(part, field, lo, hi):
    raises([task(parts=[part])], field, f"from {lo} to {hi}")


def test_horizon_beyond_the_largest_target_is_refused():
    raises([task(parts=[{"predicate": "time_alive", "ticks": "horizon"}])], "ticks=", f"to {P.MAX_TARGET}",
           horizon=P.MAX_TARGET + 1)


def test_missing_and_extra_arguments_name_the_arguments():
    raises([task(parts=[{"predicate": "count", "counter": "eat"}])], "takes ['counter', 'n']", "missing ['n']")
    raises([task(parts=[{"predicate": "count", "n": 3}])], "takes ['counter', 'n']", "missing ['counter']")
    raises([task(parts=[{"predicate": "gold", "gold": 3, "counter": "eat"}])], "takes ['gold']",
           "unknown ['counter']")
    raises([task(parts=[{"gold": 3}])], "'predicate'", *PREDICATE_NAMES)
    raises([task(parts=["gold"])], "'predicate'")


def test_task_structure_mistakes():
    raises([task(), task()], "name 't' is used twice")
    both = {"name": "t", "all": [{"predicate": "gold", "gold": 3}], "any": [{"predicate": "gold", "gold": 3}]}
    raises([both], "'t'", "exactly one of 'all'", "'any'")
    raises([{"name": "t"}], "exactly one of 'all'", "'any'")
    raises([task(parts=[])], "'all' must be a list of 1..3 parts")
    raises([task(parts=[{"predicate": "gold", "gold": 3}] * (MAX_PARTS + 1), combine="any")],
           "'any' must be a list of 1..3 parts")
    raises([task(colour="red")], "unknown key(s) ['colour']", "'weight'", "'end_on_completion'")
    raises([task(name="Big Task")], "name='Big Task'", "lower-case letters")
    raises([task(end_on_completion="yes")], "end_on_completion='yes'", "true or false")
    raises([task(weight=-1)], "weight=-1", ">= 0")
    raises([task(weight="heavy")], "weight='heavy'", "a number")
    raises([task(reward="lots")], "reward='lots'", "a number")
    raises(["gold"], "task 1 must be a mapping", "'name'", "'all'")


def test_weights_summing_to_zero():
    raises([task("a", weight=0), task("b", weight=0)], "weights sum to 0", "weight > 0")


def test_empty_task_list():
    raises([], "my.yaml", "'tasks' must be a non-empty list")


@pytest.mark.parametrize("text,needles", [
    ("tasks: []\n", ["'tasks' must be a non-empty list"]),
    ("tasks:\n", ["'tasks' must be a non-empty list"]),
    ("jobs: []\n", ["one key, 'tasks'"]),
    ("tasks: [\n", ["not valid YAML"]),
    ("tasks:\n  - {name: a, all: [{predicate: gold, gold: 3}]}\n  - {name: a, any: [{predicate: gold, gold: 4}]}\n",
     ["name 'a' is used twice"]),
])
def test_curriculum_file_mistakes_name_the_file(tmp_path, text, needles):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_curriculum(str(path), 128)
    for needle in needles + [str(path)]:
        assert needle in str(err.value), str(err.value)
    with pytest.raises(ConfigError):  # and through the config
        nmmo_jax.load_config("small", overrides={"curriculum": str(path)})


def test_unknown_curriculum_and_task_in_the_config():
    with pytest.raises(ConfigError) as err:
        nmmo_jax.load_config("small", overrides={"curriculum": "nope"})
    assert "env.curriculum='nope'" in str(err.value) and "rich" in str(err.value) and "survival" in str(err.value)
    with pytest.raises(ConfigError) as err:
        nmmo_jax.load_config("small", overrides={"curriculum": "rich", "task": "nope"})
    msg = str(err.value)
    assert "env.task='nope'" in msg and all(name in msg for name in load_curriculum("rich", 128).names), msg
    with pytest.raises(ConfigError, match="env.task='fish' needs env.curriculum"):
        nmmo_jax.load_config("small", overrides={"task": "fish"})
    with pytest.raises(ConfigError, match="env.task_reward='both'.*'add', 'replace'"):
        nmmo_jax.load_config("small", overrides={"curriculum": "rich", "task_reward": "both"})


# ----------------------------------------------------------------------------- draws


def chi_square(counts, probs):
    """(statistic, degrees of freedom) of observed counts against probabilities (all > 0)."""
    counts = np.asarray(counts, np.float64)
    expected = counts.sum() * np.asarray(probs, np.float64)
    return float(np.sum((counts - expected) ** 2 / expected)), len(counts) - 1


# chi-square critical values at p = 0.001 for 1..6 degrees of freedom
CRITICAL_001 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46}


@pytest.mark.parametrize("weights", [[1, 0, 2, 3, 0, 4], [0, 5, 1], [1, 1, 1, 1, 95, 0]])
def test_draws_follow_the_weights_and_never_pick_a_weight_of_zero(weights):
    cur = parse_tasks([task(f"t{i}", weight=w) for i, w in enumerate(weights)], 128)
    np.testing.assert_allclose(cur.weight, np.asarray(weights) / sum(weights), rtol=1e-6)
    n = 20_000
    drawn = np.asarray(S.draw(jax.random.PRNGKey(2024), cur, n))
    assert drawn.dtype == np.int32 and drawn.shape == (n,)
    counts = np.bincount(drawn, minlength=len(weights))
    assert counts.shape == (len(weights),), "a row outside the curriculum was drawn"
    w = np.asarray(weights, np.float64)
    assert np.all(counts[w == 0] == 0), f"a task of weight 0 was drawn: {counts}"
    live = w > 0
    stat, dof = chi_square(counts[live], w[live] / w.sum())
    try:
        from scipy.stats import chi2
        assert chi2.sf(stat, dof) > 0.001, f"counts {counts} against weights {weights}: chi2={stat:.1f}"
    except ImportError:
        assert stat < CRITICAL_001[dof], f"counts {counts} against weights {weights}: chi2={stat:.1f}"
    # uniform draws would be far off (the test can tell): same counts against equal weights
    if len(set(w[live].tolist())) > 1:
        assert chi_square(counts[live], np.full(live.sum(), 1 / live.sum()))[0] > 100


def test_every_draw_is_a_weighted_task_over_many_keys():
    cur = parse_tasks([task("a", weight=0), task("b", weight=1), task("c", weight=0), task("d", weight=3),
                       task("e", weight=0)], 128)
    draw = jax.jit(jax.vmap(lambda k: S.draw(k, cur, 64)))
    drawn = np.asarray(draw(jax.random.split(jax.random.PRNGKey(5), 500)))
    assert set(np.unique(drawn).tolist()) == {1, 3}


def test_env_task_makes_every_agent_draw_that_task():
    config = nmmo_jax.load_config("small", overrides={"curriculum": "rich", "task": "fish"})
    cur = config.env.load_curriculum()
    rich = load_curriculum("rich", config.env.horizon)
    assert cur.names == rich.names and np.array_equal(cur.target, rich.target), "rows (ids) do not move"
    row = cur.names.index("fish")
    expected = np.zeros(cur.num_tasks, np.float32)
    expected[row] = 1
    np.testing.assert_array_equal(cur.weight, expected)
    for seed in range(5):
        tasks = S.initial(jax.random.PRNGKey(seed), cur, 64)
        assert np.all(np.asarray(tasks.task) == row)
        assert np.all(np.asarray(S.draw(jax.random.PRNGKey(100 + seed), cur, 64)) == row)
    zero = parse_tasks([task("a"), task("b", weight=0)], 128).only("b")  # a weight-0 task can be chosen
    assert np.all(np.asarray(S.draw(jax.random.PRNGKey(0), zero, 64)) == 1)
    with pytest.raises(ConfigError, match=r"env.task='c'.*\['a', 'b'\]"):
        zero.only("c")


def test_draws_are_the_same_eager_jitted_and_vmapped():
    cur = load_curriculum("rich", 128)
    keys = jax.random.split(jax.random.PRNGKey(9), 3)
    eager = [np.asarray(S.initial(k, cur, 16).task) for k in keys]
    jitted = jax.jit(lambda k: S.initial(k, cur, 16).task)
    batched = np.asarray(jax.jit(jax.vmap(lambda k: S.initial(k, cur, 16).task))(keys))
    for i, k in enumerate(keys):
        np.testing.assert_array_equal(eager[i], np.asarray(jitted(k)))
        np.testing.assert_array_equal(eager[i], batched[i])
        np.testing.assert_array_equal(eager[i], np.asarray(S.initial(k, cur, 16).task))
    assert not np.array_equal(eager[0], eager[1]), "different keys, different tasks"
    assert len(set(eager[0].tolist())) > 1, "16 agents do not all draw the same of 14 tasks"
    assert S.initial(keys[0], None, 16).task.shape == (16,)


# ----------------------------------------------------------------------------- the descriptor


def test_descriptor_of_every_rich_task_is_its_row_and_inside_the_bounds():
    cur = load_curriculum("rich", 128)
    t = cur.num_tasks
    best = np.linspace(0.0, 1.0, t).astype(np.float32)
    best[0], best[1] = 0.999, 0.5
    tasks = S.initial(jax.random.PRNGKey(0), cur, t).replace(task=jnp.arange(t, dtype=jnp.int32),
                                                               best=jnp.asarray(best))
    d = np.asarray(S.descriptor(cur, tasks))
    assert d.dtype == np.int16 and d.shape == (t, len(S.DESCRIPTOR)) == (t, 3 * MAX_PARTS + 3)
    low, high = (np.asarray(b) for b in S.descriptor_bounds())
    assert np.all(d >= low) and np.all(d <= high)
    col = {name: i for i, name in enumerate(S.DESCRIPTOR)}
    for p in range(MAX_PARTS):
        np.testing.assert_array_equal(d[:, col[f"part{p}_predicate"]], cur.predicate[:, p])
        np.testing.assert_array_equal(d[:, col[f"part{p}_subject"]], cur.subject[:, p])
        np.testing.assert_array_equal(d[:, col[f"part{p}_target"]], cur.target[:, p])
    np.testing.assert_array_equal(d[:, col["any"]], cur.combine == ANY)
    np.testing.assert_array_equal(d[:, col["ends"]], cur.ends)
    np.testing.assert_array_equal(d[:, col["progress_percent"]], np.floor(best.astype(np.float64) * 100))
    assert d[0, col["progress_percent"]] == 99 and d[1, col["progress_percent"]] == 50
    assert d[-1, col["progress_percent"]] == 100
    # an item subject is the item's type id
    arm = cur.names.index("arm")
    assert d[arm, col["part0_subject"]] == I.NAMES.index("whetstone")
    assert d[arm, col["part1_subject"]] == I.NAMES.index("arrow")


def test_bounds_cover_the_largest_subject_and_target():
    low, high = (np.asarray(b) for b in S.descriptor_bounds())
    col = {name: i for i, name in enumerate(S.DESCRIPTOR)}
    assert high[col["part0_predicate"]] == len(P.PREDICATES)
    assert high[col["part0_subject"]] >= max(len(C.COUNTERS), I.NUM_TYPES) - 1
    assert high[col["part0_target"]] == P.MAX_TARGET <= np.iinfo(np.int16).max
    big = parse_tasks([task(parts=[{"predicate": "count", "counter": C.COUNTERS[-1], "n": P.MAX_TARGET}]),
                       task("u", parts=[{"predicate": "equipped", "item": P.EQUIPPABLE[-1], "level": 10}])], 128)
    tasks = S.initial(jax.random.PRNGKey(0), big, 2).replace(task=jnp.asarray([0, 1], jnp.int32),
                                                              best=jnp.ones(2, jnp.float32))
    d = np.asarray(S.descriptor(big, tasks))
    assert np.all(d >= low) and np.all(d <= high)
    assert d[0, col["part0_target"]] == P.MAX_TARGET and d[0, col["part0_subject"]] == len(C.COUNTERS) - 1
