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

    MODELS["lstm"] = LSTMPolicy                  # make_model("lstm", hidden=128)

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

from agents.io import ActionHeads, AttributeEncoder, EntityPool, TileEncoder


class Policy(nn.Module):
    """Base policy: ``(obs, carry, reset) -> (logits dict head -> f32[B, n], value f32[B], new_carry)``.

    ``hidden``: width of the trunk and of the entity/tile embeddings.
    ``num_heads``: attention heads in the attribute and entity attention.
    ``target_heads``: heads that point at entity rows (None: any head of size K).
    """
    hidden: int = 64
    num_heads: int = 4
    target_heads: tuple[str, ...] | None = None

    @nn.compact
    def __call__(self, obs, carry, reset):
        d = self.hidden
        mask = obs["entity_mask"]
        ent = AttributeEncoder(d, self.num_heads, name="attributes")(obs["entities"])
        ent = jnp.where(mask[..., None], ent, 0.0)      # masked rows: no influence anywhere
        pooled = EntityPool(d, self.num_heads, name="entity_pool")(ent, mask)
        tiles = TileEncoder(d, channels=max(8, d // 2), name="tiles")(obs["tiles"])
        x = jnp.concatenate([ent[..., 0, :], pooled, tiles], axis=-1)
        x = nn.relu(nn.Dense(d, name="trunk")(x))
        h, new_carry = self.middle(x, carry, reset)
        logits = ActionHeads(d, self.target_heads, name="actions")(h, ent, obs["action_mask"])
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


def make_model(name: str, **kwargs) -> Policy:
    """A policy by name (``MODELS``), with its fields (hidden, num_heads, target_heads) as kwargs."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)


# --------------------------------------------------------------------------- distributions
def distributions(logits: dict) -> dict:
    """head -> distrax.Categorical over that head's (masked) logits."""
    return {head: distrax.Categorical(logits=l) for head, l in logits.items()}


def sample_actions(key, logits: dict) -> dict:
    """head -> int32[B] sampled action; one independent key per head (sorted by name, so stable)."""
    heads = sorted(logits)
    keys = jax.random.split(key, len(heads))
    return {h: jax.random.categorical(k, logits[h], axis=-1).astype(jnp.int32) for h, k in zip(heads, keys)}


def greedy_actions(logits: dict) -> dict:
    """head -> int32[B] most likely legal action (illegal logits are the dtype's minimum)."""
    return {h: jnp.argmax(l, axis=-1).astype(jnp.int32) for h, l in logits.items()}


def log_prob(logits: dict, actions: dict) -> jnp.ndarray:
    """f32[B]: joint log-probability of ``actions`` (heads are independent, so summed)."""
    total = 0.0
    for head, l in logits.items():
        lp = jax.nn.log_softmax(l.astype(jnp.float32), axis=-1)
        a = actions[head].astype(jnp.int32)[..., None]
        # floored: illegal actions' log-probs (about the dtype's minimum) would sum to -inf over two heads
        total = total + jnp.maximum(jnp.take_along_axis(lp, a, axis=-1)[..., 0], -1e30)
    return total


def entropy(logits: dict) -> jnp.ndarray:
    """f32[B]: sum of the heads' entropies. Illegal actions (p = 0) add exactly 0, gradient included."""
    total = 0.0
    for l in logits.values():
        lp = jax.nn.log_softmax(l.astype(jnp.float32), axis=-1)
        p = jnp.exp(lp)
        total = total - jnp.sum(jnp.where(p > 0, p * lp, 0.0), axis=-1)
    return total
