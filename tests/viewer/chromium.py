"""Find Chromium for the browser tests, installing Debian's package when the machine has none.

The README's test command (``python -m pytest``) must pass on a fresh machine,
and a fresh Debian/Ubuntu machine has no browser. Playwright's own browser
download (``playwright install``) is not used: Playwright drives the system
Chromium. Order: ``NMMO_CHROMIUM``, then ``chromium`` / ``chromium-browser`` on
the PATH, then ``apt-get install chromium`` when this process may install
packages (root, or passwordless sudo). Anything else fails with what to run.
"""
from __future__ import annotations

import os
import shutil
import subprocess

CANDIDATES = ("chromium", "chromium-browser")
SYSTEM_PATH = "/usr/bin/chromium"  # Debian's, also when /usr/bin is not on the PATH
INSTALL_HELP = ("install Debian's Chromium (apt-get install -y chromium), or point NMMO_CHROMIUM at a "
                "Chromium binary; NMMO_SKIP_BROWSER=1 skips the browser tests")


def find() -> str | None:
    if os.environ.get("NMMO_CHROMIUM"):
        return os.environ["NMMO_CHROMIUM"] if os.path.exists(os.environ["NMMO_CHROMIUM"]) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return SYSTEM_PATH if os.path.exists(SYSTEM_PATH) else None


def _apt_prefix() -> list[str] | None:
    """How to run apt-get here without a password prompt, or None."""
    if shutil.which("apt-get") is None:
        return None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def find_or_install(log=print) -> tuple[str | None, str]:
    """(path to Chromium or None, what happened). Installs with apt-get at most once per call."""
    path = find()
    if path:
        return path, f"using {path}"
    if os.environ.get("NMMO_CHROMIUM"):
        return None, f"NMMO_CHROMIUM={os.environ['NMMO_CHROMIUM']} does not exist; {INSTALL_HELP}"
    prefix = _apt_prefix()
    if prefix is None:
        return None, f"no Chromium on this machine and no way to install it here; {INSTALL_HELP}"
    log("browser tests: no Chromium found; installing Debian's chromium with apt-get (once)...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(prefix + cmd, capture_output=True, text=True, env=env, timeout=1200)
        if proc.returncode != 0:
            return None, f"{' '.join(cmd)} failed ({proc.stderr.strip()[-500:]}); {INSTALL_HELP}"
    path = find()
    return (path, f"installed {path}") if path else (None, f"apt-get installed no chromium; {INSTALL_HELP}")
