"""Event contracts: JSON Schemas (2020-12) for the envelope and for each event type's data, per version."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polis.events.envelope import Event

CONTRACTS_DIR = Path(__file__).with_name("contracts")
ENVELOPE = "envelope.json"


class ContractViolation(ValueError):
    """An event does not follow its contract; `path` points at the offending field (dotted)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


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
        self._validators = {
            name: Draft202012Validator(schema, registry=registry) for name, schema in schemas.items()
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
