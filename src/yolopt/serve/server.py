"""Run the app under uvicorn: one process, graceful shutdown on SIGTERM/SIGINT (stop accepting, finish, exit 0).

Connections are bounded too: request headers must arrive complete within ``header_timeout_s`` (a client that
sends half a request is disconnected, not kept forever) and may not exceed ``max_header_kb``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ..optional import require
from .app import ServeConfig, create_app


def header_timeout_protocol(timeout_s: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete ``timeout_s`` after
    it opened or after its previous answer (the stock one waits for them forever)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: Any = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(timeout_s, self._headers_overdue)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_overdue(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()  # still waiting for a complete request line + headers

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutH11Protocol


def run_server(cfg: ServeConfig) -> int:
    """Serve until SIGTERM/SIGINT; the exit code is 1 when the model could not be loaded, else 0."""
    uvicorn = require("uvicorn", "yolopt[serve]")
    logging.basicConfig(level=cfg.log_level.upper(), format="%(levelname)s:     %(message)s")

    class Server(uvicorn.Server):  # type: ignore[misc,name-defined]
        """uvicorn's server without re-raising the caught signal at exit, so a graceful stop exits 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    server: Any = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(cfg, on_load_failure=stop)
    config = uvicorn.Config(
        app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=cfg.access_log, lifespan="on",
        http=header_timeout_protocol(cfg.header_timeout_s), h11_max_incomplete_event_size=cfg.max_header_kb * 1024,
        # in-flight requests get up to their own timeout to finish after SIGTERM
        timeout_graceful_shutdown=math.ceil(cfg.timeout_ms / 1000) + 5,
    )
    server = Server(config)
    server.run()
    return 1 if app.state.yolopt.error else 0
