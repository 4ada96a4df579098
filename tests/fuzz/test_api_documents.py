"""Regression tests of the API documents' findings of the schemathesis runs (issue 17, item 2).

Each service's app is built in-process (test settings, a SQLite file; no request reaches a database) and its
/openapi.json read. The findings: statuses the platform answers that no operation listed (400/401/403 of a
bearer guard, 400/413/415 of a JSON body, 404 of a path parameter, 415 of the gateway for an unsafe call
not declared JSON), constraints the views enforce that the documents did not state (the codice fiscale's
form, names, the security officer's query, a revocation round's deadline), request bodies left out
(istanze's sections and contact details) and naive wall-clock times documented as RFC 3339 `date-time`.
Where a document states a pattern, every string of that pattern is accepted by the view's own rule.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("POLIS_ENV", "test")

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SERVICES = ("iam", "enablement", "istanze", "notifier")
UNSAFE = ("post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base: Path = tmp_path_factory.mktemp("documents")
    found: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        app = importlib.import_module(service).create_app(
            {
                "DATABASE_URL": f"sqlite:///{base / service}.db",
                "BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
            }
        )
        answer = app.test_client().get("/openapi.json")
        assert answer.status_code == 200
        found[service] = answer.get_json()
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, entry)
        for path, entries in document["paths"].items()
        for method, entry in entries.items()
    ]


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]  # type: ignore[no-any-return]


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_documents_the_statuses_the_platform_answers(
    documents: dict[str, dict[str, Any]], service: str
) -> None:
    for path, method, entry in operations(documents[service]):
        statuses = set(entry["responses"])
        where = f"{service} {method.upper()} {path}"
        if entry.get("security"):
            assert {"400", "401", "403"} <= statuses, where
        if "requestBody" in entry:
            assert {"400", "413", "415"} <= statuses, where
            assert entry["requestBody"]["content"]["application/json"]["schema"], where
        if "{" in path:
            assert "404" in statuses, where
        if method in UNSAFE:
            assert "415" in statuses, where
        if "{" in path or any(p["in"] == "query" for p in entry.get("parameters", [])):
            assert "414" in statuses, where  # issue 17: a long query string met gunicorn's limit
        for status, response in entry["responses"].items():
            # Every error in the one JSON error shape, but gunicorn's own 414 (request line over 4094 bytes).
            if int(status) >= 400 and status != "414":
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_iam_ops_operations_name_the_bearer_token(documents: dict[str, dict[str, Any]]) -> None:
    ops = [(path, entry) for path, _, entry in operations(documents["iam"]) if "/ops/" in path]
    assert ops
    for path, entry in ops:
        assert entry.get("security") == [{"bearer": ["iam"]}], path
        assert {"401", "403"} <= set(entry["responses"]), path


def test_uuid_path_parameters_are_documented_as_uuids(documents: dict[str, dict[str, Any]]) -> None:
    entry = documents["iam"]["paths"]["/api/iam/v1/ops/revocation-rounds/{round_id}"]["get"]
    assert entry["parameters"][0]["schema"] == {"type": "string", "format": "uuid"}


def test_query_strings_are_documented(documents: dict[str, dict[str, Any]]) -> None:
    """The security officer's search refused a request without `q` the document did not ask for."""
    search = documents["iam"]["paths"]["/api/iam/v1/security-officer/mi-accounts"]["get"]
    q = next(p for p in search["parameters"] if p["in"] == "query" and p["name"] == "q")
    assert q["required"] is True and q["schema"]["minLength"] == 3
    for service, path in (
        ("iam", "/api/iam/v1/ops/audit"),
        ("notifier", "/api/notifier/v1/deliveries"),
        ("enablement", "/api/enablement/v1/operator/requests"),
    ):
        entry = documents[service]["paths"][path]["get"]
        assert any(p["in"] == "query" for p in entry["parameters"]), path


def test_iam_states_the_codice_fiscale_form_and_the_names(documents: dict[str, dict[str, Any]]) -> None:
    from iam.accounts import names
    from iam.registration import codice_fiscale as cf

    document = documents["iam"]
    for name in ("Start", "UsernameReminder", "TemporaryPasswordRequest"):
        assert schema(document, name)["properties"]["codice_fiscale"]["pattern"] == cf.SYNTAX.pattern, name
    personal = schema(document, "RegistrationPersonalData")["properties"]
    for field in ("first_name", "last_name"):
        assert personal[field]["pattern"] == names.PATTERN and personal[field]["maxLength"] == 100


def test_istanze_documents_its_bodies_and_wall_clock_times(documents: dict[str, dict[str, Any]]) -> None:
    document = documents["istanze"]
    section = document["paths"]["/api/istanze/v1/applications/{code}/sections/{section}"]["put"]
    assert section["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    contacts = document["paths"]["/api/istanze/v1/contacts"]["put"]["requestBody"]["content"][
        "application/json"
    ]
    assert contacts["schema"]["properties"]["postal_code"]["maxLength"] == 16
    assert contacts["schema"]["additionalProperties"] is False
    for name in ("ProcedureCreate", "ProcedureRead"):
        opens = schema(document, name)["properties"]["opens_local"]
        assert opens["format"] != "date-time" and "pattern" in opens, name


