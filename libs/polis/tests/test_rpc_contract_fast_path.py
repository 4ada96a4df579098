"""polis.rpc contracts: the compiled fast path accepts valid documents without walking jsonschema, and a
refused one is still judged by jsonschema with a message that names the check, never the value (P7)."""

from __future__ import annotations

import uuid

import pytest
from jsonschema import Draft202012Validator
from polis import hashing
from polis.events.contracts import ContractViolation
from polis.rpc import contract, known_methods
from polis.rpc.responder import RpcResponder, default_concurrency

CHECK = "enablement.check_personal_code"


def test_every_rpc_contract_has_a_compiled_fast_path() -> None:
    for method in known_methods():
        rules = contract(method)
        assert rules._fast_request is not None, method
        assert rules._fast_reply is not None, method


def test_a_valid_request_and_reply_never_reach_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    def walked(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("jsonschema walked a valid document")

    monkeypatch.setattr(Draft202012Validator, "iter_errors", walked)
    rules = contract(CHECK)
    rules.validate_request({"account_id": str(uuid.uuid4()), "personal_code": "Codice2026"})
    rules.validate_reply({"valid": False, "status": "locked", "retry_after": 30})


@pytest.mark.parametrize(
    ("payload", "path", "check"),
    [
        ({"account_id": "not-a-uuid", "personal_code": "Codice2026"}, "account_id", "pattern"),
        ({"account_id": str(uuid.uuid4()), "personal_code": "S" * 65}, "personal_code", "maxLength"),
        ({"account_id": str(uuid.uuid4())}, "", "required"),
        (
            {"account_id": str(uuid.uuid4()), "personal_code": "Codice2026", "extra": "Segreto99"},
            "",
            "additionalProperties",
        ),
    ],
)
def test_a_refused_request_names_the_field_and_the_check_but_not_the_value(
    payload: dict[str, str], path: str, check: str
) -> None:
    with pytest.raises(ContractViolation) as refused:
        contract(CHECK).validate_request(payload)
    message = str(refused.value)
    assert f"'{check}'" in message
    assert message.startswith(path or "the message")
    assert "S" * 65 not in message and "Segreto99" not in message and "not-a-uuid" not in message


def test_a_reply_outside_its_contract_is_refused() -> None:
    with pytest.raises(ContractViolation):
        contract(CHECK).validate_reply({"valid": True, "status": "maybe"})
    with pytest.raises(ContractViolation):
        contract(CHECK).validate_reply({"valid": True, "status": "ok", "personal_code": "Codice2026"})


def test_a_responder_serves_from_twice_the_argon2_bound_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLIS_RPC_RESPONDER_THREADS", raising=False)
    before = hashing.concurrency()
    try:
        hashing.bound_concurrency(3)
        assert default_concurrency() == 6
        responder = RpcResponder("amqp://unused", service="enablement", handlers={CHECK: lambda p: p})
        assert responder.concurrency == 6
        monkeypatch.setenv("POLIS_RPC_RESPONDER_THREADS", "5")
        assert default_concurrency() == 5
        explicit = RpcResponder("amqp://unused", service="enablement", handlers={}, concurrency=1)
        assert explicit.concurrency == 1
        monkeypatch.setenv("POLIS_RPC_RESPONDER_THREADS", "0")
        with pytest.raises(ValueError, match="at least 1"):
            default_concurrency()
    finally:
        hashing.bound_concurrency(before)
