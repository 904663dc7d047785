"""The replay file: a zip of ``.npy`` arrays plus a JSON header, no pickle anywhere.

Why this shape: a zip is seekable, checksummed (CRC-32 per entry, so a flipped
byte is caught on read), readable by any language, and ``numpy`` reads and
writes ``.npy`` without pickle (``allow_pickle=False``). The header says what
every array is, so a reader never guesses.

Layout (``FORMAT`` / ``VERSION`` in ``header.json``, the first entry)::

    header.json              format, version, frames, config, overlays, and one
                             entry per recorded leaf: name, dtype, frame shape,
                             encoding, stored dtype (plus what the recorder adds:
                             ``tasks``, ``unrecorded``, ... see ``record.py``)
    arrays/<name>.<part>.npy the leaf's arrays

A *leaf* is one named array recorded every frame (``state/entities/health``,
``overlay/counts``, ...) or once (``static/globalValues``). Recording stacks a
leaf over frames, ``[T, ...]``; the writer picks the encoding that keeps the
file small without losing a bit:

* ``delta``: integer and bool leaves of small frames (the entity table). Stored
  in the narrowest integer dtype that holds every value, as the difference to
  the previous frame (wrapping arithmetic; XOR for bools), so unchanged values
  become runs of zeros that deflate to almost nothing. Decoded on load.
* ``sparse``: leaves whose frame has at least ``SPARSE_MIN`` elements (map-sized
  layers: tiles, regrowth timers, overlay maps). Frame 0 is stored whole, then
  only changes as (frame, flat index, value) triples. A 1,000-frame 160x160 map
  that changes in a few hundred tiles a tick costs kilobytes, not 25 MB, and a
  frame is rebuilt on demand (``Replay.frame``) without materialising [T, H, W].
* ``raw``: float leaves of small frames (per-agent values, attention weights),
  stored as recorded: float differences are not exact.
* ``static``: a leaf recorded once (``add_static``).

Readers reject, with ``ReplayError`` naming the problem: a file that is not a
zip or is cut short (the zip directory lives at its end), a missing or
unparsable header, another format or version, an entry whose checksum fails,
and arrays whose shape or dtype disagree with the header.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

FORMAT = "nmmo-jax-replay"
VERSION = 1
SPARSE_MIN = 4096
HEADER = "header.json"

_NARROW = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64)


class ReplayError(ValueError):
    """A replay file that cannot be read: not a replay, truncated, corrupt, or another version."""


def narrow_dtype(lo: int, hi: int, original: np.dtype) -> np.dtype:
    """The smallest integer dtype holding [lo, hi], never wider than ``original``."""
    for dt in _NARROW:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max and np.dtype(dt).itemsize <= np.dtype(original).itemsize:
            return np.dtype(dt)
    return np.dtype(original)


def _int_range(x: np.ndarray) -> tuple[int, int]:
    return (int(x.min()), int(x.max())) if x.size else (0, 0)


def _changed(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Where ``cur`` differs from ``prev`` (NaN equals NaN, so unpainted overlay tiles stay unchanged)."""
    diff = prev != cur
    if np.issubdtype(cur.dtype, np.floating):
        diff &= ~(np.isnan(prev) & np.isnan(cur))
    return diff


