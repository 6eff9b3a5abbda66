"""Running the app: in the foreground (``baton annotate serve``) or in a background thread.

:class:`BackgroundServer` runs uvicorn in a thread on a free loopback port; the simulated
annotators, the tests and the benchmark use it to talk HTTP to the real server::

    with BackgroundServer(app) as server:
        httpx.get(server.url + "/api/me", headers=...)
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import Any

import uvicorn

from baton.errors import InputError


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for uvicorn to serve on (``Server.run(sockets=[...])``).

    Bound before anything is printed or created, so that a port another program holds is one clear
    error naming it, not a login link to a server that never starts.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            raise InputError(f"cannot listen on '{host}': {exc.strerror or exc}", field="host") from None
        if exc.errno == errno.EADDRINUSE:
            reason = (
                f"port {port} on {host} is already in use (another server?): stop it or give another --port"
            )
        elif exc.errno == errno.EACCES:
            reason = f"no permission to listen on port {port} on {host}: give another --port (1024 or above)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(
                f"{host} is not an address of this machine: give another --host", field="host"
            ) from None
        else:
            reason = f"cannot listen on port {port} on {host}: {exc.strerror or exc}"
        raise InputError(reason, field="port") from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, host: str, port: int, log_level: str = "warning") -> Any:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level in ("debug", "trace"),
        lifespan="on",
        timeout_keep_alive=30,
        backlog=2048,
    )


class BackgroundServer:
    """uvicorn in a daemon thread; ``url`` once started; ``stop()`` (or leave the ``with``) ends it."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.server = uvicorn.Server(uvicorn_config(app, host, port, log_level))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.host = host
        self.thread = threading.Thread(target=self.server.run, name="baton-annotate-server", daemon=True)
        self.url = ""

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the annotation server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
