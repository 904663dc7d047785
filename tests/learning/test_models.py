"""Policies: output shapes follow the action masks, masks hold, the attentional IO behaves as documented.

Most tests run on synthetic observations (``random_obs``) with three heads:
the world's ``move``, a fixed-choice ``use_item`` and a target head
``attack`` of size K (one choice per entity row), the way later game systems
add heads. Model shapes are fixed (B=32, K=8, hidden 16) so each model compiles
once for the module.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import models as M
from agents import ppo
from agents.io import RowEncoder, channel_encoding, encode_columns
import nmmo_jax
from nmmo_jax import spaces
from nmmo_jax import tiles as T
from nmmo_jax.observe import ENTITY_FEATURES, FEATURE_INDEX, NUM_ENTITY_FEATURES

from .conftest import tiny_config

B, K, S, HIDDEN = 32, 8, 15, 16
HEADS = {"move": T.NUM_MOVES, "use_item": 3, "attack": K}
POINTER_HEADS = ("attack", "give")  # heads that choose an entity row
MODEL_NAMES = ("feedforward", "recurrent")


def synthetic_spaces(heads=HEADS):
    """(observation space, action space) of ``random_obs``: what the world would declare for these heads."""
    act = spaces.Dict({h: spaces.Discrete(n, rows="entities" if h in POINTER_HEADS else None)
                       for h, n in heads.items()})
    obs = spaces.Dict({
        "tiles": spaces.Box(0, (T.NUM_MATERIALS - 1, 2, 255), (S, S, 3), "uint8",
                            names=("material", "resource", "entity_count")),
        "entities": spaces.Box(-32768, 32767, (K, NUM_ENTITY_FEATURES), "int16",
                               names=tuple(n for n, _ in ENTITY_FEATURES), mask="entity_mask"),
        "entity_mask": spaces.Box(0, 1, (K,), "bool"),
        "action_mask": spaces.Dict({h: spaces.Box(0, 1, (n,), "bool") for h, n in heads.items()}),
    })
    return obs, act


def random_obs(seed, heads=HEADS, b=B):
    """Observations shaped like the world's, with random contents and random legal-action masks.

    Rows 0-2 are dead agents (no entity row at all), rows 3-10 have exactly one
    legal action per head, attributes span the real range (negative relative
    positions, gold in the thousands).
    """
    rng = np.random.default_rng(seed)
    ent = rng.integers(-7, 120, (b, K, NUM_ENTITY_FEATURES))
    ent[..., FEATURE_INDEX["gold"]] = rng.integers(0, 20000, (b, K))
    mask = rng.random((b, K)) < 0.6
    mask[:, 0] = True
    mask[:3] = False
    tiles = np.stack([rng.integers(0, T.NUM_MATERIALS, (b, S, S)), rng.integers(0, 3, (b, S, S)),
                      rng.integers(0, 4, (b, S, S))], -1)
    action_mask = {}
    for h, n in heads.items():
        m = rng.random((b, n)) < 0.5
        m[np.arange(b), rng.integers(0, n, b)] = True  # at least one legal action
        single = rng.integers(0, n, 8)
        m[3:11] = False
        m[np.arange(3, 11), single] = True
        action_mask[h] = m
    obs = {"entities": ent.astype(np.int16), "entity_mask": mask, "tiles": tiles.astype(np.uint8),
           "action_mask": action_mask}
    return jax.tree.map(jnp.asarray, obs)


class Model:
    def __init__(self, name, heads=HEADS):
        self.name = name
        self.model = M.make_model(name, *synthetic_spaces(heads), hidden=HIDDEN)
        obs = random_obs(0, heads)
        self.params = jax.jit(self.model.init)(jax.random.PRNGKey(0), obs, self.model.initial_carry(B),
                                               jnp.ones(B, bool))
        self.apply = jax.jit(self.model.apply)

    def __call__(self, obs, carry=None, reset=None):
        carry = self.model.initial_carry(B) if carry is None else carry
        reset = jnp.zeros(B, bool) if reset is None else reset
        return self.apply(self.params, obs, carry, reset)


_MODELS: dict = {}


def get_model(name) -> Model:
    """One compiled model per name for the whole module."""
    if name not in _MODELS:
        _MODELS[name] = Model(name)
    return _MODELS[name]


@pytest.fixture(scope="module", params=MODEL_NAMES)
def model(request):
    return get_model(request.param)


@pytest.fixture(scope="module")
def feedforward():
    """For tests of the action heads and distributions, which every model shares."""
    return get_model("feedforward")


@pytest.fixture(scope="module")
def recurrent():
    return get_model("recurrent")


def _np(tree):
    return jax.tree.map(np.asarray, tree)


# ------------------------------------------------------------------------------ shapes, masks
def test_logits_follow_the_action_masks_of_real_observations(rec):
    """On the world's own observations (one tick of the tiny run), one logits entry per mask."""
    _, batch, _, _ = rec.fixed_batch
    obs = jax.tree.map(lambda x: x[0], batch.obs)
    runner = rec.fixed_batch[0]
    slots = rec.trainer.slots
    logits, value, carry = jax.jit(rec.trainer.model.apply)(
        runner.params, obs, rec.trainer.model.initial_carry(slots), jnp.ones(slots, bool))
    assert set(logits) == set(obs["action_mask"])
    for h, m in obs["action_mask"].items():
        assert logits[h].shape == m.shape and logits[h].dtype == jnp.float32
        assert np.all(np.asarray(logits[h])[~np.asarray(m)] == np.finfo(np.float32).min)
    assert value.shape == (slots,)
    assert jax.tree.map(jnp.shape, carry) == jax.tree.map(jnp.shape, rec.trainer.model.initial_carry(slots))


