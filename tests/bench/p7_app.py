"""P7's gunicorn app: each GET /check asks enablement over polis.rpc whether a personal code is right."""

from __future__ import annotations

import os
import random
from pathlib import Path

from flask import Flask
from polis.rpc import RpcClient

ACCOUNTS = Path(os.environ["P7_ACCOUNTS"]).read_text().split()
CODE = "Codice2026bench"
app = Flask(__name__)
client = RpcClient(os.environ["POLIS_BROKER_URL"], timeout=10)  # connects per thread on first call


@app.get("/check")
def check() -> tuple[str, int]:
    reply = client.call(
        "enablement.check_personal_code", {"account_id": random.choice(ACCOUNTS), "personal_code": CODE}
    )
    return ("ok", 200) if reply["valid"] else (reply["status"], 500)
