"""Replays: recorded frames are the real states, the file round-trips bit for bit, bad files are refused."""
from __future__ import annotations

import io
import json
import zipfile

import jax
import numpy as np
import pytest

from nmmo_jax import replay as cli
from nmmo_jax.render import Replay, ReplayError, ReplayWriter
from nmmo_jax.render.fileformat import SPARSE_MIN, narrow_dtype
from nmmo_jax.render.record import jitted_reset, tick_keys

from .conftest import RECORD_SEED, RECORD_TICKS, forget_example_overlay, tiny_cli_flags


def _tree_equal(a, b, what):
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    assert ta == tb, what
    for (p, x), (_, y) in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}{jax.tree_util.keystr(p)}"
        assert np.array_equal(x, y), f"{what}{jax.tree_util.keystr(p)} differs"


def test_recorded_frames_are_the_states_of_an_independent_step_by_step_replay(world, recorded):
    """Frame 0 is reset's state; stepping it on the host with the recorded actions gives every later frame,
    and each frame's ``info/`` leaves are the info of the step that led to it (frame 0: zeros)."""
    _, _, _, rp = recorded
    assert rp.num_frames == RECORD_TICKS + 1
    k_reset, k_run = jax.random.split(jax.random.PRNGKey(RECORD_SEED))
    _, state = jitted_reset(world.env)(k_reset, world.params_env)
    step = world.step   # the suite's compiled step of this world
    deaths = 0
    info_names = [n for n in rp.names if n.startswith("info/")]
    assert {"info/kills", "info/ended", "info/ended_lifetime_sum", "info/gifts", "info/listings"} <= set(info_names)
    assert all(rp.frame(n, 0) == 0 for n in info_names)
    for t in range(RECORD_TICKS + 1):
        _tree_equal(rp.state(t), state, f"frame {t}")
        _, k_step = tick_keys(k_run, t)
        action = {head: rp.frame(f"agent/action/{head}", t) for head in world.env.action_heads}
        _, state, _, term, _, info = step(k_step, state, action, world.params_env)
        if t < RECORD_TICKS:
            for name in info_names:
                want = np.asarray(info[name[len("info/"):]])
                got = rp.frame(name, t + 1)
                assert got.dtype == want.dtype and got == want, (t + 1, name, got, want)
        deaths += int(np.sum(term))
    moved = np.any(rp.frame("state/entities/pos", 0) != rp.frame("state/entities/pos", RECORD_TICKS))
    assert moved, "a replay where nobody moves would not test much"


def test_file_round_trip_equals_the_recording_for_every_leaf(recorded):
    writer, header, path, loaded = recorded
    memory = Replay.from_writer(writer, header)
    assert loaded.names == memory.names
    assert {"state/tiles", "state/entities/health", "agent/value", "overlay/counts",
            "static/globalValues"} <= set(loaded.names)
    for t in [0, 1, 17, RECORD_TICKS, 5]:  # forward, then backward (sparse leaves replay from frame 0)
        for name in loaded.names:
            a, b = loaded.frame(name, t), memory.frame(name, t)
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_array_equal(a, b, err_msg=f"{name} frame {t}")


def test_writer_encodings_are_lossless_for_every_dtype(tmp_path):
    rng = np.random.default_rng(0)
    t = 9
    frames = {
        "small/int": rng.integers(-5, 300, (t, 7)).astype(np.int32),          # narrowed to int16
        "small/big": rng.integers(-2**31, 2**31 - 1, (t, 3), dtype=np.int64).astype(np.int32),  # wraps in deltas
        "small/bool": rng.random((t, 5)) < 0.5,
        "small/float": rng.standard_normal((t, 4)).astype(np.float32),
        "map/int": np.cumsum(rng.random((t, 80, 80)) < 0.01, axis=0).astype(np.int32),  # sparse
        "map/float": np.where(rng.random((t, 70, 70)) < 0.3, np.nan, 1.5).astype(np.float32),
    }
    frames["map/float"][4:, 3, 3] = [1, np.nan, 2, 2, np.nan]  # NaN -> value -> NaN transitions
    w = ReplayWriter()
    w.add({k: v[:4] for k, v in frames.items()})
    w.add({k: v[4:] for k, v in frames.items()})   # two chunks: sparse diffs cross the boundary
    w.add_static("static/x", np.arange(6, dtype=np.int16))
    w.write(tmp_path / "x.replay", {"map": {"height": 1, "width": 1}})
    rp = Replay.load(tmp_path / "x.replay")
    enc = {leaf["name"]: leaf["encoding"] for leaf in rp.header["leaves"]}
    assert enc["map/int"] == "sparse" and enc["small/int"] == "delta" and enc["small/float"] == "raw"
    assert 80 * 80 >= SPARSE_MIN
    for name, x in frames.items():
        for i in list(range(t)) + [2]:
            np.testing.assert_array_equal(rp.frame(name, i), x[i], err_msg=f"{name}[{i}]")
        assert rp.frame(name, 0).dtype == x.dtype
    np.testing.assert_array_equal(rp.frame("static/x", 3), np.arange(6, dtype=np.int16))
    assert narrow_dtype(-5, 299, np.int32) == np.int16 and narrow_dtype(0, 255, np.int32) == np.uint8


