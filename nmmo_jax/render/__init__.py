"""Seeing the world: recording replays in-graph, replay files, RGB frames, overlays.

* ``Recorder`` (record.py): a rollout recorded as ``lax.scan`` outputs.
* ``ReplayWriter`` / ``Replay`` (fileformat.py, playback.py): the versioned
  replay file (zip of ``.npy`` + JSON header, no pickle) and random access to it.
* ``render_frame`` / ``export_video`` (frames.py): state -> uint8[H, W, 3], GIF/MP4.
* overlays.py: counts, values, attention, globalValues and ``register_overlay``.

The web viewer is ``nmmo_jax.viewer``; the command line ``python -m nmmo_jax.replay``.
"""
from nmmo_jax.render.fileformat import FORMAT, VERSION, ReplayError, ReplayWriter
from nmmo_jax.render.frames import export_video, render_frame
from nmmo_jax.render.overlays import register_overlay, unregister_overlay
from nmmo_jax.render.playback import Replay
from nmmo_jax.render.record import Recorder

__all__ = ["FORMAT", "VERSION", "ReplayError", "ReplayWriter", "Replay", "Recorder", "register_overlay",
           "unregister_overlay", "render_frame", "export_video"]
