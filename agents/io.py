"""Attentional input/output layers shaped like the observation (DESIGN sections 3 and 5).

The observation is a set of entities (rows of integer attributes), a tile
window and one action mask per head. The layers here follow that structure:

* ``AttributeEncoder``: each attribute value v becomes ``sign(v) * log1p(|v|)``
  (health 100, gold 10 000 and a relative row -7 all land in a similar range
  without per-feature constants), is projected to D by its own learned vector
  plus a learned attribute-id embedding, and a learned query attends over the
  F attributes to give one embedding per entity.

  Because one scalar's embedding is affine in that scalar, so are its key
  and value, and the attention logits of a learned query are ``a_f * t_f +
  c_f``. We therefore compute the attention in closed form from [F, D]
  matrices and never materialise the [B, K, F, D] tensor: the same maths as
  embedding every attribute and running attention (a test checks this), at
  about 1/D of the memory traffic, which is what limits speed on a CPU.
* ``EntityPool``: masked multi-head attention over entity embeddings, queried
  by the agent's own row (row 0) plus a learned query, gives a fixed-size
  summary.
* ``TileEncoder``: each channel one-hot (material, resource state) or a
  squashed scalar (entity count, fog cost), as the tile ``Box``'s bounds say,
  a patch convolution (kernel = stride = 3: 15 -> 5x5, centre patch centred)
  and a dense layer over the patch grid.
* ``ActionHeads``: a head with fixed choices scores learned choice embeddings
  against the hidden state; a *pointer* head (``Discrete(K, rows="entities")``
  in the action space) scores the hidden state against the embeddings of the
  row set it names, so action k points at row k. Everything is read from the
  observation and action spaces, so heads and channels added to the world need
  no model code.

Masking: rows whose mask is False have their embeddings replaced by zeros
(``jnp.where``, not a multiply) so their features cannot reach any output;
attention logits of masked rows are the dtype's minimum, and a pool whose rows
are all masked (a dead agent) returns zeros instead of averaging padding.
Illegal actions get the dtype's minimum as logit (finite: no inf - inf NaNs).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def symlog(x):
    """sign(x) * log1p(|x|): a stable, parameter-free squash for integer attributes."""
    x = x.astype(jnp.float32)
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def masked_fill(logits, mask):
    """Logits with masked-out entries set to the dtype's minimum (finite, so softmax stays NaN-free)."""
    return jnp.where(mask, logits, jnp.finfo(logits.dtype).min)


def masked_softmax(logits, mask, axis=-1):
    """Softmax over ``axis`` ignoring masked entries; all-masked slices give all-zero weights."""
    w = jax.nn.softmax(masked_fill(logits, mask), axis=axis)
    return jnp.where(mask, w, 0.0)


