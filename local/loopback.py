"""What every local stand-in server shares: a threaded HTTP server on loopback, run on a background thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO, Any, Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a browser's idle keep-alive connection must not hold up stop()
    owner: Any


def owner_of(handler: BaseHTTPRequestHandler) -> Any:
    """The LoopbackServer a request handler is serving."""
    return handler.server.owner  # type: ignore[attr-defined]


class LoopbackServer:
    """``start()`` (or ``with``), then ``url``; ``stop()``. Request handlers find this object with ``owner_of``."""

    handler_class: type[BaseHTTPRequestHandler]

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        server = _Server(self._address, self.handler_class)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def read_banner(output: IO[str]) -> str:
    """What a starting process printed up to its first blank line (its banner), or up to the end of its output if
    it stopped first: never waits past a process that exited."""
    lines = []
    for line in iter(output.readline, ""):
        if line == "\n":
            break
        lines.append(line)
    return "".join(lines)
