"""GAE on hand-computed cases, the PPO loss ignoring invalid steps, and config validation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nmmo_jax
from agents import ppo
from nmmo_jax import tiles as T
from nmmo_jax.config import ConfigError

from .conftest import TINY_RUN, tiny_config

# ---------------------------------------------------------------------------------------- GAE
GAMMA, LAM = 0.9, 0.8
GL = GAMMA * LAM  # 0.72


def _gae_columns(columns):
    """Run ``ppo.gae`` on columns that share values [1, 2, 3], last value 4, rewards [0.5, -1, 0.25]."""
    t, b = 3, len(columns)
    value = np.tile(np.array([[1.0], [2.0], [3.0]], np.float32), (1, b))
    reward = np.tile(np.array([[0.5], [-1.0], [0.25]], np.float32), (1, b))
    term = np.zeros((t, b), bool)
    trunc = np.zeros((t, b), bool)
    for j, (kind, tick) in enumerate(columns):
        if kind == "term":
            term[tick, j] = True
        elif kind == "trunc":
            trunc[tick, j] = True
    last = np.full((b,), 4.0, np.float32)
    adv, target = ppo.gae(jnp.asarray(value), jnp.asarray(reward), jnp.asarray(term), jnp.asarray(trunc),
                          jnp.asarray(last), GAMMA, LAM)
    adv, target = np.asarray(adv), np.asarray(target)
    np.testing.assert_allclose(target, adv + value, rtol=0, atol=1e-6, err_msg="target = advantage + value")
    return adv


# One-step TD errors with a bootstrap, by hand:
#   delta_2 = 0.25 + 0.9 * 4 - 3 = 0.85     (bootstraps from the last value)
#   delta_1 = -1   + 0.9 * 3 - 2 = -0.3
#   delta_0 = 0.5  + 0.9 * 2 - 1 = 1.3
# and without (a death on that tick): 0.25 - 3 = -2.75, -1 - 2 = -3, 0.5 - 1 = -0.5.
NO_BOUNDARY = [1.3 + GL * (-0.3 + GL * 0.85), -0.3 + GL * 0.85, 0.85]  # [1.52464, 0.312, 0.85]


def test_gae_without_boundary():
    adv = _gae_columns([("none", 0)])
    np.testing.assert_allclose(adv[:, 0], [1.52464, 0.312, 0.85], atol=1e-5)
    np.testing.assert_allclose(adv[:, 0], NO_BOUNDARY, atol=1e-5)


def test_gae_death_has_no_bootstrap_and_cuts_the_chain():
    adv = _gae_columns([("term", 1), ("term", 2), ("term", 0)])
    # death on tick 1: delta_1 = -1 - 2 = -3 (no 0.9 * V(next)); tick 2 (another episode) does not flow back
    np.testing.assert_allclose(adv[:, 0], [1.3 + GL * -3.0, -3.0, 0.85], atol=1e-5)
    np.testing.assert_allclose(adv[:, 0], [-0.86, -3.0, 0.85], atol=1e-5)
    # death on the last tick: the last value is not used
    np.testing.assert_allclose(adv[:, 1], [1.3 + GL * (-0.3 + GL * -2.75), -0.3 + GL * -2.75, -2.75], atol=1e-5)
    np.testing.assert_allclose(adv[:, 1], [-0.3416, -2.28, -2.75], atol=1e-5)
    # death on the first tick
    np.testing.assert_allclose(adv[:, 2], [-0.5, -0.3 + GL * 0.85, 0.85], atol=1e-5)


def test_gae_truncation_bootstraps_and_cuts_the_chain():
    adv = _gae_columns([("trunc", 1), ("trunc", 2), ("trunc", 0)])
    # truncation on tick 1: delta_1 keeps 0.9 * V(obs after tick 1) = 0.9 * 3, but A_2 does not flow back
    np.testing.assert_allclose(adv[:, 0], [1.3 + GL * -0.3, -0.3, 0.85], atol=1e-5)
    np.testing.assert_allclose(adv[:, 0], [1.084, -0.3, 0.85], atol=1e-5)
    # truncation on the last tick bootstraps from the last value: same as no boundary
    np.testing.assert_allclose(adv[:, 1], NO_BOUNDARY, atol=1e-5)
    # truncation on the first tick: delta_0 = 1.3 alone
    np.testing.assert_allclose(adv[:, 2], [1.3, -0.3 + GL * 0.85, 0.85], atol=1e-5)


def test_gae_columns_are_independent():
    """Boundaries in one column never change another (the batch axis is not mixed)."""
    adv = _gae_columns([("none", 0), ("term", 1), ("trunc", 1), ("none", 0)])
    np.testing.assert_allclose(adv[:, 0], NO_BOUNDARY, atol=1e-5)
    np.testing.assert_allclose(adv[:, 3], NO_BOUNDARY, atol=1e-5)
    np.testing.assert_allclose(adv[:, 1], [-0.86, -3.0, 0.85], atol=1e-5)
    np.testing.assert_allclose(adv[:, 2], [1.084, -0.3, 0.85], atol=1e-5)


# ------------------------------------------------------------------------------ the loss mask
def _masked_batch(run, seed=0):
    """The run's fixed rollout batch with float entities and extra invalid steps.

    Entities become float32 so the loss can be differentiated with respect to
    them (the model reads them through ``symlog``, which casts to float32 anyway).
    A third of the steps are marked invalid on top of the real ones, and the
    recurrent reset flag follows the rollout's rule: the step after an invalid
    step starts from a zero carry.
    """
    _, batch, carry0, _ = run.fixed_batch
    rng = np.random.default_rng(seed)
    valid = np.asarray(batch.valid) & (rng.random(batch.valid.shape) > 0.33)
    reset = np.asarray(batch.reset).copy()
    reset[1:] |= ~valid[:-1]
    obs = dict(batch.obs, entities=jnp.asarray(batch.obs["entities"], jnp.float32))
    batch = batch._replace(obs=obs, valid=jnp.asarray(valid), reset=jnp.asarray(reset))
    assert 0 < valid.sum() < valid.size
    return batch, carry0, valid


def _loss_fn(run):
    t = run.config.train
    model = run.trainer.model

    def loss(params, entities, batch, carry0):
        batch = batch._replace(obs=dict(batch.obs, entities=entities))
        return ppo.ppo_loss(model, params, batch, carry0, run.trainer.recurrent, t.clip_eps, t.vf_coef, t.ent_coef)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))


def _scramble_invalid(batch, valid, seed):
    """Replace everything an invalid step holds by garbage: other observations, actions, NaN floats."""
    rng = np.random.default_rng(seed)
    inv = ~valid
    obs = {k: np.array(v) for k, v in batch.obs.items() if k != "action_mask"}
    ent = obs["entities"]
    ent[inv] = rng.integers(-32768, 32767, ent[inv].shape).astype(np.float32)
    em = obs["entity_mask"]
    em[inv] = rng.random(em[inv].shape) < 0.5
    tiles = obs["tiles"]
    tiles[inv] = rng.integers(0, [T.NUM_MATERIALS, 3, 255], tiles[inv].shape).astype(tiles.dtype)
    masks = {h: np.array(m) for h, m in batch.obs["action_mask"].items()}
    for m in masks.values():
        m[inv] = rng.random(m[inv].shape) < 0.5
    action = {h: np.array(a) for h, a in batch.action.items()}
    for h, a in action.items():
        a[inv] = rng.integers(0, masks[h].shape[-1], a[inv].shape)
    floats = {}
    for name in ("logp", "value", "advantage", "target"):
        x = np.array(getattr(batch, name))
        x[inv] = np.nan
        floats[name] = jnp.asarray(x)
    obs = {k: jnp.asarray(v) for k, v in obs.items()}
    obs["action_mask"] = {h: jnp.asarray(m) for h, m in masks.items()}
    return batch._replace(obs=obs, action={h: jnp.asarray(a) for h, a in action.items()}, **floats)


@pytest.fixture(scope="module", params=["rec", "ff"])
def loss_case(request):
    run = request.getfixturevalue(request.param)
    batch, carry0, valid = _masked_batch(run)
    fn = _loss_fn(run)
    params = run.fixed_batch[0].params
    out = fn(params, batch.obs["entities"], batch, carry0)
    return run, fn, params, batch, carry0, valid, out


def test_loss_gradient_is_zero_for_invalid_steps(loss_case):
    run, fn, params, batch, carry0, valid, ((total, aux), (g_params, g_ent)) = loss_case
    g_ent = np.asarray(g_ent)  # [T, b, K, F]
    per_step = np.abs(g_ent).sum(axis=(2, 3))
    assert np.all(per_step[~valid] == 0.0), \
        f"{int((per_step[~valid] != 0).sum())} invalid steps get a gradient through their observation"
    # and the valid ones do get one (so the check above can fail)
    assert (per_step[valid] > 0).mean() > 0.9
    assert np.isfinite(float(total))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(g_params))


def test_loss_ignores_the_data_of_invalid_steps(loss_case):
    run, fn, params, batch, carry0, valid, ((total, aux), (g_params, g_ent)) = loss_case
    scrambled = _scramble_invalid(batch, valid, seed=1)
    (total2, aux2), (g_params2, g_ent2) = fn(params, scrambled.obs["entities"], scrambled, carry0)
    assert float(total2) == float(total)
    for k in aux:
        assert float(aux2[k]) == float(aux[k]), k
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(g_params), jax.tree.leaves(g_params2)):
        assert np.array_equal(np.asarray(a), np.asarray(b)), f"parameter gradient {jax.tree_util.keystr(path)}"
    np.testing.assert_array_equal(np.asarray(g_ent2)[valid], np.asarray(g_ent)[valid])


def test_loss_depends_on_the_data_of_valid_steps(loss_case):
    """The counterpart: the same kind of change on one valid step does change the loss and the gradient."""
    run, fn, params, batch, carry0, valid, ((total, aux), (g_params, _)) = loss_case
    t, b = np.argwhere(valid)[len(np.argwhere(valid)) // 2]
    adv = np.array(batch.advantage)
    adv[t, b] += 5.0
    changed = batch._replace(advantage=jnp.asarray(adv))
    (total2, _), (g_params2, _) = fn(params, batch.obs["entities"], changed, carry0)
    assert any(not np.array_equal(np.asarray(a), np.asarray(c))
               for a, c in zip(jax.tree.leaves(g_params), jax.tree.leaves(g_params2)))
    # The loss's value: at the rollout's own parameters every ratio is 1 and the policy term is minus the mean
    # normalised advantage, 0 whatever the advantages; one step away from them it depends on each of them.
    moved = jax.tree.map(lambda p, g: p - 1e-2 * jnp.sign(g), params, g_params)
    (at_moved, _), _ = fn(moved, batch.obs["entities"], batch, carry0)
    (at_moved2, _), _ = fn(moved, batch.obs["entities"], changed, carry0)
    assert float(at_moved2) != float(at_moved)


# ------------------------------------------------------------------------------------ validate
def test_validate_rejects_minibatches_that_do_not_divide_the_batch():
    cfg = tiny_config(**{"train.num_minibatches": 3})  # 4 envs x 16 agents = 64 slots
    with pytest.raises(ConfigError) as err:
        ppo.validate(cfg)
    msg = str(err.value)
    for word in ("train.num_minibatches=3", "num_envs", "num_agents", "64"):
        assert word in msg, f"{word!r} not in {msg!r}"


def test_make_train_fails_before_compiling(monkeypatch):
    """make_train raises the ConfigError itself, and nothing is traced or compiled first."""
    cfg = tiny_config(**{"train.num_minibatches": 3})

    def no_jit(*a, **k):
        raise AssertionError("jax.jit called before the config was validated")

    monkeypatch.setattr(jax, "jit", no_jit)
    with pytest.raises(ConfigError, match="num_minibatches"):
        ppo.make_train(cfg)


def test_validate_accepts_divisors():
    for n in (1, 2, 4, 8, 16, 32, 64):
        ppo.validate(tiny_config(**{"train.num_minibatches": n}))


@pytest.mark.parametrize("key", ["train.no_such_key", "no_such_key", "env.lr"])
def test_unknown_key_is_a_config_error_naming_it(key):
    with pytest.raises(ConfigError) as err:
        nmmo_jax.load_config("small", {**TINY_RUN, key: 1})
    assert key in str(err.value)
