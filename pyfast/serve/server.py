"""Running the app under uvicorn: in the foreground (``pyfast serve``) or in a background
thread on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

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


def load_models(config: ServeConfig) -> ModelStore:
    """Every model of ``config``'s folder, loaded now, before a server starts: a broken file or an
    unusable provider raises here with its own message (not from inside uvicorn's start-up), and
    the service then reuses these engines.

    Raises:
        FileNotFoundError, ValueError, RuntimeError: no models, a file that is not a usable model,
            or a provider that cannot run.
    """
    store = ModelStore(config.models_dir, providers=config.providers, threads=config.threads)
    store.load_all()
    return store


def listening_socket(host: str, port: int) -> tuple[socket.socket, str]:
    """A socket bound to host:port (port 0: a free one) and the service's URL on it.

    Raises:
        OSError: the address cannot be bound (in use, unknown host), naming it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    return sock, f"http://{shown}:{sock.getsockname()[1]}"


def run_server(config: ServeConfig, log_level: str = "info", announce: Callable[[str], None] | None = None) -> None:
    """Binds the address (in use: an error before anything loads), loads the models, calls
    ``announce(url)`` (with the real port, also for port 0), then serves until interrupted
    (SIGINT/SIGTERM); shut-down finishes in-flight requests."""
    import uvicorn

    sock, url = listening_socket(config.host, config.port)
    try:
        models = load_models(config)
    except BaseException:
        sock.close()
        raise
    if announce is not None:
        announce(url)
    uvicorn.Server(_uvicorn_config(config, log_level, models)).run(sockets=[sock])


class BackgroundServer:
    """The service on ``config.host`` at a free port, in a daemon thread (a context manager).

    ``url`` is where it answers once ``start`` returns; ``stop`` shuts down gracefully,
    as SIGTERM would (in-flight requests finish first).

    Raises:
        FileNotFoundError, ValueError, RuntimeError: see :func:`load_models` (at construction).
        RuntimeError: the server stopped during its start-up or did not come up within
            ``startup_timeout`` seconds.
    """

    def __init__(self, config: ServeConfig | None = None, startup_timeout: float = 60.0, log_level: str = LOG_LEVEL) -> None:
        import uvicorn

        self.config = config or ServeConfig(port=0)
        self._socket, self.url = listening_socket(self.config.host, self.config.port)
        self.port = self._socket.getsockname()[1]
        try:
            models = load_models(self.config)
        except BaseException:
            self._socket.close()
            raise
        self.server = uvicorn.Server(_uvicorn_config(self.config, log_level, models))
        self.app = self.server.config.app
        self.startup_timeout = startup_timeout
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                        name="pyfast-serve", daemon=True)

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the service stopped during its start-up (see its log)")
            if time.monotonic() > deadline:
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
