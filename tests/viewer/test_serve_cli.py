"""``python -m agents.evaluate --checkpoint=DIR --serve``: flag errors, and (slow) a real checkpoint played live."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jax
import pytest

from agents import evaluate

from .conftest import TINY

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flags, message", [
    (["--serve", "--port=x"], "--port='x'"),
    (["--serve", "--port=-1"], "--port=-1"),
    (["--serve", "--fps=0"], "--fps=0.0: must be positive"),
    (["--serve", "--fps=fast"], "--fps='fast'"),
    (["--serve", "--host=a b"], "--host='a b'"),
])
def test_serve_flag_errors_come_before_loading_anything(flags, message, tmp_path):
    with pytest.raises(SystemExit) as exc:
        evaluate.main([f"--checkpoint={tmp_path / 'no-such-run'}", *flags])
    assert message in str(exc.value), str(exc.value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_evaluate_serve_streams_a_checkpoint_live(tmp_path):
    """A checkpoint saved straight after init (no training) is served live by the real command."""
    import nmmo_jax
    from agents import checkpoint as ckpt
    from agents.ppo import make_train
    cfg = nmmo_jax.load_config("small", {**TINY, "train.num_envs": 2, "train.hidden": 16,
                                         "train.num_minibatches": 2, "train.rollout_len": 4})
    runner = make_train(cfg).init(jax.random.PRNGKey(0))
    mngr = ckpt.manager(tmp_path / "run" / "checkpoints")
    ckpt.save(mngr, 0, runner, cfg)
    mngr.wait_until_finished()
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "agents.evaluate", f"--checkpoint={tmp_path / 'run'}", "--serve",
                             f"--port={port}", "--fps=20"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        meta = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/meta", timeout=5) as r:
                    meta = json.load(r)
                if meta["last"] >= 5:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(1)
        assert meta is not None and meta["live"] and meta["last"] >= 5, meta
        assert meta["policy"]["kind"] == "checkpoint" and meta["policy"]["update"] == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/frame/{meta['last']}", timeout=10) as r:
            frame = json.load(r)
        assert frame["index"] == meta["last"] and len(frame["entities"]["health"]) == 20
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
