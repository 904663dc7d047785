"""The browser viewer: a page on 127.0.0.1 showing a replay file or a policy playing live.

    python -m nmmo_jax.viewer run.replay [--port=8000] [--host=127.0.0.1]
    python -m agents.evaluate --checkpoint=DIR --serve [--port=8000] [--fps=8]

``server.py`` serves the page (``static/``) and the frames of a source
(``sources.py``: ``ReplaySource`` for a file, ``LiveSource`` for a recorder
playing now, pushed over a WebSocket written in ``websocket.py``).
"""
from __future__ import annotations

from nmmo_jax.viewer.server import ViewerServer
from nmmo_jax.viewer.sources import LiveSource, ReplaySource

__all__ = ["ViewerServer", "ReplaySource", "LiveSource", "serve_replay", "live_server"]


def serve_replay(path, host: str = "127.0.0.1", port: int = 8000) -> ViewerServer:
    """A server (not started) for a replay file; raises ``ReplayError`` for a bad file."""
    from nmmo_jax.render import Replay
    return ViewerServer(ReplaySource(Replay.load(path)), host, port)


def live_server(env, policy, host: str = "127.0.0.1", port: int = 8000, fps: float = 8.0, seed: int = 0,
                chunk: int = 8, history: int = 256, initial_carry=None, header_extra=None) -> ViewerServer:
    """A server (not started) streaming ``policy`` playing ``env`` live.

    ``policy``: a policy function ``policy(obs, carry, key) -> (actions, value,
    attention, carry)`` with its first carry ``initial_carry`` (see
    ``nmmo_jax.render.record``; ``agents.policy_fn`` makes one from a model), or
    None for random legal actions. Ticks are computed ``chunk`` at a time by the
    compiled recorder (globalValues once per world) and pushed to the page at ``fps``.
    """
    from nmmo_jax.render import Recorder
    recorder = Recorder(env, policy, initial_carry=initial_carry, chunk=chunk)
    source = LiveSource(recorder, seed=seed, fps=fps, history=history, header_extra=header_extra)
    return ViewerServer(source, host, port)