class AttributeEncoder(nn.Module):
    """i16[..., K, F] entity attributes -> f32[..., K, D] entity embeddings (attention over attributes)."""
    features: int
    num_heads: int = 4

    @nn.compact
    def __call__(self, entities):
        f, d, h = entities.shape[-1], self.features, self.num_heads
        assert d % h == 0, f"features {d} must be divisible by num_heads {h}"
        dh = d // h
        init = nn.initializers.normal(1.0)
        proj = self.param("attr_proj", init, (f, d))       # per-attribute value -> D
        attr_id = self.param("attr_id", init, (f, d))      # which attribute this is
        query = self.param("query", nn.initializers.normal(1.0), (h, dh))
        wk = self.param("key", nn.initializers.lecun_normal(), (d, d))
        wv = self.param("value", nn.initializers.lecun_normal(), (d, d))

        t = symlog(entities)                                # [..., K, F]
        # emb_f = t_f * proj_f + attr_id_f  =>  key_f and value_f are affine in t_f too.
        k_slope = (proj @ wk).reshape(f, h, dh)
        k_off = (attr_id @ wk).reshape(f, h, dh)
        v_slope = (proj @ wv).reshape(f, h, dh)
        v_off = (attr_id @ wv).reshape(f, h, dh)
        scale = 1.0 / jnp.sqrt(dh)
        a = jnp.einsum("hd,fhd->hf", query, k_slope) * scale   # logit slope per head/attribute
        c = jnp.einsum("hd,fhd->hf", query, k_off) * scale     # logit offset
        logits = t[..., None, :] * a + c                       # [..., K, H, F]
        w = jax.nn.softmax(logits, axis=-1)
        pooled = (jnp.einsum("...hf,fhd->...hd", w * t[..., None, :], v_slope)
                  + jnp.einsum("...hf,fhd->...hd", w, v_off))  # [..., K, H, dh]
        x = pooled.reshape(*pooled.shape[:-2], d)
        return nn.LayerNorm()(nn.relu(nn.Dense(d)(x)))

    @staticmethod
    def explicit(params, entities, num_heads):
        """Reference: embed every attribute ([..., K, F, D]) and attend; for tests of the closed form."""
        p = params
        f, d = p["attr_proj"].shape
        dh = d // num_heads
        t = symlog(entities)
        emb = t[..., None] * p["attr_proj"] + p["attr_id"]            # [..., K, F, D]
        k = (emb @ p["key"]).reshape(*emb.shape[:-1], num_heads, dh)
        v = (emb @ p["value"]).reshape(*emb.shape[:-1], num_heads, dh)
        logits = jnp.einsum("hd,...fhd->...hf", p["query"], k) / jnp.sqrt(dh)
        w = jax.nn.softmax(logits, axis=-1)
        return jnp.einsum("...hf,...fhd->...hd", w, v).reshape(*entities.shape[:-1], d)


class EntityPool(nn.Module):
    """Masked multi-head attention over entity embeddings, queried by the self row: [B,K,D] -> [B,D]."""
    features: int
    num_heads: int = 4

    @nn.compact
    def __call__(self, ent, mask, query=None):
        """``query`` [B, D]: who is looking (default: row 0, the agent's own row of the entity set)."""
        d, h = self.features, self.num_heads
        dh = d // h
        q0 = self.param("query", nn.initializers.normal(1.0), (h, dh))
        query = ent[..., 0, :] if query is None else query
        q = nn.Dense(d, name="q")(query).reshape(*ent.shape[:-2], h, dh) + q0
        k = nn.Dense(d, name="k")(ent).reshape(*ent.shape[:-1], h, dh)
        v = nn.Dense(d, name="v")(ent).reshape(*ent.shape[:-1], h, dh)
        logits = jnp.einsum("...hd,...khd->...hk", q, k) / jnp.sqrt(dh)
        w = masked_softmax(logits, mask[..., None, :])                # [..., H, K]
        # Read by agents.policy_fn for the viewer's attention overlay; a no-op unless
        # apply() is called with mutable=["intermediates"], so training pays nothing.
        self.sow("intermediates", "attention", w)
        out = jnp.einsum("...hk,...khd->...hd", w, v).reshape(*ent.shape[:-2], d)
        return nn.Dense(d, name="out")(out)


# Integer channels with at most this many values are one-hot encoded; wider ones (counts, costs) are
# squashed scalars. Read from the space's bounds, so a new channel needs no model code.
MAX_CATEGORIES = 32


def channel_encoding(space) -> tuple[tuple[int, int], ...]:
    """Per last-axis entry of an integer ``Box``: (low, number of one-hot values), or (low, 0) for a scalar."""
    cats = space.categories()
    low = np.broadcast_to(np.asarray(space.low), (len(cats),))
    return tuple((int(lo), int(c) if c <= MAX_CATEGORIES else 0) for lo, c in zip(low, cats))


