"""Run the app under uvicorn: one process, graceful shutdown on SIGTERM/SIGINT (stop accepting, finish, exit)."""

from __future__ import annotations

import logging
import math

from ..optional import require
from .app import ServeConfig, create_app


def run_server(cfg: ServeConfig) -> int:
    """Serve until SIGTERM/SIGINT; the exit code is 1 when the model could not be loaded, else 0."""
    uvicorn = require("uvicorn", "yolopt[serve]")
    logging.basicConfig(level=cfg.log_level.upper(), format="%(levelname)s:     %(message)s")
    server: object = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]

    app = create_app(cfg, on_load_failure=stop)
    config = uvicorn.Config(
        app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=cfg.access_log, lifespan="on",
        # in-flight requests get up to their own timeout to finish after SIGTERM
        timeout_graceful_shutdown=math.ceil(cfg.timeout_ms / 1000) + 5,
    )
    server = uvicorn.Server(config)
    server.run()  # type: ignore[attr-defined]
    return 1 if app.state.yolopt.error else 0