def test_logits_shapes_and_masked_logits(model):
    obs = random_obs(1)
    logits, value, carry = model(obs)
    assert sorted(logits) == sorted(HEADS)
    for h, n in HEADS.items():
        lg, m = np.asarray(logits[h]), np.asarray(obs["action_mask"][h])
        assert lg.shape == (B, n)
        assert np.all(lg[~m] == np.finfo(np.float32).min)
        assert np.all(np.isfinite(lg)) and np.all(lg[m] > -1e6)
    assert value.shape == (B,) and np.all(np.isfinite(np.asarray(value)))


def test_illegal_actions_are_never_sampled(feedforward):
    """2048 samples for each of 32 rows, random masks (8 rows with one legal action per head)."""
    obs = random_obs(2)
    logits, _, _ = feedforward(obs)
    keys = jax.random.split(jax.random.PRNGKey(3), 2048)
    samples = _np(jax.jit(jax.vmap(M.sample_actions, in_axes=(0, None)))(keys, logits))
    greedy = _np(jax.jit(M.greedy_actions)(logits))
    for h, m in obs["action_mask"].items():
        m = np.asarray(m)
        a = samples[h]  # [2048, B]
        assert a.dtype == np.int32
        assert np.all(m[np.arange(B)[None, :], a]), f"{h}: illegal action sampled"
        assert np.all(m[np.arange(B), greedy[h]]), f"{h}: illegal greedy action"
        single = m.sum(-1) == 1
        assert single.sum() >= 8
        assert np.all(a[:, single] == np.argmax(m[single], -1)[None, :])
        # and sampling follows the probabilities (not, say, always the first legal action)
        p = np.asarray(jax.nn.softmax(logits[h]))
        freq = np.stack([(a == k).mean(0) for k in range(m.shape[1])], -1)
        assert np.max(np.abs(freq - p)) < 5 * np.sqrt(0.25 / 2048)


