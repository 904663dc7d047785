"""The viewer's HTTP + WebSocket server: standard-library asyncio, one port, localhost by default.

Routes (GET only)::

    /, /index.html            the page
    /static/<file>            the page's own files (a fixed list read at start-up)
    /api/meta                 world facts and the frames available (JSON)
    /api/frame/<i>            frame i (JSON)
    /api/series               the chart: population, mean lifetime, kills, trades per frame (JSON)
    /api/overlay/<name>/<i>   overlay picture: H*W little-endian float32, NaN = nothing
                              (?agent=<slot> for per-agent overlays)
    /ws                       live mode: every new frame pushed as {"type": "frame", "frame": {...}}

What it will not do: serve any file that is not in its static list (a request
path is looked up in a dict, never joined to a directory, so ``..`` or
encoded slashes lead nowhere), read any replay but the one it was given, or
answer a ``Host`` other than a loopback name while bound to loopback (a web
page elsewhere cannot reach it by DNS rebinding). A client that vanishes
mid-stream costs only its own connection: every write is guarded, each
WebSocket client has its own bounded queue (a slow one loses old frames,
never blocks the others).
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import urllib.parse
from pathlib import Path

import numpy as np

from nmmo_jax.viewer import websocket as ws

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}
MAX_REQUEST = 16 * 1024
CLIENT_QUEUE = 64


def static_files(directory: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, content type) of the page's files, read once."""
    out = {}
    for p in sorted(directory.iterdir()):
        if p.is_file() and p.suffix in CONTENT_TYPES:
            out[p.name] = (p.read_bytes(), CONTENT_TYPES[p.suffix])
    if "index.html" not in out:
        raise FileNotFoundError(f"viewer page missing: {directory / 'index.html'}")
    return out


