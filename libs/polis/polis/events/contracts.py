"""Event contracts: JSON Schemas (2020-12) for the envelope and for each event type's data, per version."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polis.events.envelope import Event

CONTRACTS_DIR = Path(__file__).with_name("contracts")
ENVELOPE = "envelope.json"
# Decoded size limit of one attachment (envelope.json `$defs/attachment` caps `content_base64` at the
# base64 length of this many bytes): the producer's outbox refuses a bigger one, the notifier checks it too.
ATTACHMENT_MAX_BYTES = 2 * 1024 * 1024
# How deep $refs are inlined before the validator is left to resolve the rest (a recursive definition).
_INLINE_DEPTH = 8


class ContractViolation(ValueError):
    """An event does not follow its contract; `path` points at the offending field (dotted)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


# The formats the contracts use, checked (jsonschema ignores "format" without a checker): cheap checks of
# our own, so a producer writing "changed_at": "yesterday" is refused at publish time.
FORMATS = FormatChecker(formats=())
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    return "T" in value and parsed.tzinfo is not None  # an instant, not a local or date-only value


@FORMATS.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or _EMAIL.match(value) is not None


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


class Contracts:
    """The schemas of one contracts folder, compiled once."""

    def __init__(self, directory: Path) -> None:
        schemas: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.json")):
            schemas[path.name] = json.loads(path.read_text())
        if ENVELOPE not in schemas:
            raise RuntimeError(f"{directory} has no {ENVELOPE}")
        # Each schema is reachable by its file name, so a data schema can $ref "envelope.json#/$defs/sealed".
        registry: Registry[Any] = Registry().with_resources(
            (name, Resource.from_contents(schema, default_specification=DRAFT202012))
            for name, schema in schemas.items()
        )
        for schema in schemas.values():
            Draft202012Validator.check_schema(schema)
        # References to another file's $defs are inlined once, here: resolving them through the registry
        # at every validation costs more than the checks themselves (two to three times, measured).
        self._validators = {
            name: Draft202012Validator(
                _inline_refs(schema, schemas), registry=registry, format_checker=FORMATS
            )
            for name, schema in schemas.items()
        }

    def known_types(self) -> list[tuple[str, int]]:
        found = []
        for name in self._validators:
            if name == ENVELOPE:
                continue
            stem = name.removesuffix(".json")
            event_type, _, version = stem.rpartition(".v")
            if event_type and version.isdigit():
                found.append((event_type, int(version)))
        return sorted(found)

    def validate(self, event: Event) -> None:
        _raise_first(self._validators[ENVELOPE].iter_errors(event.to_dict()), prefix=())
        validator = self._validators.get(f"{event.type}.v{event.version}.json")
        if validator is None:
            raise ContractViolation(f"unknown event type {event.type!r} version {event.version}", "type")
        _raise_first(validator.iter_errors(event.data), prefix=("data",))


def _inline_refs(node: Any, schemas: dict[str, dict[str, Any]], depth: int = 0) -> Any:
    """`node` with every `{"$ref": "<file>.json#/$defs/<name>"}` replaced by that definition.

    The result validates exactly as the original: a $ref with sibling keywords becomes an `allOf` of the
    definition next to them. Other references (same-file, deeper pointers) stay for the registry.
    """
    if isinstance(node, list):
        return [_inline_refs(item, schemas, depth) for item in node]
    if not isinstance(node, dict):
        return node
    target = _definition(node.get("$ref"), schemas) if depth < _INLINE_DEPTH else None
    if target is None:
        return {key: _inline_refs(value, schemas, depth) for key, value in node.items()}
    inlined = _inline_refs(target, schemas, depth + 1)
    siblings = {key: _inline_refs(value, schemas, depth) for key, value in node.items() if key != "$ref"}
    return {"allOf": [inlined], **siblings} if siblings else inlined


def _definition(ref: Any, schemas: dict[str, dict[str, Any]]) -> Any:
    if not isinstance(ref, str):
        return None
    file_name, _, pointer = ref.partition("#/$defs/")
    if not file_name or not pointer or "/" in pointer or file_name not in schemas:
        return None
    return schemas[file_name].get("$defs", {}).get(pointer)


def _raise_first(errors: Iterable[ValidationError], prefix: tuple[str, ...]) -> None:
    ordered = sorted(errors, key=lambda error: list(map(str, error.absolute_path)))
    if ordered:
        error = ordered[0]
        path = ".".join((*prefix, *map(str, error.absolute_path)))
        # jsonschema quotes the offending value: cut it, an attachment or a sealed secret may be inside.
        message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        raise ContractViolation(message, path)


@functools.cache
def _contracts() -> Contracts:
    # Loaded on first use, not at import: importing the package stays cheap and free of I/O.
    return Contracts(CONTRACTS_DIR)


def validate(event: Event) -> None:
    """Raise ContractViolation unless the envelope and data follow the contract of (type, version)."""
    _contracts().validate(event)


def known_types() -> list[tuple[str, int]]:
    """Every (type, version) that has a contract."""
    return _contracts().known_types()