def test_sparse_map_layers_make_the_file_small(recorded):
    _, header, path, rp = recorded
    raw = sum(np.prod(leaf["shape"] or [1]) * np.dtype(leaf["dtype"]).itemsize * rp.num_frames
              for leaf in header_leaves(rp))
    assert path.stat().st_size < raw / 10, (path.stat().st_size, raw)


def header_leaves(rp):
    return [leaf for leaf in rp.header["leaves"] if leaf["encoding"] != "static"]


# ---------------------------------------------------------------- bad files
def _rewrite(src, dst, edit_header=None, drop=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "header.json" and edit_header:
                h = json.loads(data)
                edit_header(h)
                data = json.dumps(h).encode()
            if drop and info.filename == drop:
                continue
            zout.writestr(info.filename, data)


def test_truncated_file_is_a_clear_error(replay_path, tmp_path):
    data = replay_path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        bad = tmp_path / f"cut{cut}.replay"
        bad.write_bytes(data[:cut])
        with pytest.raises(ReplayError, match="truncated"):
            Replay.load(bad)


def test_flipped_byte_inside_an_array_is_detected(replay_path, tmp_path):
    data = bytearray(replay_path.read_bytes())
    with zipfile.ZipFile(replay_path) as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)   # the largest compressed array
    name_len = len(info.filename.encode())
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x5A
    bad = tmp_path / "flipped.replay"
    bad.write_bytes(bytes(data))
    with pytest.raises(ReplayError, match="corrupt"):
        Replay.load(bad)


def test_wrong_version_and_format_are_refused(replay_path, tmp_path):
    newer = tmp_path / "v2.replay"
    _rewrite(replay_path, newer, lambda h: h.update(version=2))
    with pytest.raises(ReplayError, match=r"version 2.*reads version 1.*newer"):
        Replay.load(newer)
    older = tmp_path / "v0.replay"
    _rewrite(replay_path, older, lambda h: h.update(version=0))
    with pytest.raises(ReplayError, match="version 0.*re-record"):
        Replay.load(older)
    other = tmp_path / "other.replay"
    _rewrite(replay_path, other, lambda h: h.update(format="something-else"))
    with pytest.raises(ReplayError, match="not an nmmo-jax replay"):
        Replay.load(other)


def test_inconsistent_or_missing_parts_are_refused(replay_path, tmp_path):
    def grow_shape(h):
        leaf = next(l for l in h["leaves"] if l["name"] == "state/entities/health")
        leaf["shape"] = [leaf["shape"][0] + 1]
    bad = tmp_path / "shape.replay"
    _rewrite(replay_path, bad, grow_shape)
    with pytest.raises(ReplayError, match="corrupt leaf 'state/entities/health'"):
        Replay.load(bad)
    missing = tmp_path / "missing.replay"
    _rewrite(replay_path, missing, drop="arrays/state/entities/health.delta.npy")
    with pytest.raises(ReplayError, match="array 'state/entities/health.delta' missing"):
        Replay.load(missing)
    nohead = tmp_path / "nohead.replay"
    _rewrite(replay_path, nohead, drop="header.json")
    with pytest.raises(ReplayError, match="no header.json"):
        Replay.load(nohead)
    garbage = tmp_path / "garbage.replay"
    garbage.write_bytes(b"just some text, not a zip at all" * 10)
    with pytest.raises(ReplayError, match="not a replay file"):
        Replay.load(garbage)
    with pytest.raises(ReplayError, match="no such replay file"):
        Replay.load(tmp_path / "absent.replay")


