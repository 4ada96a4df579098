"""Real processes for the RPC fault tests: a web app asking over polis.rpc (gunicorn) and a responder.

The responder answers `iam.check_password` (the password is right when it is `right-<account_id>`) and
writes a file named after each account it is asked about into a marker directory, holding the pid of the
process that took it. A password `hang` makes the first responder that takes it wait forever (a call in
progress to kill); one that finds the marker already there answers at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from polis.events.broker import ping
from polis.rpc import RpcClient, RpcResponder
from polis.web import register_platform

METHOD = "iam.check_password"


def create_app() -> Flask:
    url = os.environ["RPC_BROKER_URL"]
    heartbeat = int(os.environ["RPC_HEARTBEAT"]) if os.environ.get("RPC_HEARTBEAT") else None
    ping_url = f"{url}?heartbeat={heartbeat}" if heartbeat else url
    app = Flask(__name__)
    register_platform(app, service="rpcweb", version="0", readiness={"broker": lambda: ping(ping_url)})
    client = RpcClient(url, timeout=float(os.environ.get("RPC_TIMEOUT", "5")), heartbeat=heartbeat)

    @app.post("/check")
    def check() -> Any:
        typed = request.get_json()
        answer = client.call(METHOD, {"account_id": typed["account_id"], "password": typed["password"]})
        return jsonify(account_id=typed["account_id"], matches=answer["matches"])

    return app


def respond(broker_url: str, markers: str) -> None:
    seen = Path(markers)

    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        marker = seen / payload["account_id"]
        first = not marker.exists()
        marker.write_text(str(os.getpid()))
        if payload["password"] == "hang" and first:
            time.sleep(3600)
        return {"matches": payload["password"] == f"right-{payload['account_id']}"}

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    RpcResponder(broker_url, service="iam", handlers={METHOD: handle}, concurrency=2).run(stop)


if __name__ == "__main__":
    respond(sys.argv[1], sys.argv[2])
