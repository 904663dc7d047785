"""Policies: one shared encoder and head layout; a model is what sits in the middle.

``Policy.__call__(obs, carry, reset)`` encodes the observation (``agents.io``),
runs ``self.middle(x, carry, reset)``, then the action heads and a value head.
``middle`` is the only thing a new model changes, so every model reads the
same observations, emits the same masked logits and plugs into the same PPO.
All inputs carry one batch axis B (flatten envs x agents into B first).

Writing a new model::

    import flax.linen as nn
    import jax.numpy as jnp
    from agents.models import Policy, MODELS

    class LSTMPolicy(Policy):
        def initial_carry(self, batch_size):
            z = jnp.zeros((batch_size, self.hidden), jnp.float32)
            return (z, z)

        def middle(self, x, carry, reset):      # x: f32[B, hidden], reset: bool[B]
            carry = tuple(jnp.where(reset[:, None], 0.0, c) for c in carry)
            carry, y = nn.OptimizedLSTMCell(self.hidden, name="lstm")(carry, x)
            return y, carry                     # (f32[B, hidden], new carry)

    MODELS["lstm"] = LSTMPolicy                  # make_model("lstm", env=env, hidden=128)

``middle`` may create layers inline (it runs inside the compact ``__call__``);
``initial_carry`` must not touch parameters, so it works on an unbound model.

The distribution helpers work on the logits dict alone. Masked logits are the
dtype's minimum (finite), so probabilities of illegal actions are exactly 0
and entropy/log-prob (and their gradients) stay finite.
"""
from __future__ import annotations

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from typing import Any

from agents.io import ActionHeads, EntityPool, RowEncoder, TileEncoder, channel_encoding, symlog


def input_layout(space) -> dict:
    """How a model reads an observation space: which keys are grids, row sets (with masks) and flat vectors.

    * a 3-D ``Box`` ``[S, S, C]`` is a grid (the tile window);
    * a 2-D ``Box`` ``[R, F]`` with a ``mask`` is a row set (entities; inventory later);
    * the masks of row sets and ``action_mask`` are read where they are used;
    * every other ``Box`` is a flat vector of features.
    """
    masks = {sub.mask for sub in space.values() if getattr(sub, "mask", None)}
    layout = {"grids": [], "row_sets": [], "flat": []}
    for key, sub in space.items():
        if key == "action_mask" or key in masks:
            continue
        if len(sub.shape) == 3:
            layout["grids"].append(key)
        elif getattr(sub, "mask", None):
            layout["row_sets"].append((key, sub.mask))
        else:
            layout["flat"].append(key)
    if "entities" not in dict(layout["row_sets"]):
        raise ValueError("the observation space has no 'entities' row set (the agent's own row is row 0 of it)")
    return layout


def flat_features(x, space):
    """A flat observation as one feature vector: small integer entries one-hot, the rest ``symlog``.

    Which entries are categorical comes from the ``Box``'s bounds (``channel_encoding``:
    at most ``MAX_CATEGORIES`` values), so the task descriptor's predicate and
    subject ids enter as one-hot codes and its targets and progress as squashed
    scalars, with no model code per task; the market's prices and counts are
    all wider, so they stay scalars.
    """
    lead = x.shape[:x.ndim - len(space.shape)]
    spec = channel_encoding(space) if space.categories() is not None else ()
    if not any(n for _, n in spec):
        return symlog(x.reshape(*lead, -1))
    parts = []
    for i, (low, n) in enumerate(spec):
        v = x[..., i]
        parts.append(jax.nn.one_hot(v.astype(jnp.int32) - low, n) if n else symlog(v)[..., None])
    return jnp.concatenate(parts, axis=-1).reshape(*lead, -1)


class Policy(nn.Module):
    """Base policy: ``(obs, carry, reset) -> (logits dict head -> f32[B, n], value f32[B], new_carry)``.

    Built from the world's spaces (``env.observation_space()``,
    ``env.action_space()``): every grid, row set and flat vector of the
    observation gets its encoder (``input_layout``), every head of the action
    space its output, and a pointer head (``Discrete(R, rows=...)``) points at
    the embeddings of its row set. ``hidden``: width of the trunk and of the
    embeddings. ``num_heads``: attention heads in the attribute and pooling attention.
    """
    observation_space: Any = None
    action_space: Any = None
    hidden: int = 64
    num_heads: int = 4

    @nn.compact
    def __call__(self, obs, carry, reset):
        if self.observation_space is None or self.action_space is None:
            raise ValueError("a Policy needs observation_space and action_space: "
                             "make_model(name, env=env) or make_model(name, env.observation_space(), env.action_space())")
        d = self.hidden
        layout = input_layout(self.observation_space)
        rows = {}
        for key, mask_key in layout["row_sets"]:
            mask = obs[mask_key]
            enc = RowEncoder(d, channel_encoding(self.observation_space[key]),
                             name="attributes" if key == "entities" else f"{key}_attributes")
            rows[key] = jnp.where(mask[..., None], enc(obs[key]), 0.0)   # masked rows: no influence anywhere
        me = rows["entities"][..., 0, :]
        parts = [me]
        for key, mask_key in layout["row_sets"]:
            pool = EntityPool(d, self.num_heads, name="entity_pool" if key == "entities" else f"{key}_pool")
            parts.append(pool(rows[key], obs[mask_key], query=me))
        for key in layout["grids"]:
            spec = channel_encoding(self.observation_space[key])
            parts.append(TileEncoder(d, spec, channels=max(8, d // 2),
                                     name="tiles" if key == "tiles" else f"{key}_grid")(obs[key]))
        for key in layout["flat"]:
            parts.append(nn.relu(nn.Dense(d, name=f"{key}_dense")(flat_features(obs[key], self.observation_space[key]))))
        x = jnp.concatenate(parts, axis=-1)
        x = nn.relu(nn.Dense(d, name="trunk")(x))
        h, new_carry = self.middle(x, carry, reset)
        heads = tuple((name, space.n, space.rows, space.row_offset)
                      for name, space in sorted(self.action_space.items()))
        logits = ActionHeads(d, heads, name="actions")(h, rows, obs["action_mask"])
        value = nn.Dense(1, name="value", kernel_init=nn.initializers.orthogonal(1.0))(h)[..., 0]
        return logits, value, new_carry

    def middle(self, x, carry, reset):
        """f32[B, hidden], carry, bool[B] -> (f32[B, hidden], new carry). Override in subclasses."""
        raise NotImplementedError("subclasses of Policy implement middle(x, carry, reset)")

    def initial_carry(self, batch_size: int):
        """The carry at the start of an episode; usable without parameters."""
        return jnp.zeros((batch_size, 1), jnp.float32)


class FeedForwardPolicy(Policy):
    """Two residual dense layers; the carry is a dummy [B, 1] passed through unchanged."""

    def middle(self, x, carry, reset):
        y = nn.relu(nn.Dense(self.hidden, name="mlp_0")(x))
        y = nn.Dense(self.hidden, name="mlp_1")(y)
        return nn.relu(nn.LayerNorm(name="mlp_norm")(x + y)), carry


class RecurrentPolicy(Policy):
    """A GRU cell; the carry f32[B, hidden] is zeroed where ``reset`` (an episode starts) before the step."""

    def middle(self, x, carry, reset):
        carry = jnp.where(reset[:, None], 0.0, carry)
        carry, y = nn.GRUCell(self.hidden, name="gru")(carry, x)
        return y, carry

    def initial_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.hidden), jnp.float32)