def test_pickled_arrays_are_never_loaded(replay_path, tmp_path):
    """An object array (which needs pickle) in place of a numeric one is refused, not unpickled."""
    bad = tmp_path / "pickle.replay"
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(replay_path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "arrays/state/entities/health.delta.npy":
                data = buf.getvalue()
            zout.writestr(info.filename, data)
    with pytest.raises(ReplayError, match="corrupt array 'state/entities/health.delta'"):
        Replay.load(bad)


def test_state_of_a_replay_missing_a_world_field_names_it(recorded, tmp_path):
    writer, header, _, _ = recorded
    rp = Replay.from_writer(writer, header)
    del rp._leaves["state/entities/gold"]
    with pytest.raises(ReplayError, match="state/entities/gold"):
        rp.state(0)
    assert "health" in {k.split("/")[-1] for k in rp.fields(0)}


# ---------------------------------------------------------------------- CLI
def test_cli_records_a_random_replay_with_a_progress_bar(tmp_path, capsys):
    out = tmp_path / "random.replay"
    try:   # --import registers the README's custom overlay example
        cli.main(["--random", *tiny_cli_flags(), "--ticks=20", "--chunk=8", f"--out={out}", "--seed=5",
                  "--import=viewer.example_overlay"])
    finally:
        forget_example_overlay()
    captured = capsys.readouterr()
    assert "21/21" in captured.err and "tick" in captured.err, captured.err[-500:]
    assert f"wrote {out}: 21 frames" in captured.out
    rp = Replay.load(out)
    assert rp.num_frames == 21 and rp.header["policy"] == {"kind": "random"} and rp.header["seed"] == 5
    assert [o["name"] for o in rp.overlays] == ["counts", "health"]
    t = 20
    alive = rp.frame("state/entities/alive", t)[:16]
    pos = rp.frame("state/entities/pos", t)[:16]
    shown = rp.overlay("health", t)
    assert np.isfinite(shown).sum() == len({tuple(p) for p in pos[alive].tolist()})
    assert int(rp.state(20).tick) == 20
    cli.main([f"--info={out}"])
    assert "21 frames" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--random", "--out=x.replay", "--nonsense=1"], "unknown config key 'nonsense'"),
    (["--out=x.replay"], "give --random"),
    (["--random", "--checkpoint=/nowhere", "--out=x.replay"], "python -m agents.record --checkpoint"),
    (["--checkpoint=/nowhere/at/all", "--out=x.replay"], "python -m agents.record --checkpoint"),
    (["--random", "--greedy", "--out=x.replay"], "--greedy is for a policy"),
    (["--random"], "--out=FILE is required"),
    (["--random", "--out=x.replay", "--ticks=zero"], "--ticks='zero': expected an integer"),
    (["--random", "--out=x.replay", "--ticks=0"], "--ticks=0: must be >= 1"),
    (["--random", "--out=x.replay", "--overlays=nope"], "unknown overlay"),
    (["--info=/nowhere.replay"], "no such replay file"),
    (["--random", "--out=x.replay", "--import=no_such_module_here"], "--import=no_such_module_here: cannot import"),
])
def test_cli_errors_name_the_problem(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert message in str(exc.value), str(exc.value)
    assert str(exc.value).startswith("nmmo_jax.replay: ")


@pytest.mark.parametrize("argv, message", [
    (["--out=x.replay"], "--checkpoint=DIR is required"),
    (["--checkpoint=/nowhere/at/all"], "--out=FILE is required"),
    (["--checkpoint=/nowhere/at/all", "--out=x.replay"], "not a run directory"),
    (["--checkpoint=/nowhere/at/all", "--random", "--out=x.replay"], "python -m nmmo_jax.replay --random"),
    (["--checkpoint=/nowhere/at/all", "--out=x.replay", "--greedy=maybe"], "--greedy='maybe'"),
])
def test_agents_record_cli_errors_name_the_problem(argv, message):
    """Recording a checkpoint is the learner's command; it takes nmmo_jax.replay's recording flags."""
    from agents import record
    with pytest.raises(SystemExit) as exc:
        record.main(argv)
    assert message in str(exc.value), str(exc.value)
    assert str(exc.value).startswith("agents.record: ")