class TileEncoder(nn.Module):
    """u8[B, S, S, C] tile window -> f32[B, D]: per-channel features, a patch convolution, a dense layer.

    ``channels_spec`` (``channel_encoding`` of the observation space's tile
    ``Box``) says how each channel enters: one-hot over its values (material,
    resource state) or ``log1p`` of the value (entity count, fog cost), so the
    fog channel, or any channel added later, is encoded without model code.
    The first layer is a convolution with kernel = stride = ``patch``
    (non-overlapping patches; 15 -> 5x5 with the centre tile in the centre
    patch), written as a reshape and one matmul; the second sees the whole
    patch grid (a dense layer over it). On a CPU this is about 10x faster to
    differentiate than overlapping ``nn.Conv`` layers of the same size (XLA's
    CPU convolution gradients are slow), and the policy's speed is what bounds
    training throughput. One-hot matmuls instead of embedding lookups avoid
    scatter-adds in the backward pass for the same reason.
    """
    features: int
    channels_spec: tuple
    channels: int = 32
    patch: int = 3

    @nn.compact
    def __call__(self, tiles):
        s, p, c = tiles.shape[-2], self.patch, tiles.shape[-1]
        if c != len(self.channels_spec):
            raise ValueError(f"tile window has {c} channels but the observation space describes "
                             f"{len(self.channels_spec)}")
        pad = (-s) % p
        if pad:  # windows that are not a multiple of the patch: pad equally with void (material 0)
            lo = pad // 2
            tiles = jnp.pad(tiles, [(0, 0)] * (tiles.ndim - 3) + [(lo, pad - lo), (lo, pad - lo), (0, 0)])
        g = (s + pad) // p
        batch = tiles.shape[:-3]
        # Reorder the (small, uint8) window into patch-major order before expanding it, so the
        # one-hot tensor comes out already laid out as [..., g, g, patch pixels * features].
        t = tiles.reshape(*batch, g, p, g, p, c)
        t = jnp.swapaxes(t, -4, -3).reshape(*batch, g, g, p * p, c)
        parts = []
        for i, (low, n) in enumerate(self.channels_spec):
            v = t[..., i].astype(jnp.int32) - low
            parts.append(jax.nn.one_hot(v, n) if n else jnp.log1p(jnp.maximum(v, 0).astype(jnp.float32))[..., None])
        x = jnp.concatenate(parts, axis=-1).reshape(*batch, g, g, -1)
        x = nn.relu(nn.Dense(self.channels, name="patch_conv")(x))
        # Read by agents.policy_fn for the viewer's tile-attention overlay (patch norms); no-op in training.
        self.sow("intermediates", "patches", x)
        x = x.reshape(*batch, g * g * self.channels)
        return nn.relu(nn.Dense(self.features, name="grid")(x))


class ActionHeads(nn.Module):
    """Hidden state [B, H] + row-set embeddings -> masked logits, one per head of the action space.

    ``heads``: ``((name, choices, rows, row_offset), ...)`` from the action
    space. A head with ``rows`` (a pointer head: ``attack_target`` ->
    ``entities``, ``use`` -> ``inventory``) scores the hidden state against the
    embeddings of that row set, so choice ``row_offset + k`` points at row k;
    its first ``row_offset`` choices (a no-op) and every choice of any other
    head score learned choice embeddings.
    """
    features: int
    heads: tuple

    @nn.compact
    def __call__(self, hidden, row_sets: dict, action_mask: dict):
        scale = 1.0 / jnp.sqrt(self.features)
        out = {}
        for name, n, rows, offset in self.heads:
            mask = action_mask[name]
            if mask.shape[-1] != n:
                raise ValueError(f"action head {name!r}: the mask has {mask.shape[-1]} choices, the space {n}")
            # A small query makes the initial policy near-uniform over legal actions (as PPO likes).
            q = nn.Dense(self.features, kernel_init=nn.initializers.orthogonal(0.01), name=f"{name}_query")(hidden)
            fixed = n if rows is None else offset
            parts = []
            if fixed:
                choices = self.param(f"{name}_choices", nn.initializers.normal(1.0), (fixed, self.features))
                bias = self.param(f"{name}_bias", nn.initializers.zeros, (fixed,))
                parts.append(q @ choices.T * scale + bias)
            if rows is not None:
                ent = row_sets[rows]
                if ent.shape[-2] + offset != n:
                    raise ValueError(f"pointer head {name!r} has {n} choices but {rows!r} has {ent.shape[-2]} rows "
                                     f"after {offset} fixed choices")
                keys = nn.Dense(self.features, name=f"{name}_key")(ent)
                parts.append(jnp.einsum("...d,...kd->...k", q, keys) * scale)
            logits = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)
            out[name] = masked_fill(logits.astype(jnp.float32), mask)
        return out