def test_illegal_probability_is_exactly_zero_and_entropy_log_prob_are_finite(feedforward):
    obs = random_obs(4)
    logits, _, _ = feedforward(obs)
    for h, m in obs["action_mask"].items():
        p = np.asarray(jax.nn.softmax(logits[h]))
        m = np.asarray(m)
        assert np.all(p[~m] == 0.0), h
        np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    ent = np.asarray(jax.jit(M.entropy)(logits))
    assert np.all(np.isfinite(ent)) and np.all(ent >= 0)
    # the joint entropy is at most the sum of log(#legal) and is 0 where every head has one choice
    bound = sum(np.log(np.asarray(m).sum(-1)) for m in obs["action_mask"].values())
    assert np.all(ent <= bound + 1e-5)
    assert np.all(ent[3:11] == 0.0)
    log_prob = jax.jit(M.log_prob)
    rng = np.random.default_rng(5)
    for _ in range(3):  # legal and illegal actions alike
        act = {h: jnp.asarray(rng.integers(0, n, B), jnp.int32) for h, n in HEADS.items()}
        lp = np.asarray(log_prob(logits, act))
        assert np.all(np.isfinite(lp))
        legal = np.all([np.asarray(obs["action_mask"][h])[np.arange(B), act[h]] for h in HEADS], 0)
        assert np.all(lp[legal] > -1e6) and np.all(lp[legal] <= 0) and np.all(lp[~legal] <= -1e30)
    # gradients of entropy and log-prob of sampled actions are finite too
    act = M.sample_actions(jax.random.PRNGKey(5), logits)
    g = jax.jit(jax.grad(lambda lg: jnp.sum(M.entropy(lg)) + jnp.sum(M.log_prob(lg, act))))(logits)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(g))
    # and an illegal action gets no gradient
    for h, m in obs["action_mask"].items():
        assert np.all(np.asarray(g[h])[~np.asarray(m)] == 0.0)


# ------------------------------------------------------------------------------ attentional IO
def test_row_encoder_one_hots_small_columns_and_squashes_the_rest():
    """encode_columns: a column with few values enters one-hot at its value, any other as sign(v) log1p(|v|)."""
    space = spaces.Box(np.array([0, -7, 0]), np.array([3, 7, 20000]), (5, 3), "int16", names=("kind", "row", "gold"))
    spec = channel_encoding(space)
    assert spec == ((0, 4), (-7, 15), (0, 0))
    x = jnp.array([[2, -7, 0], [0, 7, 20000], [3, 0, 5], [1, -1, 1], [0, 3, 99]], jnp.int16)
    out = np.asarray(encode_columns(x, spec))
    assert out.shape == (5, 1 + 4 + 15)
    np.testing.assert_allclose(out[:, 0], np.log1p([0, 20000, 5, 1, 99]), rtol=1e-6)   # gold, squashed
    np.testing.assert_array_equal(out[:, 1:5].argmax(-1), [2, 0, 3, 1, 0])              # kind, one-hot
    np.testing.assert_array_equal(out[:, 5:].argmax(-1), [0, 14, 7, 6, 10])             # row - low, one-hot
    assert np.all(out[:, 1:].sum(-1) == 2)                                              # exactly one bit each
    # with a smaller cap the row column is a signed scalar instead (scalars come first, in column order)
    narrow = np.asarray(encode_columns(x, spec, max_categories=4))
    assert narrow.shape == (5, 2 + 4)
    np.testing.assert_allclose(narrow[:, 0], np.sign([-7, 7, 0, -1, 3]) * np.log1p(np.abs([-7, 7, 0, -1, 3])), rtol=1e-6)


def test_row_encoder_tells_entity_kinds_apart():
    """One-hot kinds are not an ordered scalar: the embeddings of kinds 0..3 of the same row are all distinct
    and kind 1 is not halfway between kinds 0 and 2 (as it would be along a line through a linear layer)."""
    space = synthetic_spaces()[0]["entities"]
    enc = RowEncoder(HIDDEN, channel_encoding(space))
    row = random_obs(6)["entities"][5, 1]
    rows = jnp.stack([row.at[FEATURE_INDEX["type"]].set(k) for k in range(4)])[None]
    out = np.asarray(enc.apply(enc.init(jax.random.PRNGKey(7), rows), rows))[0]
    assert min(np.abs(out[i] - out[j]).max() for i in range(4) for j in range(i)) > 1e-3
    assert np.abs(out[1] - (out[0] + out[2]) / 2).max() > 1e-3


