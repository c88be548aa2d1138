"""The example shop: `python app/shop.py --port PORT`.

Boots Flask on 127.0.0.1 with a threaded werkzeug server, seeds a scratch SQLite database,
exports traces/metrics/logs over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and on
SIGTERM/SIGINT stops serving, flushes every telemetry provider and exits 0. Run as a script,
this directory is sys.path[0], so the sibling modules import directly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from flask import Flask
from store import Store
from telemetry import Telemetry
from werkzeug.serving import BaseWSGIServer, make_server

HERE = Path(__file__).resolve().parent

logger = logging.getLogger("shop")


class Stopped(Exception):
    """Raised by the signal handler while start-up work is still running."""


def create_app(store: Store, ready: threading.Event) -> Flask:
    # imported only now, after telemetry is installed, so start-up work is logged and traced
    import api
    import instrument

    app = Flask("shop", root_path=str(HERE), static_folder="static", static_url_path="/static")
    app.config.update(STORE=store, READY=ready)
    instrument.instrument(app)
    app.register_blueprint(api.bp)
    return app


Handler = Callable[[int, FrameType | None], None] | signal.Handlers


def _on_signals(handler: Handler) -> None:
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _stop_during_startup(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _stop_serving(server: BaseWSGIServer) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        _on_signals(signal.SIG_DFL)  # a second signal kills the process outright
        # shutdown() waits for serve_forever to return, so it cannot run on this thread
        threading.Thread(target=server.shutdown, name="shop-shutdown", daemon=True).start()

    _on_signals(handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)

    _on_signals(_stop_during_startup)
    telemetry = Telemetry()
    telemetry.install()
    store = Store()
    ready = threading.Event()
    try:
        store.seed()
        app = create_app(store, ready)
        with make_server("127.0.0.1", args.port, app, threaded=True) as server:
            _stop_serving(server)
            ready.set()
            logger.info("shop ready", extra={"port": server.server_port})
            server.serve_forever(poll_interval=0.05)
        logger.info("shop stopped, flushing telemetry")
    except Stopped as exc:
        logger.info("stopped by %s during start-up", exc)
    finally:
        telemetry.shutdown()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
