"""``python -m nmmo_jax.viewer run.replay [--port=8000] [--host=127.0.0.1]``: serve a replay to the browser."""
from __future__ import annotations

import sys

from nmmo_jax.config import ConfigError, parse_cli_overrides


def parse_address(flags: dict) -> tuple[str, int]:
    """(host, port) from ``--host``/``--port`` (shared with ``agents.evaluate --serve``)."""
    host = flags.get("host", "127.0.0.1")
    try:
        port = int(flags.get("port", 8000))
    except ValueError:
        raise ConfigError(f"--port={flags['port']!r}: expected an integer from 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port={port}: expected an integer from 0 to 65535")
    if not host or any(c in host for c in "/ "):
        raise ConfigError(f"--host={host!r}: expected an address such as 127.0.0.1")
    return host, port


def parse_fps(flags: dict) -> float:
    """Ticks a second a live world plays at, from ``--fps`` (``agents.evaluate --serve``, ``agents.demo``)."""
    try:
        fps = float(flags.get("fps", 8))
    except ValueError:
        raise ConfigError(f"--fps={flags['fps']!r}: expected a number of ticks per second") from None
    if not fps > 0:
        raise ConfigError(f"--fps={fps}: must be positive")
    return fps


def main(argv=None):
    from nmmo_jax.render import ReplayError
    from nmmo_jax.viewer import serve_replay
    argv = sys.argv[1:] if argv is None else argv
    paths = [a for a in argv if not a.startswith("--")]
    try:
        flags, overrides = parse_cli_overrides([a for a in argv if a.startswith("--")], known_flags=("port", "host"))
        if overrides:
            raise ConfigError(f"unknown flag(s) {sorted('--' + k for k in overrides)}; allowed: --port, --host")
        if len(paths) != 1:
            raise ConfigError("give one replay file: python -m nmmo_jax.viewer run.replay [--port=8000]")
        host, port = parse_address(flags)
        server = serve_replay(paths[0], host, port)
    except (ConfigError, ReplayError) as err:
        sys.exit(f"nmmo_jax.viewer: {err}")
    try:
        server.run()
    except OSError as err:
        sys.exit(f"nmmo_jax.viewer: cannot listen on {host}:{port} ({err.strerror or err})")


if __name__ == "__main__":
    main()