class ReplayWriter:
    """Accumulates recorded chunks (``add``) and static arrays, then writes one file (``write``).

    Chunks arrive as they leave the compiled recorder, so sparse leaves are
    diffed chunk by chunk against the last frame seen and a long recording
    never holds [T, H, W] for a map layer.
    """

    def __init__(self):
        self.frames = 0
        self._dense: dict[str, list[np.ndarray]] = {}
        self._sparse: dict[str, dict] = {}
        self._static: dict[str, np.ndarray] = {}
        self._spec: dict[str, tuple] = {}

    def add(self, chunk: dict[str, np.ndarray], count: int | None = None) -> None:
        """Append frames: ``chunk`` maps leaf name -> array [C, ...]; only the first ``count`` are kept."""
        if not chunk:
            return
        sizes = {v.shape[0] for v in chunk.values()}
        if len(sizes) != 1:
            raise ValueError(f"chunk leaves disagree on the number of frames: {sorted(sizes)}")
        c = sizes.pop() if count is None else count
        if self._spec and set(chunk) != set(self._spec):
            raise ValueError(f"chunk leaves changed: {sorted(set(chunk) ^ set(self._spec))}")
        for name, value in chunk.items():
            value = np.asarray(value)[:c]
            spec = (value.dtype, value.shape[1:])
            if self._spec.setdefault(name, spec) != spec:
                raise ValueError(f"leaf {name!r} changed dtype/shape: {self._spec[name]} -> {spec}")
            if value[0].size >= SPARSE_MIN:
                self._add_sparse(name, value)
            else:
                self._dense.setdefault(name, []).append(value)
        self.frames += c

    def _add_sparse(self, name: str, value: np.ndarray) -> None:
        flat = value.reshape(value.shape[0], -1)
        s = self._sparse.get(name)
        if s is None:
            s = self._sparse[name] = dict(base=flat[0].copy(), last=flat[0].copy(), tick=[], index=[], value=[])
            start, prev = 1, flat[0]
        else:
            start, prev = 0, s["last"]
        for i in range(start, flat.shape[0]):
            where = np.flatnonzero(_changed(prev, flat[i]))
            if where.size:
                s["tick"].append(np.full(where.size, self.frames + i, np.int32))
                s["index"].append(where.astype(np.int32))
                s["value"].append(flat[i][where])
            prev = flat[i]
        s["last"] = prev.copy()

    def add_static(self, name: str, value) -> None:
        self._static[name] = np.asarray(value)

    # ------------------------------------------------------------------ write
    def _encode(self):
        leaves, arrays = [], {}
        for name, parts in self._dense.items():
            x = np.concatenate(parts, axis=0)
            dtype, shape = self._spec[name]
            entry = dict(name=name, dtype=str(dtype), shape=list(shape))
            if dtype == np.bool_:
                u = x.astype(np.uint8)
                d = u.copy()
                d[1:] = u[1:] ^ u[:-1]
                entry.update(encoding="delta", stored="uint8")
                arrays[f"{name}.delta"] = d
            elif np.issubdtype(dtype, np.integer):
                nd = narrow_dtype(*_int_range(x), dtype)
                u = x.astype(nd)
                d = u.copy()
                with np.errstate(over="ignore"):
                    d[1:] = u[1:] - u[:-1]  # wraps in nd; decoding wraps back exactly
                entry.update(encoding="delta", stored=str(nd))
                arrays[f"{name}.delta"] = d
            else:
                entry.update(encoding="raw", stored=str(dtype))
                arrays[f"{name}.raw"] = x
            leaves.append(entry)
        for name, s in self._sparse.items():
            dtype, shape = self._spec[name]
            vals = np.concatenate(s["value"]) if s["value"] else np.zeros(0, dtype)
            base = s["base"]
            stored = dtype
            if np.issubdtype(dtype, np.integer):
                lo, hi = _int_range(np.concatenate([base, vals]))
                stored = narrow_dtype(lo, hi, dtype)
            elif dtype == np.bool_:
                stored = np.dtype(np.uint8)
            entry = dict(name=name, dtype=str(dtype), shape=list(shape), encoding="sparse", stored=str(stored),
                         changes=int(vals.size))
            arrays[f"{name}.base"] = base.astype(stored)
            arrays[f"{name}.tick"] = np.concatenate(s["tick"]) if s["tick"] else np.zeros(0, np.int32)
            arrays[f"{name}.index"] = np.concatenate(s["index"]) if s["index"] else np.zeros(0, np.int32)
            arrays[f"{name}.value"] = vals.astype(stored)
            leaves.append(entry)
        for name, x in self._static.items():
            leaves.append(dict(name=name, dtype=str(x.dtype), shape=list(x.shape), encoding="static",
                               stored=str(x.dtype)))
            arrays[f"{name}.static"] = x
        return leaves, arrays

    def write(self, path: str | Path, header: dict, compresslevel: int = 6) -> int:
        """Write the file (atomically: a temporary file renamed into place); returns its size in bytes."""
        if self.frames == 0:
            raise ValueError("nothing recorded: add at least one frame before writing a replay")
        leaves, arrays = self._encode()
        head = dict(header, format=FORMAT, version=VERSION, frames=self.frames, leaves=leaves)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
            zf.writestr(HEADER, json.dumps(head, indent=1, default=_json_default))
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                zf.writestr(f"arrays/{key}.npy", buf.getvalue())
        os.replace(tmp, path)
        return path.stat().st_size


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


