"""Processes for the RPC fault tests: a responder that can be killed mid-call, and a gunicorn caller app."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from flask import Flask, request

METHOD = "iam.check_password"


def answer(payload: dict[str, Any]) -> dict[str, Any]:
    marker = os.environ.get("RPC_TEST_MARKER")
    if marker and payload["password"] == "slow":  # the kill -9 test's call: still here when the process dies
        with open(marker, "w") as out:
            out.write(str(os.getpid()))
        time.sleep(60)
    return {"matches": payload["password"] == f"right-{payload['account_id']}"}


def serve() -> None:
    from polis.rpc import RpcResponder

    stop = threading.Event()
    RpcResponder(sys.argv[2], service="iam", handlers={METHOD: answer}, concurrency=4).run(stop)


def create_app() -> Flask:
    from polis.rpc import RpcClient

    app = Flask(__name__)
    client = RpcClient(os.environ["POLIS_BROKER_URL"], timeout=20)

    @app.get("/ask")
    def ask() -> dict[str, Any]:
        account, password = request.args["account"], request.args["password"]
        return client.call(METHOD, {"account_id": account, "password": password})

    return app


if __name__ == "__main__" and sys.argv[1] == "serve":
    os.environ.setdefault("POLIS_ENV", "test")
    serve()