def test_padding_rows_cannot_change_any_output(model):
    """Rewrite every masked entity row with extreme values: logits, value and carry are bit-identical."""
    obs = random_obs(8)
    rng = np.random.default_rng(9)
    ent = np.array(obs["entities"])
    pad = ~np.asarray(obs["entity_mask"])
    ent[pad] = rng.choice(np.array([-32768, 32767, 0, 12345], np.int16), ent[pad].shape)
    assert pad.sum() > 20
    carry = jax.random.normal(jax.random.PRNGKey(1), jax.tree.map(jnp.shape, model.model.initial_carry(B)))
    a = _np(model(obs, carry))
    b = _np(model(dict(obs, entities=jnp.asarray(ent)), carry))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    # whereas changing a real (unmasked, non-self) row does change the outputs
    real = np.argwhere(~pad[:, 1:])[0] + [0, 1]
    ent2 = np.array(obs["entities"])
    ent2[real[0], real[1]] += 50
    c = _np(model(dict(obs, entities=jnp.asarray(ent2)), carry))
    assert c[1][real[0]] != a[1][real[0]]


def test_target_head_follows_the_entity_rows(model):
    """Permute the non-self rows (with their masks): the attack logits permute the same way."""
    obs = random_obs(10)
    rng = np.random.default_rng(11)
    perm = np.concatenate([[0], 1 + rng.permutation(K - 1)])
    assert not np.array_equal(perm, np.arange(K))
    pobs = dict(obs, entities=obs["entities"][:, perm], entity_mask=obs["entity_mask"][:, perm],
                action_mask=dict(obs["action_mask"], attack=obs["action_mask"]["attack"][:, perm]))
    (lg, v, _), (plg, pv, _) = _np(model(obs)), _np(model(pobs))
    np.testing.assert_allclose(plg["attack"], lg["attack"][:, perm], rtol=1e-4, atol=1e-5)
    # heads that do not point at rows, and the value, do not care about the order
    for h in ("move", "use_item"):
        np.testing.assert_allclose(plg[h], lg[h], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pv, v, rtol=1e-4, atol=1e-5)
    # the check has teeth: the attack logits differ between live rows, so the permutation moved them
    m = np.asarray(obs["action_mask"]["attack"]) & np.asarray(obs["entity_mask"])
    assert all(np.ptp(lg["attack"][b][m[b]]) > 1e-6 for b in range(B) if m[b].sum() >= 2)
    assert not np.allclose(plg["attack"], lg["attack"])


def test_a_new_head_needs_no_model_code(feedforward):
    """Heads come from the action space: add two (a fixed-choice one and a pointer one) and they appear."""
    heads = dict(HEADS, trade=7, give=K)
    model = M.make_model("feedforward", *synthetic_spaces(heads), hidden=HIDDEN)
    obs = random_obs(12, heads)
    args = (obs, model.initial_carry(B), jnp.ones(B, bool))
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), *args)  # shapes only: nothing compiles
    logits, value, _ = jax.eval_shape(model.apply, params, *args)
    assert sorted(logits) == sorted(heads)
    assert logits["trade"].shape == (B, 7) and logits["give"].shape == (B, K)
    assert logits["trade"].dtype == logits["give"].dtype == jnp.float32
    # one output layer serves every head: 7 more choices for the fixed head, one HIDDEN-wide query for the pointer
    old = feedforward.params["params"]["actions"]["logits"]["kernel"].shape
    new = params["params"]["actions"]["logits"]["kernel"].shape
    assert new == (old[0], old[1] + 7 + HIDDEN)
    # nothing else in the model changed shape
    rest = lambda p: {k: v for k, v in jax.tree.map(jnp.shape, p["params"]).items() if k != "actions"}
    assert rest(params) == rest(feedforward.params)