def test_a_revocation_round_states_its_deadline_form(documents: dict[str, dict[str, Any]]) -> None:
    deadline = schema(documents["iam"], "RoundCreate")["properties"]["deadline"]
    assert "pattern" in deadline


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_name_of_the_documented_form_is_accepted(data: st.DataObject) -> None:
    from iam.accounts import names

    value = data.draw(
        st.from_regex(names.PATTERN, fullmatch=True).filter(lambda s: len(s) <= names.MAX_LENGTH)
    )
    assert names.is_valid(value), value


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_codice_fiscale_of_the_documented_form_passes_the_form_checks(data: st.DataObject) -> None:
    """Only the check character (and the date and place codes) is left to the 400 the documents describe."""
    from iam.recovery.schemas import CF_FORM
    from iam.registration import codice_fiscale as cf

    value = data.draw(st.from_regex(cf.SYNTAX.pattern, fullmatch=True))
    assert CF_FORM(value) == value
    assert cf.problem(value) in (None, "cf_checksum", "cf_invalid"), value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_deadline_of_the_documented_form_is_read_or_refused_as_a_date(data: st.DataObject) -> None:
    from iam.revocation import service
    from polis.errors import ValidationFailed

    from_schema = schema_of_round_deadline()
    value = data.draw(st.from_regex(from_schema, fullmatch=True))
    try:
        service.parse_local_deadline(value)
    except ValidationFailed as refused:  # a calendar check, never the form
        assert refused.fields == {"deadline": ["invalid_datetime"]}, (value, refused.fields)


def schema_of_round_deadline() -> str:
    from iam.revocation.schemas import RoundCreateSchema

    return str(RoundCreateSchema().fields["deadline"].metadata["pattern"])


def test_state_changing_operations_link_what_they_create(documents: dict[str, dict[str, Any]]) -> None:
    """Stateful fuzzing follows these links: a created round is read, previewed, audited and cancelled; a
    defined procedure is published and counted. Every link points at an operation of the same document."""
    for service, path, wanted in (
        ("iam", "/api/iam/v1/ops/revocation-rounds", {"read", "preview", "audit", "cancel"}),
        ("istanze", "/api/istanze/v1/ops/procedures", {"publish", "counts"}),
    ):
        document = documents[service]
        links = document["paths"][path]["post"]["responses"]["201"]["links"]
        assert set(links) == wanted, (service, links)
        for link in links.values():
            pointer = link["operationRef"].removeprefix("#/paths/")
            target, _, method = pointer.rpartition("/")
            assert method in document["paths"][target.replace("~1", "/").replace("~0", "~")], pointer


@pytest.mark.parametrize(
    ("value", "accepted"), [(7, 7), (63107.0, 63107), ("7", None), (7.5, None), (True, None)]
)
def test_a_strict_integer_reads_what_json_schema_calls_an_integer(
    value: object, accepted: int | None
) -> None:
    """Issue 17: `{"grace_seconds": 63107.0}` is a JSON Schema integer, and IAM refused it (strict=True)."""
    from iam.clients.views import RotateSecretSchema
    from marshmallow import ValidationError

    if accepted is None:
        with pytest.raises(ValidationError):
            RotateSecretSchema().load({"grace_seconds": value})
    else:
        assert RotateSecretSchema().load({"grace_seconds": value}) == {"grace_seconds": accepted}


def test_istanze_documents_what_its_user_api_answers(documents: dict[str, dict[str, Any]]) -> None:
    """The answers were undocumented ("OK" without content): nothing to hold them to."""
    paths = documents["istanze"]["paths"]
    for method, path, key in (
        ("get", "/api/istanze/v1/procedures/open", "procedures"),
        ("get", "/api/istanze/v1/applications", "applications"),
        ("get", "/api/istanze/v1/archive", "receipts"),
        ("get", "/api/istanze/v1/contacts", "contacts"),
        ("put", "/api/istanze/v1/contacts", "contacts"),
        ("get", "/api/istanze/v1/contacts/history", "changes"),
        ("put", "/api/istanze/v1/profile", "staff_category"),
    ):
        body = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert key in body["required"], (method, path)


def test_a_version_beyond_a_database_integer_is_no_version(
    documents: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Issue 17 (fuzzing): publishing version 16863061495588153344 answered 500 (SQLite's integer overflowed).
    The route takes versions up to 2**31 - 1 and the document says so; a larger one matches no route."""
    path = "/api/istanze/v1/ops/procedures/{code}/versions/{version}/publish"
    version = next(
        p for p in documents["istanze"]["paths"][path]["post"]["parameters"] if p["name"] == "version"
    )
    assert version["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

    app = importlib.import_module("istanze").create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'istanze'}.db",
            "BROKER_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
        }
    )
    answer = app.test_client().post("/api/istanze/v1/ops/procedures/d3/versions/16863061495588153344/publish")
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"
