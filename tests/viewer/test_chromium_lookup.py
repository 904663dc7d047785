"""How the browser tests find Chromium (tests/viewer/chromium.py), without touching the machine."""
from __future__ import annotations

from . import chromium


def test_nmmo_chromium_wins_and_a_missing_one_is_named(tmp_path, monkeypatch):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("NMMO_CHROMIUM", str(fake))
    assert chromium.find_or_install(log=lambda _: None) == (str(fake), f"using {fake}")
    monkeypatch.setenv("NMMO_CHROMIUM", str(tmp_path / "nowhere"))
    path, why = chromium.find_or_install(log=lambda _: None)
    assert path is None and "nowhere" in why and "apt-get install -y chromium" in why


def test_a_chromium_on_the_path_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv("NMMO_CHROMIUM", raising=False)
    exe = tmp_path / "chromium-browser"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(chromium, "SYSTEM_PATH", str(tmp_path / "none"))  # no /usr/bin/chromium either
    assert chromium.find() == str(exe)


def test_without_chromium_or_a_way_to_install_it_the_message_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.delenv("NMMO_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))                 # no chromium, no apt-get, no sudo
    monkeypatch.setattr(chromium, "SYSTEM_PATH", str(tmp_path / "none"))
    path, why = chromium.find_or_install(log=lambda _: None)
    assert path is None and "apt-get install -y chromium" in why and "NMMO_SKIP_BROWSER" in why
