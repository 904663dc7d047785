"""Tests of replays, frames, overlays and the web viewer (issue 5)."""