class ViewerServer:
    """Serves one source (``ReplaySource`` or ``LiveSource``) on ``host:port`` (port 0: any free port)."""

    def __init__(self, source, host: str = "127.0.0.1", port: int = 8000):
        self.source = source
        self.host = host
        self.port = port
        self.files = static_files()
        self.loopback = host in LOOPBACK_NAMES
        self._clients: set[asyncio.Queue] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._ready = threading.Event()
        self._thread = None
        self.ws_sent = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # ----------------------------------------------------------- lifecycle
    async def start(self):
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_REQUEST)
        self.port = self._server.sockets[0].getsockname()[1]
        if getattr(self.source, "live", False):
            self.source.publish = self._publish_threadsafe
            self.source.start()
        self._ready.set()

    async def serve_forever(self, announce: bool = False):
        await self.start()
        if announce:
            if not self.loopback:
                print(f"warning: listening on {self.host}, reachable from other machines", flush=True)
            print(f"viewer: {self.url} (Ctrl-C to stop)", flush=True)
        async with self._server:
            await self._server.serve_forever()

    def run(self, announce: bool = True):
        """Serve until Ctrl-C (the command-line entry points); prints the URL once listening."""
        try:
            asyncio.run(self.serve_forever(announce))
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        finally:
            if getattr(self.source, "live", False):
                self.source.stop()

    def start_in_thread(self) -> str:
        """Serve from a daemon thread (tests, notebooks); returns the URL once listening."""
        def main():
            try:
                asyncio.run(self.serve_forever())
            except asyncio.CancelledError:  # stop() closed the server
                pass

        self._thread = threading.Thread(target=main, name="nmmo-viewer", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("viewer server did not start within 30 s")
        return self.url

    def stop(self):
        if getattr(self.source, "live", False):
            self.source.stop()
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)

    # ----------------------------------------------------------- broadcast
    def _publish_threadsafe(self, frame: dict):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            text = json.dumps({"type": "frame", "frame": frame}, separators=(",", ":"))
            try:
                loop.call_soon_threadsafe(self._broadcast, text)
            except RuntimeError:  # loop closed while shutting down
                pass

    def _broadcast(self, text: str):
        for q in list(self._clients):
            if q.full():  # a slow client drops its oldest frame instead of holding everyone back
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(text)

    # ------------------------------------------------------------- requests
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=15)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
                return
            try:
                method, target, headers = parse_request(head)
            except ValueError:
                await self._send(writer, 400, b"bad request\n", "text/plain")
                return
            if self.loopback and headers.get("host", "").rsplit(":", 1)[0].lower() not in LOOPBACK_NAMES:
                await self._send(writer, 403, b"this viewer only answers to localhost\n", "text/plain")
                return
            if method not in ("GET", "HEAD"):
                await self._send(writer, 405, b"only GET\n", "text/plain", extra={"Allow": "GET, HEAD"})
                return
            url = urllib.parse.urlsplit(target)
            if url.path == "/ws":
                await self._websocket(reader, writer, headers)
                return
            status, body, ctype = self._route(url.path, urllib.parse.parse_qs(url.query))
            await self._send(writer, status, b"" if method == "HEAD" else body, ctype, length=len(body))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to tell it
        finally:
            try:
                writer.close()
            except Exception:
                pass

    def _route(self, path: str, query: dict) -> tuple[int, bytes, str]:
        if path in ("/", "/index.html"):
            body, ctype = self.files["index.html"]
            return 200, body, ctype
        if path.startswith("/static/"):
            f = self.files.get(path[len("/static/"):])
            return (200, *f) if f else (404, b"not found\n", "text/plain")
        try:
            if path == "/api/meta":
                return 200, _json(self.source.meta()), "application/json"
            if path == "/api/series":
                return 200, _json(self.source.series()), "application/json"
            m = re.fullmatch(r"/api/frame/(\d{1,9})", path)
            if m:
                return 200, _json(self.source.frame(int(m.group(1)))), "application/json"
            m = re.fullmatch(r"/api/overlay/([A-Za-z_][A-Za-z0-9_]{0,63})/(\d{1,9})", path)
            if m:
                agent = query.get("agent", [None])[0]
                if agent is not None and not agent.isdigit():
                    return 400, b"agent must be a slot number\n", "text/plain"
                grid = self.source.overlay(m.group(1), int(m.group(2)), None if agent is None else int(agent))
                return 200, np.ascontiguousarray(grid, "<f4").tobytes(), "application/octet-stream"
        except (IndexError, KeyError) as err:
            return 404, (str(err).strip('"') + "\n").encode(), "text/plain"
        except ValueError as err:
            return 400, (str(err) + "\n").encode(), "text/plain"
        return 404, b"not found\n", "text/plain"

    async def _send(self, writer, status: int, body: bytes, ctype: str, length: int | None = None, extra=None):
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                  426: "Upgrade Required"}.get(status, "Error")
        headers = {"Content-Type": ctype, "Content-Length": str(len(body) if length is None else length),
                   "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Connection": "close",
                   **(extra or {})}
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        await writer.drain()

    # ------------------------------------------------------------ websocket
    async def _websocket(self, reader, writer, headers):
        if not getattr(self.source, "live", False):
            await self._send(writer, 404, b"no live stream: this viewer shows a replay file\n", "text/plain")
            return
        problem = ws.handshake_problem(headers)
        if problem:
            await self._send(writer, 426 if "Upgrade" in problem else 400, (problem + "\n").encode(), "text/plain",
                             extra={"Sec-WebSocket-Version": "13"})
            return
        writer.write(ws.handshake_response(headers))
        await writer.drain()
        queue: asyncio.Queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self._clients.add(queue)

        async def pump():
            while True:
                text = await queue.get()
                writer.write(ws.encode_frame(text.encode("utf-8")))
                await writer.drain()
                self.ws_sent += 1

        async def listen():
            while await ws.read_message(reader, writer) is not None:
                pass  # the page sends nothing we act on; reading keeps pings and closes answered

        tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(listen())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._clients.discard(queue)
            for t in tasks:
                t.cancel()
            for t in tasks:  # collect their exceptions (disconnects, protocol errors): they end only this client
                try:
                    await t
                except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError, ws.WebSocketError,
                        RuntimeError):
                    pass


def parse_request(head: bytes) -> tuple[str, str, dict]:
    """(method, target, lower-cased headers) of an HTTP/1.x request head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise ValueError(f"bad request line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            k, sep, v = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line {line!r}")
            headers[k.strip().lower()] = v.strip()
    return parts[0], parts[1], headers


def _json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")
