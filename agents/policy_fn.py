"""A Flax policy as the plain function the world's recorder and viewer take.

The world (``nmmo_jax.render``, ``nmmo_jax.viewer``) knows no model: it takes
``policy(obs, carry, key) -> (actions, value, attention, carry)`` (see
``nmmo_jax.render.record``). This module builds that function from a model of
``agents.models`` and its parameters::

    from agents.policy_fn import policy_function
    from nmmo_jax.render import Recorder

    policy = policy_function(model, params, greedy=False)
    rec = Recorder(env, policy, initial_carry=model.initial_carry(env.num_agents))

The function is a ``jax.tree_util.Partial`` whose one bound argument is
``params``, so the recorder passes the parameters to its compiled functions as
traced arguments (not constants baked into the graph).

* Actions are sampled from the masked logits (``greedy``: the most likely legal
  action).
* ``reset`` is read from the observation: a life is fresh when the self row's
  ``time_alive`` is 0 (the first observation after reset or respawn), or the
  agent is dead (no self row); a recurrent carry restarts there.
* ``attention``: ``entities`` f32[A, K], the ``EntityPool`` softmax weights
  (sown as ``attention``, mean over heads), and ``tiles`` f32[A, g, g], the L2
  norm of each tile patch's embedding (sown by the ``TileEncoder`` as
  ``patches``) normalised to sum to 1. The encoder pads the window equally on
  both sides to a multiple of its patch, the layout
  ``nmmo_jax.render.overlays.patch_geometry`` paints. A model that sows
  neither gives an empty dict (no attention overlay).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from agents import models as M
from nmmo_jax.observe import FEATURE_INDEX

__all__ = ["policy_function", "attention_from_intermediates", "fresh_life"]


def _find(tree, name: str):
    """The first sown value called ``name`` anywhere in a flax intermediates tree (None if absent)."""
    if isinstance(tree, dict) or hasattr(tree, "items"):
        if name in tree:
            v = tree[name]
            return v[0] if isinstance(v, tuple) else v
        for sub in tree.values():
            found = _find(sub, name)
            if found is not None:
                return found
    return None


def attention_from_intermediates(intermediates) -> dict:
    """The policy function's ``attention`` dict from a model's sown ``attention`` and ``patches``."""
    out = {}
    att = _find(intermediates, "attention")
    if att is not None:
        out["entities"] = jnp.mean(att.astype(jnp.float32), axis=-2)             # [A, heads, K] -> [A, K]
    patches = _find(intermediates, "patches")
    if patches is not None:
        norm = jnp.sqrt(jnp.sum(jnp.square(patches.astype(jnp.float32)), axis=-1))  # [A, g, g]
        out["tiles"] = norm / jnp.maximum(jnp.sum(norm, axis=(-2, -1), keepdims=True), 1e-12)
    return out


def fresh_life(obs) -> jnp.ndarray:
    """bool[A]: where a policy's carry restarts: the first observation of a life (time_alive 0) or a dead agent."""
    self_row = obs["entities"][:, 0]
    return (self_row[:, FEATURE_INDEX["time_alive"]] == 0) | ~obs["entity_mask"][:, 0]


def _apply(model, greedy: bool, params, obs, carry, key):
    (logits, value, new_carry), inter = model.apply(params, obs, carry, fresh_life(obs), mutable=["intermediates"])
    actions = M.greedy_actions(logits) if greedy else M.sample_actions(key, logits)
    attention = attention_from_intermediates(inter.get("intermediates", {}))
    return actions, value.astype(jnp.float32), attention, new_carry


def policy_function(model, params, greedy: bool = False) -> jax.tree_util.Partial:
    """``policy(obs, carry, key) -> (actions, value, attention, carry)`` of ``model`` with ``params``.

    The carry of the first tick is ``model.initial_carry(num_agents)``.
    """
    return jax.tree_util.Partial(functools.partial(_apply, model, bool(greedy)), params)