# ------------------------------------------------------------------------------ recurrence
def test_recurrent_carry_is_zeroed_where_reset_and_kept_elsewhere(recurrent):
    obs = random_obs(13)
    carry = jax.random.normal(jax.random.PRNGKey(2), (B, HIDDEN)) * 2.0
    reset = jnp.asarray(np.arange(B) % 3 == 0)
    lg_mix, v_mix, c_mix = _np(recurrent(obs, carry, reset))
    lg_zero, v_zero, c_zero = _np(recurrent(obs, jnp.zeros((B, HIDDEN)), jnp.zeros(B, bool)))
    lg_keep, v_keep, c_keep = _np(recurrent(obs, carry, jnp.zeros(B, bool)))
    r = np.asarray(reset)
    tol = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c_mix[r], c_zero[r], **tol)
    np.testing.assert_allclose(c_mix[~r], c_keep[~r], **tol)
    np.testing.assert_allclose(v_mix[r], v_zero[r], **tol)
    np.testing.assert_allclose(v_mix[~r], v_keep[~r], **tol)
    for h in HEADS:
        np.testing.assert_allclose(lg_mix[h][r], lg_zero[h][r], **tol)
        np.testing.assert_allclose(lg_mix[h][~r], lg_keep[h][~r], **tol)
    # the carry matters (else the above is vacuous), and it is updated by the step
    assert np.abs(c_keep - c_zero).max() > 1e-2 and np.abs(v_keep - v_zero).max() > 1e-4
    assert np.abs(c_zero).max() > 1e-3


def test_feedforward_carry_passes_through(feedforward):
    m = feedforward
    carry = jnp.arange(B, dtype=jnp.float32)[:, None]
    _, _, c = m(random_obs(14), carry, jnp.ones(B, bool))
    np.testing.assert_array_equal(np.asarray(c), np.asarray(carry))


# ------------------------------------------------------------------------------ user models
class CountingTanhPolicy(M.Policy):
    """A user model: a tanh layer in the middle, the carry counts steps since the last reset."""

    def middle(self, x, carry, reset):
        count = jnp.where(reset, 0.0, carry[:, 0]) + 1.0
        y = jnp.tanh(nn.Dense(self.hidden, name="custom")(x))
        return y, count[:, None]


def test_a_user_subclass_overriding_middle_works():
    obs_space, act_space = synthetic_spaces()
    model = CountingTanhPolicy(observation_space=obs_space, action_space=act_space, hidden=HIDDEN)
    obs = random_obs(15)
    carry = model.initial_carry(B)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), obs, carry, jnp.ones(B, bool))
    assert "custom" in params["params"] and "trunk" in params["params"] and "actions" in params["params"]
    reset = jnp.asarray(np.arange(B) % 2 == 0)

    @jax.jit
    def two_steps_and_gradient(params):
        logits, value, c1 = model.apply(params, obs, carry, jnp.ones(B, bool))
        _, _, c2 = model.apply(params, obs, c1, reset)
        g = jax.grad(lambda p: jnp.sum(model.apply(p, obs, c1, reset)[1]))(params)
        return logits, value, c1, c2, g

    logits, value, c1, c2, g = two_steps_and_gradient(params)
    assert sorted(logits) == sorted(HEADS) and value.shape == (B,)
    np.testing.assert_array_equal(np.asarray(c1)[:, 0], 1.0)
    np.testing.assert_array_equal(np.asarray(c2)[:, 0], np.where(np.asarray(reset), 1.0, 2.0))
    assert np.abs(np.asarray(g["params"]["custom"]["kernel"])).sum() > 0  # gradients reach the user's layer


def test_make_train_accepts_a_user_model():
    """Trainer(model=...) builds its runner around the user's module (shapes only: nothing compiles)."""
    env = nmmo_jax.Env(tiny_config())
    model = CountingTanhPolicy(observation_space=env.observation_space(), action_space=env.action_space(),
                               hidden=HIDDEN)
    trainer = ppo.make_train(tiny_config(), model=model)
    runner = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
    assert "custom" in runner.params["params"]
    assert runner.carry.shape == (trainer.slots, 1)


def test_first_max_index_is_argmax_with_ties_to_the_first():
    rng = np.random.default_rng(4)
    x = rng.integers(-3, 3, (200, 13)).astype(np.float32)   # many ties
    np.testing.assert_array_equal(np.asarray(M.first_max_index(jnp.asarray(x))), np.argmax(x, -1))
    lowest = np.full((2, 5), np.finfo(np.float32).min, np.float32)
    lowest[1, 3] = 0.0
    np.testing.assert_array_equal(np.asarray(M.first_max_index(jnp.asarray(lowest))), [0, 3])
