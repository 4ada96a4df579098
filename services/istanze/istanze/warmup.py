"""Warming a freshly started web worker (gunicorn's post_worker_init, gunicorn.conf.py) before it takes
requests: the one-off costs of a worker's first submission paid at start instead of by the first users.

A worker started for a deadline (a deploy, a restart, more workers) otherwise pays inside its first
submissions: fontTools' table modules imported and the fonts' code paths first run by the first receipt's
render (about twice a warm render's CPU), the event contracts loaded and istanze.istanza_submitted's
compiled on its first validation, the personal-code RPC's contract compiled on its first call (issue 15,
P6). Nothing here touches the database or the broker; a failure is logged and the worker starts anyway."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

log = logging.getLogger("istanze.warmup")

SAMPLE_FORM = {
    "sections": [
        {
            "id": "sezione",
            "title_it": "Sezione",
            "fields": [
                {"name": "testo", "type": "text", "label_it": "Testo"},
                {"name": "scuole", "type": "schools", "label_it": "Scuole"},
                {"name": "dichiarazione", "type": "declaration", "label_it": "Dichiarazione"},
            ],
        }
    ]
}


def sample_receipt() -> Any:
    """A receipt of every kind of line the real ones print (title, rows, contacts, a section, the note)."""
    from istanze.applications.schools import SCHOOLS
    from istanze.receipts.render import ReceiptData

    return ReceiptData(
        procedure_code="warm-up",
        procedure_title="Istanza di prova – avvio del servizio",  # noqa: RUF001
        procedure_version=1,
        form=SAMPLE_FORM,
        answers={
            "sezione": {"testo": "àèéìòù ÀÈÉ 0123456789", "scuole": list(SCHOOLS)[:2], "dichiarazione": True}
        },
        protocol_number="0000000",
        segnatura="m_pi.AOODGPER.REGISTRO UFFICIALE.U.0000000.01/01/2026",
        registered_at=datetime.now(UTC),
        account_id=str(uuid.UUID(int=0)),
        applicant="Nome Cognome",
        contacts=(("Cellulare", "+39 333 123 4567"), ("Indirizzo", "Via Roma 1, 00100 Roma (RM)")),
        schools=SCHOOLS,
    )


def warm() -> dict[str, float]:
    """Render a sample receipt, validate a sample istanze.istanza_submitted event carrying it, load the
    personal-code RPC's contract: the CPU milliseconds of each step (a step that failed is left out)."""
    steps: dict[str, float] = {}

    def step(name: str, work: Any) -> Any:
        started = time.process_time()
        try:
            result = work()
        except Exception:  # the worker serves anyway: it pays the cost on its first request instead
            log.warning("warm-up step failed", extra={"step": name}, exc_info=True)
            return None
        steps[name] = (time.process_time() - started) * 1000
        return result

    content = step("receipt render", _render)
    if content is not None:
        step("event contract", lambda: _validate_event(content))
    step("rpc contract", _rpc_contract)
    return steps


def _render() -> bytes:
    from istanze.receipts.service import render_receipt

    content, _ = render_receipt(sample_receipt())
    return content


def _validate_event(content: bytes) -> None:
    from polis.events import contracts

    from istanze.applications.completion import _submitted_event

    now = datetime.now(UTC)
    row = SimpleNamespace(
        account_id=uuid.UUID(int=0),
        application_id=uuid.UUID(int=0),
        procedure_code="warm-up",
        procedure_title="Istanza di prova",
        protocol_number=0,
        registered_at=now,
        filename="ricevuta-2026-0000000.pdf",
    )
    contracts.validate(_submitted_event(row, content))


def _rpc_contract() -> None:
    from polis.rpc.contracts import contract

    contract("enablement.check_personal_code").validate_request(
        {"account_id": str(uuid.UUID(int=0)), "personal_code": "warm-up"}
    )


def post_worker_init(worker: Any) -> None:
    """gunicorn's hook: warm the worker once its app is loaded, before its first request."""
    steps = warm()
    log.info(
        "worker warmed up",
        extra={"pid": getattr(worker, "pid", None), "cpu_ms": {k: round(v, 1) for k, v in steps.items()}},
    )
