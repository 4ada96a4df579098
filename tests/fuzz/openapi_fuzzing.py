"""Schemathesis against the services' OpenAPI documents (issue 17, item 2): one CLI run per target.

A target is one document, the base URL it is sent to (the service itself, or the gateway's public
/api/<service>/... routes) and who calls (no token, the ops client's, a user's, the portal session's
cookie). Every run writes schemathesis' JSON run report and a HAR file of every exchange; `Figures` reads
them: operations tested, test cases generated, responses by class, 5xx, and the failures by check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
HOOKS = Path(__file__).with_name("fuzz_auth_hooks.py")
CONFIG = Path(__file__).with_name("schemathesis.toml")

# The checks every response passes: no 5xx; only documented statuses, content types and bodies; a request
# the document calls valid is not refused with 400/413/415/422 (401/403/404/409/429 are allowed answers).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
)
# The failure codes of a body or header that breaks its documented schema (ST108), or of a body that is not
# what its content type says (ST109/ST110).
SCHEMA_CODES = frozenset({"ST108", "ST109", "ST110"})
SERVER_ERROR_CODES = frozenset({"ST101", "ST102"})


@dataclass(frozen=True)
class Target:
    name: str  # e.g. "iam/ops (direct)"
    service: str
    document: str  # the URL of the openapi.json
    base_url: str  # where the requests go (the document's paths are absolute: /api/<service>/v1/...)
    auth: str | None = None  # "ops", "user", "cookie" (fuzz_auth_hooks) or None (anonymous)
    include_path_regex: str | None = None
    exclude_path_regex: str | None = None
    stateful: bool = True


@dataclass
class Figures:
    target: Target
    operations: int = 0
    cases: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exit_code: int = 0
    output: str = ""

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def failure_count(self, codes: frozenset[str] | None = None) -> int:
        return sum(
            int(str(failure.get("count", 1)))
            for failure in self.failures
            if codes is None or failure.get("code") in codes
        )

    @property
    def schema_violations(self) -> int:
        return self.failure_count(SCHEMA_CODES)

    @property
    def other_failures(self) -> int:
        """Undocumented statuses, valid requests refused, content types: every failure but 5xx and bodies."""
        return self.failure_count() - self.schema_violations - self.failure_count(SERVER_ERROR_CODES)

    def row(self) -> str:
        fewest = min(self.per_operation.values(), default=0)
        other = self.other_failures
        return (
            f"{self.target.name:<28} {self.operations:>4} {self.cases:>7} {self.requests:>7} {fewest:>6} "
            f"{self.server_errors:>4} {self.schema_violations:>6} {other:>6} {len(self.errors):>4}"
        )

    def describe_failures(self) -> str:
        lines = [f"{self.target.name}: exit {self.exit_code}"]
        for failure in self.failures:
            code, title, count = failure.get("code"), failure.get("title"), failure.get("count")
            lines.append(f"  {code} {title} x{count}: {failure.get('operations')}")
        lines.extend(f"  error: {error}" for error in self.errors)
        return "\n".join(lines)


HEADER = (
    f"{'target':<28} {'ops':>4} {'cases':>7} {'reqs':>7} {'min/op':>6} {'5xx':>4} {'schema':>6} {'other':>6} "
    f"{'err':>4}"
)


def table(all_figures: list[Figures]) -> str:
    lines = [HEADER]
    lines.extend(figures.row() for figures in all_figures)
    total_ops = sum(f.operations for f in all_figures)
    total_cases = sum(f.cases for f in all_figures)
    total_requests = sum(f.requests for f in all_figures)
    lines.append(
        f"{'total':<28} {total_ops:>4} {total_cases:>7} {total_requests:>7} {'':>6} "
        f"{sum(f.server_errors for f in all_figures):>4} {sum(f.schema_violations for f in all_figures):>6} "
        f"{sum(f.other_failures for f in all_figures):>6} "
        f"{sum(len(f.errors) for f in all_figures):>4}"
    )
    return "\n".join(lines)


def run(
    target: Target,
    *,
    cases: int,
    report_dir: Path,
    env: dict[str, str],
    seed: int | None = None,
    timeout: float = 3600.0,
) -> Figures:
    """One schemathesis CLI run of `target` with at most `cases` generated cases per operation and phase."""
    report_dir.mkdir(parents=True, exist_ok=True)
    slug = target.name.replace("/", "-").replace(" ", "").replace("(", "-").replace(")", "")
    json_path = report_dir / f"{slug}.json"
    har_path = report_dir / f"{slug}.har.json"
    phases = "examples,coverage,fuzzing" + (",stateful" if target.stateful else "")
    argv = [
        SCHEMATHESIS,
        "--config-file",
        str(CONFIG),
        "run",
        target.document,
        "--url",
        target.base_url,
        "--max-examples",
        str(cases),
        "--phases",
        phases,
        "--checks",
        ",".join(CHECKS),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--report",
        "json,har",
        "--report-json-path",
        str(json_path),
        "--report-har-path",
        str(har_path),
    ]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if target.auth is None:
        # Without credentials a valid request can only be refused (a generated token is malformed: 400,
        # RFC 6750), so positive_data_acceptance does not apply; the other checks do.
        argv += ["--exclude-checks", "positive_data_acceptance"]
    if target.include_path_regex:
        argv += ["--include-path-regex", target.include_path_regex]
    if target.exclude_path_regex:
        argv += ["--exclude-path-regex", target.exclude_path_regex]
    process_env = {**os.environ, **env, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": str(HOOKS)}
    if target.auth:
        process_env["POLIS_FUZZ_AUTH"] = target.auth
    else:
        process_env.pop("POLIS_FUZZ_AUTH", None)
    completed = subprocess.run(
        argv, cwd=report_dir, env=process_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    figures = Figures(target, exit_code=completed.returncode, output=completed.stdout + completed.stderr)
    (report_dir / f"{slug}.txt").write_text(figures.output)
    if not json_path.exists():
        figures.errors.append(f"no report (exit {completed.returncode}): {figures.output[-3000:]}")
        return figures
    try:
        report = json.loads(json_path.read_text())
    except ValueError:  # the run was stopped before it wrote its report
        figures.errors.append(f"unreadable report (exit {completed.returncode}): {figures.output[-3000:]}")
        return figures
    figures.operations = int(report["operations"]["tested"])
    figures.cases = int(report["test_cases"]["generated"])
    figures.failures = list(report.get("failures") or [])
    figures.errors.extend(str(error) for error in report.get("errors") or [])
    if har_path.exists():
        routes = document_routes(target.document)
        entries = json.loads(har_path.read_text())["log"]["entries"]
        figures.requests = len(entries)
        for entry in entries:
            figures.statuses[int(entry["response"]["status"])] += 1
            label = operation_of(routes, entry["request"]["method"], entry["request"]["url"])
            if label is not None:
                figures.per_operation[label] += 1
    return figures


Routes = list[tuple[re.Pattern[str], str, frozenset[str]]]


def document_routes(document: str) -> Routes:
    """The document's paths as patterns, each with its methods: to count the requests per operation."""
    with urllib.request.urlopen(document, timeout=30) as answer:  # noqa: S310 - the local stack
        paths = json.load(answer)["paths"]
    routes: Routes = []
    for template, operations in paths.items():
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        routes.append((re.compile(pattern + "$"), template, frozenset(m.upper() for m in operations)))
    # A literal segment wins over a parameter (/registrations/current before /registrations/{id}).
    routes.sort(key=lambda route: route[1].count("{"))
    return routes


def operation_of(routes: Routes, method: str, url: str) -> str | None:
    """The documented operation a request was for ("GET /api/iam/v1/me"), None for an undocumented method."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    for pattern, template, methods in routes:
        if method.upper() in methods and pattern.match(path):
            return f"{method.upper()} {template}"
    return None
