"""Attentional input/output layers shaped like the observation (DESIGN sections 3 and 5).

The observation is a set of entities (rows of integer attributes), a tile
window and one action mask per head. The layers here follow that structure:

* ``RowEncoder``: each row of a row set (an entity, an inventory slot) is
  encoded attribute by attribute as the row set's ``Box`` bounds say (one-hot
  for a column of at most 17 values: kind, relative row, skill level, item
  type; ``sign(v) * log1p(|v|)`` for the rest: health, gold, ids), then a
  two-layer MLP gives one embedding per row.
* ``EntityPool``: masked multi-head attention over entity embeddings, queried
  by the agent's own row (row 0) plus a learned query, gives a fixed-size
  summary.
* ``TileEncoder``: each channel one-hot (material, resource state) or a
  squashed scalar (entity count, fog cost), as the tile ``Box``'s bounds say,
  a patch convolution (kernel = stride = 3: 15 -> 5x5, centre patch centred)
  and a dense layer over the patch grid.
* ``ActionHeads``: one dense layer from the hidden state gives every
  fixed choice's logit and, for a *pointer* head (``Discrete(K,
  rows="entities")`` in the action space), a query scored against the
  embeddings of the row set it names, so action k points at row k. Everything
  is read from the observation and action spaces, so heads and channels added
  to the world need no model code.

Speed is what shaped these layers: on a CPU the policy, not the world, bounds
training (bench/README.md, "Training end to end", has the profile). So no
[B, K, F, D] tensors, no batched einsums with tiny dimensions, no embedding
gathers (their gradients are scatter-adds), and as few separate matmuls as
the structure allows.

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


# Integer channels with at most this many values are one-hot encoded; wider ones (counts, costs) are
# squashed scalars. Read from the space's bounds, so a new channel needs no model code.
MAX_CATEGORIES = 32


def channel_encoding(space) -> tuple[tuple[int, int], ...]:
    """Per last-axis entry of an integer ``Box``: (low, number of one-hot values), or (low, 0) for a scalar."""
    cats = space.categories()
    low = np.broadcast_to(np.asarray(space.low), (len(cats),))
    return tuple((int(lo), int(c) if c <= MAX_CATEGORIES else 0) for lo, c in zip(low, cats))


class RowEncoder(nn.Module):
    """i16[..., R, F] rows of attributes -> f32[..., R, D] row embeddings: a two-layer MLP per row.

    Each attribute enters as ``channel_encoding`` of the row set's ``Box`` says:
    a column with at most ``max_categories`` values (an entity's type, an item's
    kind, a flag) one-hot, any other ``sign(v) * log1p(|v|)`` (health 100, gold
    10 000 and a relative row -7 land in a similar range without per-feature
    constants). This replaced an attention over the attributes of each row: on
    a CPU that attention (a [B, R, heads, F] softmax and batched einsums) was
    41% of the policy's forward pass and learnt no better; the MLP costs a
    tenth of it (bench/README.md, "Training end to end").
    """
    features: int
    spec: tuple                 # channel_encoding of the row set's Box
    max_categories: int = 17

    @nn.compact
    def __call__(self, rows):
        if rows.shape[-1] != len(self.spec):
            raise ValueError(f"rows have {rows.shape[-1]} attributes but the observation space describes "
                             f"{len(self.spec)}")
        x = encode_columns(rows, self.spec, self.max_categories)
        x = nn.relu(nn.Dense(self.features, name="embed")(x))
        x = nn.relu(nn.Dense(self.features, name="mix")(x))
        return nn.LayerNorm(name="norm")(x)


def encode_columns(x, spec, max_categories: int = MAX_CATEGORIES):
    """Integer features [..., F] -> f32[..., F']: one-hot where ``spec`` gives at most ``max_categories``
    values, ``symlog`` elsewhere (``spec`` from ``channel_encoding``)."""
    parts, scalars = [], []
    for i, (low, n) in enumerate(spec):
        if n and n <= max_categories:
            parts.append(jax.nn.one_hot(x[..., i].astype(jnp.int32) - low, n))
        else:
            scalars.append(i)
    if scalars:
        parts.insert(0, symlog(x[..., jnp.asarray(scalars)] if len(scalars) < len(spec) else x))
    return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


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
        # Reorder the bytes on their own: fused into the one-hot below, the transposed index is computed
        # for every one of the 189 floats a patch pixel becomes (tile encoder forward and backward 20% slower).
        t = jax.lax.optimization_barrier(t)
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
    ``entities``, ``use`` -> ``inventory``) scores its row set's embeddings
    against a query made from the hidden state, so choice ``row_offset + k``
    points at row k; its first ``row_offset`` choices (a no-op) and every
    choice of any other head are a linear function of the hidden state.

    All of it is one dense layer: hidden -> [every fixed choice of every head,
    one D-wide query per pointer head], then one dot product per row. (Scoring
    a per-head query against learned choice embeddings, as this layer once did,
    is the same linear map in low-rank form; thirteen small matmuls per step
    cost 23% of the forward pass on a CPU.) The layer starts near zero, so the
    first policy is near-uniform over legal actions, as PPO likes, and its
    output is scaled by ``gain`` (below).
    """
    features: int
    heads: tuple

    @nn.compact
    def __call__(self, hidden, row_sets: dict, action_mask: dict):
        d = self.features
        widths = []
        for name, n, rows, offset in self.heads:
            mask = action_mask[name]
            if mask.shape[-1] != n:
                raise ValueError(f"action head {name!r}: the mask has {mask.shape[-1]} choices, the space {n}")
            if rows is not None and row_sets[rows].shape[-2] + offset != n:
                raise ValueError(f"pointer head {name!r} has {n} choices but {rows!r} has "
                                 f"{row_sets[rows].shape[-2]} rows after {offset} fixed choices")
            widths.append((n if rows is None else offset) + (0 if rows is None else d))
        # gain: Adam moves each weight by about the learning rate, so the logits move ``gain`` times
        # faster than a plain linear layer's. sqrt(D) is about the speed of the low-rank form this layer
        # replaced (a query times unit-scale choice embeddings). On the small preset gain 1 learnt half
        # as fast per update (training-world lifetime 28.0 against 32.1 over updates 61-80).
        gain = jnp.sqrt(d).astype(jnp.float32)
        out_all = gain * nn.Dense(sum(widths), kernel_init=nn.initializers.normal(0.01 / d),
                                  name="logits")(hidden)
        out, at = {}, 0
        for (name, n, rows, offset), w in zip(self.heads, widths):
            part = out_all[..., at:at + w]
            at += w
            if rows is None:
                logits = part
            else:
                q = part[..., offset:]
                pointed = jnp.einsum("...d,...kd->...k", q, row_sets[rows]) / gain
                logits = jnp.concatenate([part[..., :offset], pointed], axis=-1) if offset else pointed
            out[name] = masked_fill(logits.astype(jnp.float32), action_mask[name])
        return out