MODELS = {"feedforward": FeedForwardPolicy, "recurrent": RecurrentPolicy}


def make_model(name: str, observation_space=None, action_space=None, *, env=None, **kwargs) -> Policy:
    """A policy by name (``MODELS``) for a world's spaces (give ``env``, or both spaces); fields as kwargs.

    ``kwargs``: ``hidden``, ``num_heads``.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if env is not None:
        observation_space = env.observation_space() if observation_space is None else observation_space
        action_space = env.action_space() if action_space is None else action_space
    if observation_space is None or action_space is None:
        raise ValueError("make_model needs the world's spaces: make_model(name, env=env) or "
                         "make_model(name, env.observation_space(), env.action_space())")
    return MODELS[name](observation_space=observation_space, action_space=action_space, **kwargs)


# --------------------------------------------------------------------------- distributions
def distributions(logits: dict) -> dict:
    """head -> distrax.Categorical over that head's (masked) logits."""
    return {head: distrax.Categorical(logits=l) for head, l in logits.items()}


def first_max_index(x) -> jnp.ndarray:
    """int32[...]: the index of the largest entry of the last axis (the first one on ties).

    A max and a min, two plain reductions: ``argmax`` is a two-value reduction,
    several times slower on a CPU, and the rollout samples 13 heads a tick.
    """
    n = x.shape[-1]
    top = jnp.max(x, axis=-1, keepdims=True)
    return jnp.min(jnp.where(x == top, jnp.arange(n, dtype=jnp.int32), n), axis=-1)


def sample_actions(key, logits: dict) -> dict:
    """head -> int32[B] sampled action (Gumbel-max: the largest of logits plus Gumbel noise).

    One uniform draw covers every head (heads in sorted order, side by side):
    a draw per head cost the rollout about as much as the policy's tile encoder.
    Illegal actions (logits at the dtype's minimum) get no noise, so they never win.
    """
    heads = sorted(logits)
    widths = [logits[h].shape[-1] for h in heads]
    lead = logits[heads[0]].shape[:-1]
    u = jax.random.uniform(key, lead + (sum(widths),), minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)
    gumbel = -jnp.log(-jnp.log(u))
    out, at = {}, 0
    for h, w in zip(heads, widths):
        l = logits[h].astype(jnp.float32)
        out[h] = first_max_index(jnp.where(l > jnp.finfo(jnp.float32).min, l + gumbel[..., at:at + w], l))
        at += w
    return out


def greedy_actions(logits: dict) -> dict:
    """head -> int32[B] most likely legal action (illegal logits are the dtype's minimum)."""
    return {h: first_max_index(l) for h, l in logits.items()}


def log_prob(logits: dict, actions: dict) -> jnp.ndarray:
    """f32[B]: joint log-probability of ``actions`` (heads are independent, so summed)."""
    total = 0.0
    for head, l in logits.items():
        lp = jax.nn.log_softmax(l.astype(jnp.float32), axis=-1)
        a = actions[head].astype(jnp.int32)[..., None]
        # floored: illegal actions' log-probs (about the dtype's minimum) would sum to -inf over two heads
        total = total + jnp.maximum(jnp.take_along_axis(lp, a, axis=-1)[..., 0], -1e30)
    return total


def head_entropies(logits: dict) -> dict:
    """head -> f32[B] entropy of that head. Illegal actions (p = 0) add exactly 0, gradient included."""
    out = {}
    for head, l in logits.items():
        lp = jax.nn.log_softmax(l.astype(jnp.float32), axis=-1)
        p = jnp.exp(lp)
        out[head] = -jnp.sum(jnp.where(p > 0, p * lp, 0.0), axis=-1)
    return out


def entropy(logits: dict) -> jnp.ndarray:
    """f32[B]: sum of the heads' entropies."""
    return sum(head_entropies(logits).values())
