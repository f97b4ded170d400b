"""Running the app under uvicorn: in the foreground (``pyfast serve``) or in a background
thread on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

from .app import create_app
from .config import ServeConfig
from .models import ModelStore

LOG_LEVEL = "warning"


def _uvicorn_config(config: ServeConfig, log_level: str, store: ModelStore | None = None):
    import uvicorn

    return uvicorn.Config(
        create_app(config, store), host=config.host, port=config.port, log_level=log_level,
        timeout_graceful_shutdown=int(config.request_timeout_s) + 1,
        ws_max_size=config.max_body_bytes, limit_concurrency=None, lifespan="on", access_log=False,
    )


def run_server(config: ServeConfig, log_level: str = "info", store: ModelStore | None = None) -> None:
    """Serves until interrupted (SIGINT/SIGTERM); shut-down finishes in-flight requests.
    ``store``: models already loaded (see :func:`create_app`)."""
    import uvicorn

    uvicorn.Server(_uvicorn_config(config, log_level, store)).run()


class BackgroundServer:
    """The service on ``config.host`` at a free port, in a daemon thread (a context manager).

    ``url`` is where it answers once ``start`` returns; ``stop`` shuts down gracefully,
    as SIGTERM would (in-flight requests finish first).

    Raises:
        RuntimeError: the server did not come up within ``startup_timeout`` seconds.
    """

    def __init__(self, config: ServeConfig | None = None, startup_timeout: float = 60.0, log_level: str = LOG_LEVEL) -> None:
        import uvicorn

        self.config = config or ServeConfig(port=0)
        self._socket = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.config.host, self.config.port))
        self.port = self._socket.getsockname()[1]
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(_uvicorn_config(self.config, log_level))
        self.app = self.server.config.app
        self.startup_timeout = startup_timeout
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                        name="pyfast-serve", daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start within {self.startup_timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
