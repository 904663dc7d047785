"""The viewer server over plain sockets: routes, no path traversal, localhost only, WebSocket live stream
that survives a client vanishing mid-stream."""
from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import time

import numpy as np
import pytest

from nmmo_jax.viewer import LiveSource, ReplaySource, ViewerServer
from nmmo_jax.viewer import __main__ as viewer_cli
from nmmo_jax.viewer import websocket as ws


@pytest.fixture(scope="module")
def replay_server(recorded):
    server = ViewerServer(ReplaySource(recorded[3]), port=0)
    server.start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live(policy_recorder):
    """A live server streaming the session's policy recorder (already compiled) at 40 frames/s."""
    server = ViewerServer(LiveSource(policy_recorder, seed=1, fps=40, history=64), port=0)
    server.start_in_thread()
    yield server
    server.stop()


def get(server, path, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{server.port}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type"), body


def test_routes_serve_page_meta_frames_and_overlays(replay_server, recorded):
    rp = recorded[3]
    status, ctype, body = get(replay_server, "/")
    assert status == 200 and ctype.startswith("text/html") and b"viewer.js" in body
    assert get(replay_server, "/static/viewer.js")[0] == 200
    meta = json.loads(get(replay_server, "/api/meta")[2])
    assert meta["live"] is False and (meta["first"], meta["last"]) == (0, rp.num_frames - 1)
    assert [o["name"] for o in meta["overlays"]] == ["counts", "values", "attention", "globalValues"]
    frame = json.loads(get(replay_server, "/api/frame/7")[2])
    assert frame["tick"] == 7
    np.testing.assert_array_equal(frame["entities"]["health"], rp.frame("state/entities/health", 7))
    assert set(frame["entities"]) == {n.split("/")[-1] for n in rp.names if n.startswith("state/entities/")}
    status, ctype, body = get(replay_server, "/api/overlay/counts/7")
    assert status == 200 and ctype == "application/octet-stream"
    np.testing.assert_array_equal(np.frombuffer(body, "<f4").reshape(rp.shape), rp.overlay("counts", 7))
    agent = int(np.flatnonzero(rp.frame("state/entities/alive", 7))[0])
    body = get(replay_server, f"/api/overlay/attention/7?agent={agent}")[2]
    np.testing.assert_array_equal(np.frombuffer(body, "<f4").reshape(rp.shape), rp.overlay("attention", 7, agent))


@pytest.mark.parametrize("path, status", [
    ("/api/frame/99999", 404), ("/api/overlay/nope/1", 404), ("/api/overlay/attention/1", 400),
    ("/api/overlay/attention/1?agent=x", 400), ("/nothing", 404), ("/ws", 404),
])
def test_bad_requests_get_clear_statuses(replay_server, path, status):
    assert get(replay_server, path)[0] == status


@pytest.mark.parametrize("path", [
    "/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/../../../../etc/passwd", "/static//etc/passwd", "/static/", "/static/static/viewer.js",
    "/api/../static/viewer.js/../../sources.py",
])
def test_no_path_traversal(replay_server, path):
    status, _, body = get(replay_server, path)
    assert status == 404, (path, body[:80])


def test_only_answers_to_localhost_names_and_get(replay_server):
    assert get(replay_server, "/api/meta", host="evil.example:80")[0] == 403
    assert get(replay_server, "/api/meta", host="localhost")[0] == 200
    conn = http.client.HTTPConnection("127.0.0.1", replay_server.port, timeout=10)
    conn.request("POST", "/api/meta", body=b"x")
    assert conn.getresponse().status == 405
    with socket.create_connection(("127.0.0.1", replay_server.port), timeout=10) as s:
        s.sendall(b"garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")


def test_binds_to_localhost_by_default(replay_server):
    assert replay_server.host == "127.0.0.1"
    assert ViewerServer(replay_server.source).host == "127.0.0.1"


# ------------------------------------------------------------------ websocket
class WSClient:
    """A minimal blocking WebSocket client for tests (masks what it sends, as RFC 6455 requires)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert f"Sec-WebSocket-Accept: {ws.accept_key(key)}".encode() in head
        assert ws.accept_key(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # the RFC's own example

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def recv(self):
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._exact(8))
        assert not b1 & 0x80, "server frames are never masked"
        return b0 & 0x0F, self._exact(n)

    def recv_frame(self):
        while True:
            op, data = self.recv()
            if op == ws.OP_TEXT:
                return json.loads(data)["frame"]

    def send(self, payload: bytes, opcode=ws.OP_TEXT):
        self.sock.sendall(ws.encode_frame(payload, opcode, mask=os.urandom(4)))

    def vanish(self):
        """Drop the connection with a TCP reset, as a crashed browser tab would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def test_live_stream_pushes_consecutive_frames_and_answers_ping(live):
    c = WSClient(live.port)
    try:
        f1 = c.recv_frame()
        f2 = c.recv_frame()
        assert f2["index"] == f1["index"] + 1
        assert "health" in f1["entities"] and f1["tiles"]
        c.send(b"hello", ws.OP_PING)
        for _ in range(100):
            op, data = c.recv()
            if op == ws.OP_PONG:
                assert data == b"hello"
                break
        else:
            pytest.fail("no pong")
        meta = json.loads(get(live, "/api/meta")[2])
        assert meta["live"] and meta["last"] >= f2["index"] and meta["history"] == 64
        frame = json.loads(get(live, f"/api/frame/{meta['last']}")[2])   # scrubbing back works over HTTP
        assert frame["index"] == meta["last"]
        assert get(live, "/api/overlay/globalValues/%d" % meta["last"])[0] == 200
        c.send(struct.pack("!H", 1000), ws.OP_CLOSE)
        assert c.recv()[0] == ws.OP_CLOSE
    finally:
        c.sock.close()


def test_live_server_survives_a_client_that_vanishes_mid_stream(live):
    doomed = WSClient(live.port)
    doomed.recv_frame()
    survivor = WSClient(live.port)
    survivor.recv_frame()
    doomed.vanish()
    seen = [survivor.recv_frame()["index"] for _ in range(6)]
    assert seen == list(range(seen[0], seen[0] + 6))
    deadline = time.time() + 10
    while len(live._clients) != 1 and time.time() < deadline:
        time.sleep(0.1)
    assert len(live._clients) == 1, "the vanished client was not cleaned up"
    assert get(live, "/api/meta")[0] == 200
    late = WSClient(live.port)   # new clients are still welcome
    assert late.recv_frame()["index"] > seen[-1] - 64
    late.sock.close()
    survivor.sock.close()
    assert live.source.error is None and live.source._thread.is_alive()


def test_bad_websocket_handshakes_are_refused(live):
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                         "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAA=="})
    assert conn.getresponse().status == 400
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    conn.request("GET", "/ws")
    assert conn.getresponse().status == 426


def test_viewer_cli_flag_errors(recorded, tmp_path):
    for argv, message in [([], "give one replay file"), ([str(recorded[2]), "--port=x"], "--port='x'"),
                          ([str(recorded[2]), "--port=70000"], "--port=70000"),
                          ([str(recorded[2]), "--speed=3"], "unknown flag"),
                          ([str(tmp_path / "none.replay")], "no such replay file")]:
        with pytest.raises(SystemExit) as exc:
            viewer_cli.main(argv)
        assert message in str(exc.value) and str(exc.value).startswith("nmmo_jax.viewer: ")


def test_live_source_starts_a_new_world_when_one_ends(live):
    """The tiny world ends at its horizon (64 ticks); live play carries on in a fresh world."""
    c = WSClient(live.port)
    try:
        prev = c.recv_frame()
        for _ in range(400):
            f = c.recv_frame()
            if f["episode"] != prev["episode"]:
                break
            prev = f
        else:
            pytest.fail("no new world after 400 frames")
        assert f["episode"] == prev["episode"] + 1 and f["index"] == prev["index"] + 1
        assert f["tick"] == 0
        assert prev["tick"] == 64 or not any(prev["entities"]["alive"][:16])
    finally:
        c.sock.close()