# ---------------------------------------------------------------------- reading
_PARTS = {"delta": ("delta",), "raw": ("raw",), "sparse": ("base", "tick", "index", "value"), "static": ("static",)}


def read_file(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, {array key: array}) of a replay file, every check of the module doc applied."""
    path = Path(path)
    if not path.is_file():
        raise ReplayError(f"{path}: no such replay file")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ReplayError(f"{path}: not a replay file, or truncated (no zip directory at its end)") from None
    except OSError as err:
        raise ReplayError(f"{path}: cannot open ({err})") from None
    with zf:
        names = set(zf.namelist())
        if HEADER not in names:
            raise ReplayError(f"{path}: not an nmmo-jax replay (no {HEADER} inside)")
        try:
            header = json.loads(_read_entry(zf, HEADER, path).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ReplayError(f"{path}: corrupt header ({err})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            fmt = header.get("format") if isinstance(header, dict) else None
            raise ReplayError(f"{path}: not an nmmo-jax replay (format {fmt!r}, expected {FORMAT!r})")
        version = header.get("version")
        if version != VERSION:
            newer = isinstance(version, int) and version > VERSION
            raise ReplayError(
                f"{path}: replay format version {version!r}; this nmmo_jax reads version {VERSION}"
                + (" (the file was written by a newer nmmo_jax: upgrade to read it)" if newer else
                   " (re-record it with this version)"))
        frames = header.get("frames")
        leaves = header.get("leaves")
        if not isinstance(frames, int) or frames < 1 or not isinstance(leaves, list):
            raise ReplayError(f"{path}: corrupt header (frames={frames!r}, leaves missing or not a list)")
        arrays = {}
        for leaf in leaves:
            try:
                name, enc = leaf["name"], leaf["encoding"]
                stored = np.dtype(leaf["stored"])
                np.dtype(leaf["dtype"])
                shape = tuple(int(s) for s in leaf["shape"])
            except (KeyError, TypeError, ValueError) as err:
                raise ReplayError(f"{path}: corrupt header entry {leaf!r} ({err})") from None
            if enc not in _PARTS:
                raise ReplayError(f"{path}: leaf {name!r} has unknown encoding {enc!r}")
            for part in _PARTS[enc]:
                key = f"{name}.{part}"
                entry = f"arrays/{key}.npy"
                if entry not in names:
                    raise ReplayError(f"{path}: truncated or corrupt: array {key!r} missing")
                try:
                    arr = np.lib.format.read_array(io.BytesIO(_read_entry(zf, entry, path)), allow_pickle=False)
                except ValueError as err:
                    raise ReplayError(f"{path}: corrupt array {key!r} ({err})") from None
                arrays[key] = arr
            _check_leaf(path, leaf, name, enc, stored, shape, frames, arrays)
    return header, arrays


def _read_entry(zf: zipfile.ZipFile, entry: str, path) -> bytes:
    try:
        return zf.read(entry)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise ReplayError(f"{path}: corrupt or truncated entry {entry!r} ({err})") from None


def _check_leaf(path, leaf, name, enc, stored, shape, frames, arrays):
    def bad(why):
        raise ReplayError(f"{path}: corrupt leaf {name!r}: {why}")

    size = int(np.prod(shape)) if shape else 1
    if enc in ("delta", "raw"):
        a = arrays[f"{name}.{enc}"]
        if a.dtype != stored or a.shape != (frames, *shape):
            bad(f"array {a.dtype}{list(a.shape)}, header says {stored}{[frames, *shape]}")
    elif enc == "static":
        a = arrays[f"{name}.static"]
        if a.dtype != stored or a.shape != shape:
            bad(f"array {a.dtype}{list(a.shape)}, header says {stored}{list(shape)}")
    else:
        base, tick = arrays[f"{name}.base"], arrays[f"{name}.tick"]
        index, value = arrays[f"{name}.index"], arrays[f"{name}.value"]
        if base.dtype != stored or base.shape != (size,):
            bad(f"base {base.dtype}{list(base.shape)}, header says {stored}[{size}]")
        m = tick.shape[0]
        if tick.shape != (m,) or index.shape != (m,) or value.shape != (m,) or value.dtype != stored:
            bad("change lists of different lengths or dtype")
        if m and (tick.min() < 1 or tick.max() >= frames or np.any(np.diff(tick) < 0)):
            bad("change ticks out of order or outside the recorded frames")
        if m and (index.min() < 0 or index.max() >= size):
            bad("change index outside the frame")


def decode(header: dict, arrays: dict[str, np.ndarray]):
    """Per leaf: a dense [T, ...] array (delta/raw), a ``SparseLeaf`` or a static array."""
    out = {}
    for leaf in header["leaves"]:
        name, enc = leaf["name"], leaf["encoding"]
        dtype, shape = np.dtype(leaf["dtype"]), tuple(leaf["shape"])
        if enc == "delta":
            d = arrays[f"{name}.delta"]
            if dtype == np.bool_:
                out[name] = np.bitwise_xor.accumulate(d, axis=0).astype(bool)
            else:
                with np.errstate(over="ignore"):
                    out[name] = np.cumsum(d, axis=0, dtype=d.dtype).astype(dtype)
        elif enc == "raw":
            out[name] = arrays[f"{name}.raw"].astype(dtype)
        elif enc == "static":
            out[name] = arrays[f"{name}.static"].astype(dtype)
        else:
            out[name] = SparseLeaf(arrays[f"{name}.base"].astype(dtype), arrays[f"{name}.tick"],
                                   arrays[f"{name}.index"], arrays[f"{name}.value"].astype(dtype), shape)
    return out


class SparseLeaf:
    """A map layer as frame 0 plus change triples; ``at(t)`` rebuilds frame t.

    Playing forward applies only the changes since the last frame asked for;
    going back replays from frame 0 (a few hundred thousand changes: milliseconds).
    """

    def __init__(self, base, tick, index, value, shape):
        self.base, self.tick, self.index, self.value, self.shape = base, tick, index, value, tuple(shape)
        self._t, self._cur = 0, base.copy()

    def _apply(self, lo: int, hi: int, into: np.ndarray) -> None:
        """Apply changes of frames in (lo, hi] in order: the last write to an index wins."""
        a, b = np.searchsorted(self.tick, [lo + 1, hi + 1])
        if b > a:
            idx, val = self.index[a:b][::-1], self.value[a:b][::-1]
            uniq, first = np.unique(idx, return_index=True)
            into[uniq] = val[first]

    def at(self, t: int) -> np.ndarray:
        if t < self._t:
            self._t, self._cur = 0, self.base.copy()
        self._apply(self._t, t, self._cur)
        self._t = t
        return self._cur.reshape(self.shape).copy()
