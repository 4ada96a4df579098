"""The RPC contracts: one JSON Schema for each method's request and one for its reply, compiled once."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from polis.events.contracts import FORMATS, ContractViolation, _compile_fast, _passes

CONTRACTS_DIR = Path(__file__).parent / "contracts"
SECRET_MARK = "x-polis-secret"  # noqa: S105 - the keyword marking a secret field
VERSION = 1


class Contract:
    """A method's request and reply schemas, and the request fields sealed on the wire."""

    def __init__(self, method: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        for schema in (request, reply):
            Draft202012Validator.check_schema(schema)
        self.method = method
        self._request = Draft202012Validator(request, format_checker=FORMATS)
        self._reply = Draft202012Validator(reply, format_checker=FORMATS)
        # Every call validates both on each side: the compiled fast path (polis.events) accepts a valid
        # document about 10x sooner; one it refuses is judged again by jsonschema, which gives the message.
        self._fast_request = _compile_fast(request)
        self._fast_reply = _compile_fast(reply)
        self.secret_fields = tuple(
            name for name, spec in request.get("properties", {}).items() if spec.get(SECRET_MARK)
        )

    def validate_request(self, payload: Any) -> None:
        if not _passes(self._fast_request, payload):
            _raise_first(self._request, payload)

    def validate_reply(self, payload: Any) -> None:
        if not _passes(self._fast_reply, payload):
            _raise_first(self._reply, payload)


def _raise_first(validator: Draft202012Validator, payload: Any) -> None:
    errors = sorted(validator.iter_errors(payload), key=lambda error: list(map(str, error.absolute_path)))
    if errors:
        error = errors[0]
        path = ".".join(map(str, error.absolute_path))
        # jsonschema's own message quotes the value, and a personal code may be in it: name the check only.
        raise ContractViolation(f"{path or 'the message'} fails its '{error.validator}' check", path)


@functools.cache
def contract(method: str) -> Contract:
    """The contract of `method` (e.g. "iam.check_password"), or KeyError when it has none."""
    request = CONTRACTS_DIR / f"{method}.request.v{VERSION}.json"
    reply = CONTRACTS_DIR / f"{method}.reply.v{VERSION}.json"
    if not request.is_file() or not reply.is_file():
        raise KeyError(method)
    return Contract(method, json.loads(request.read_text()), json.loads(reply.read_text()))


def known_methods() -> list[str]:
    """Every method with both contracts."""
    suffix = f".request.v{VERSION}.json"
    return sorted(
        path.name.removesuffix(suffix)
        for path in CONTRACTS_DIR.glob(f"*{suffix}")
        if (CONTRACTS_DIR / path.name.replace(".request.", ".reply.")).is_file()
    )
