"""JSON log lines: the fast access line is the same line the logger would write; every line reaches stdout."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from polis.logging import iso_time, log_request


@pytest.mark.parametrize(
    "timestamp", [0.0, 1_795_000_000.0, 1_795_000_000.9999, 1_795_000_001.0505, 1e9 + 0.001]
)
def test_iso_time_writes_what_isoformat_writes(timestamp: float) -> None:
    expected = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")

    assert iso_time(timestamp) == expected


def test_the_access_line_is_the_line_the_logger_would_write() -> None:
    program = (
        "import logging\n"
        "from polis import requestid\n"
        "from polis.logging import configure_logging, log_request\n"
        "configure_logging('demo')\n"
        "access = logging.getLogger('polis.access')\n"
        "with requestid.bind('req-1'):\n"
        "    access.info('request', extra={'method': 'GET', 'path': '/città \"x\"', 'status': 200,"
        " 'duration_ms': 1.5})\n"
        "    log_request(access, method='GET', path='/città \"x\"', status=200, duration_ms=1.5)\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    by_logger, direct = (json.loads(line) for line in out.splitlines())

    by_logger.pop("time"), direct.pop("time")
    assert list(direct.items()) == list(by_logger.items())  # same fields, same order
    assert direct["request_id"] == "req-1" and direct["path"] == '/città "x"'


def test_the_access_line_goes_through_the_logger_when_something_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="polis.access"):
        log_request(logging.getLogger("polis.access"), method="POST", path="/x", status=201, duration_ms=2.0)

    (record,) = [r for r in caplog.records if r.name == "polis.access"]
    assert record.getMessage() == "request" and record.status == 201  # type: ignore[attr-defined]


def test_issue_17_an_emailed_links_token_in_the_path_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "IkMxeXAtNktDUmVyZnduVDV2QlI5ZTNhUjVnRS00Sm5mIg.axCf1Q.Asi7L6siQDSq7AYhFacA56aj030"
    static = "/static/vendor/bootstrap-italia/dist/css/bootstrap-italia.min.css"
    with caplog.at_level(logging.INFO, logger="polis.access"):
        for path in (f"/iam/accedi/sblocca/{token}", static):
            log_request(
                logging.getLogger("polis.access"), method="GET", path=path, status=200, duration_ms=1.0
            )

    paths = [r.path for r in caplog.records if r.name == "polis.access"]  # type: ignore[attr-defined]
    assert paths == ["/iam/accedi/sblocca/[token]", static]


def test_thousands_of_lines_from_threads_all_reach_stdout_before_exit() -> None:
    program = (
        "import logging, threading\n"
        "from polis.logging import configure_logging, log_request\n"
        "configure_logging('demo')\n"
        "access = logging.getLogger('polis.access')\n"
        "def work(n):\n"
        "    for i in range(1000):\n"
        "        log_request(access, method='GET', path=f'/{n}/{i}', status=200, duration_ms=0.1)\n"
        "        if i % 100 == 0: logging.getLogger('t').info('mark %d %d', n, i)\n"
        "threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]

    assert len([line for line in lines if line["message"] == "request"]) == 4000
    assert len([line for line in lines if line["message"].startswith("mark")]) == 40


def test_a_multiprocessing_child_writes_its_last_lines_before_it_ends(tmp_path: Path) -> None:
    # Granian's workers are multiprocessing children: they end with os._exit, which skips atexit.
    program = (
        "import logging, multiprocessing\n"
        "from polis.logging import configure_logging, log_request\n"
        "def child():\n"
        "    configure_logging('demo')\n"
        "    access = logging.getLogger('polis.access')\n"
        "    for i in range(300):\n"
        "        log_request(access, method='GET', path=f'/{i}', status=200, duration_ms=0.1)\n"
        "    logging.getLogger('t').warning('last words')\n"
        "if __name__ == '__main__':\n"
        "    for method in ('fork', 'spawn'):\n"
        "        process = multiprocessing.get_context(method).Process(target=child)\n"
        "        process.start(); process.join()\n"
        "        assert process.exitcode == 0, method\n"
    )
    script = tmp_path / "children.py"  # a file: a spawned child imports its target from it
    script.write_text(program)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert len([line for line in lines if line["message"] == "request"]) == 600
    assert [line["message"] for line in lines if line["logger"] == "t"] == ["last words", "last words"]
