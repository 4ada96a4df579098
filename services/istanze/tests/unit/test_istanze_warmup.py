"""A freshly started web worker is warmed before its first request (issue 15, P6): the receipt's render
(D-IST-3) and the contracts a submission uses cost nothing extra in its first submission."""

import runpy
import sys
from pathlib import Path

import pytest
from istanze import warmup
from istanze.receipts.render import render

SERVICE_DIR = Path(warmup.__file__).resolve().parents[1]


def test_d_ist_3_after_the_warm_up_a_receipt_render_imports_nothing_more() -> None:
    steps = warmup.warm()
    assert set(steps) == {"receipt render", "event contract", "rpc contract"}
    before = set(sys.modules)
    assert render(warmup.sample_receipt()).startswith(b"%PDF-")
    assert set(sys.modules) - before == set()


def test_a_failing_warm_up_step_is_left_out_and_the_worker_starts_anyway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> bytes:
        raise OSError("fonts unreadable")

    monkeypatch.setattr(warmup, "_render", broken)
    steps = warmup.warm()
    # No receipt, so no event carrying it to validate; the RPC contract is still loaded.
    assert set(steps) == {"rpc contract"}


def test_gunicorn_runs_the_warm_up_in_each_new_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SERVICE_DIR)
    settings = runpy.run_path(str(SERVICE_DIR / "gunicorn.conf.py"))
    assert settings["post_worker_init"] is warmup.post_worker_init
    assert settings["workers"] >= 1
