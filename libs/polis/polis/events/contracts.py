"""Event contracts: JSON Schemas (2020-12) for the envelope and for each event type's data, per version."""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import fastjsonschema
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


def _never_raises(check: Any) -> Any:
    def accepts(value: object) -> bool:
        try:
            return bool(check(value))
        except ValueError:
            return False

    return accepts


# The same format checks for the compiled fast path (which expects a bool, not an exception).
_FAST_FORMATS = {
    "date-time": _never_raises(_is_datetime),
    "email": _never_raises(_is_email),
    "uuid": _never_raises(_is_uuid),
}
_Fast = Any  # a compiled fastjsonschema function: returns on a valid instance, raises otherwise


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_ref(item) for item in node)
    return False


def _compile_fast(schema: dict[str, Any]) -> _Fast | None:
    """The schema compiled to Python by fastjsonschema: an acceptance fast path only.

    It is never looser than jsonschema on the keywords our contracts use (it is stricter on a few: `$`
    at the very end in patterns, integers written as 1.0, contentEncoding), so an instance it accepts is
    valid; one it refuses is judged again by jsonschema, which gives the verdict and the message. A schema
    with a reference left after inlining (a recursive one) has no fast path.
    """
    if _has_ref(schema):
        return None
    bare = {key: value for key, value in schema.items() if key not in ("$schema", "$id")}
    return fastjsonschema.compile(bare, formats=_FAST_FORMATS, use_default=False)


def _passes(fast: _Fast | None, instance: Any) -> bool:
    if fast is None:
        return False
    try:
        fast(instance)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


class _LazyFast(dict[str, "_Fast | None"]):
    """The compiled fast paths by file name, each made on its first lookup."""

    def __init__(self, compile_one: Any) -> None:
        super().__init__()
        self._compile_one = compile_one

    def __missing__(self, name: str) -> _Fast | None:
        return self._compile_one(name)


class Contracts:
    """The schemas of one contracts folder, each compiled once, on first use."""

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
        self._schemas = schemas
        # References to another file's $defs are inlined once, here: resolving them through the registry
        # at every validation costs more than the checks themselves (two to three times, measured).
        inlined = {name: _inline_refs(schema, schemas) for name, schema in schemas.items()}
        self._validators = {
            name: Draft202012Validator(schema, registry=registry, format_checker=FORMATS)
            for name, schema in inlined.items()
        }
        # jsonschema walks the schema on every call; the compiled functions are about 20x faster and an
        # outbox batch of a revocation round validates thousands of events (issue 16, P5). Each contract is
        # checked against the metaschema and compiled on its first use: a process uses a few of the
        # contracts, and doing all of them took 130-300 ms of CPU in each process (issue 15, P6).
        self._fast = _LazyFast(self._compile)
        self._lock = threading.Lock()

    def _compile(self, name: str) -> _Fast | None:
        with self._lock:  # one thread compiles; the others wait for its result
            if name not in self._fast:
                Draft202012Validator.check_schema(self._schemas[name])
                dict.__setitem__(self._fast, name, _compile_fast(self._validators[name].schema))
            return dict.__getitem__(self._fast, name)

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
        self.validate_dict(event.to_dict())

    def validate_dict(self, envelope: dict[str, Any]) -> None:
        """`validate` of an event already turned into its envelope dict (`Event.to_dict()`)."""
        self._check(ENVELOPE, envelope, prefix=())
        name = f"{envelope['type']}.v{envelope['version']}.json"
        if name not in self._validators:
            raise ContractViolation(
                f"unknown event type {envelope['type']!r} version {envelope['version']}", "type"
            )
        self._check(name, envelope["data"], prefix=("data",))

    def _check(self, name: str, instance: Any, prefix: tuple[str, ...]) -> None:
        if not _passes(self._fast[name], instance):
            _raise_first(self._validators[name].iter_errors(instance), prefix=prefix)


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


def validate_dict(envelope: dict[str, Any]) -> None:
    """`validate` of `event.to_dict()`, for a caller that needs the dict anyway (the outbox's batches)."""
    _contracts().validate_dict(envelope)


def known_types() -> list[tuple[str, int]]:
    """Every (type, version) that has a contract."""
    return _contracts().known_types()
