"""polis.rpc.wire writes the frames pika would: a publish and an ack, byte for byte (P7 of `make bench`)."""

from __future__ import annotations

import pika
import pytest
from pika import frame, spec
from polis.rpc import wire


def _pika_publish(
    number: int,
    routing_key: str,
    body: bytes,
    properties: pika.BasicProperties,
    *,
    mandatory: bool,
    body_max: int,
) -> list[bytes]:
    frames = [
        frame.Method(
            number, spec.Basic.Publish(exchange="", routing_key=routing_key, mandatory=mandatory)
        ).marshal(),
        frame.Header(number, len(body), properties).marshal(),
    ]
    return frames + [
        frame.Body(number, body[i : i + body_max]).marshal() for i in range(0, len(body), body_max)
    ]


@pytest.mark.parametrize(
    ("properties", "mandatory", "body"),
    [
        # The client's request: every property it sets, mandatory.
        (
            {
                "correlation_id": "req-1:ab12",
                "reply_to": "amq.rabbitmq.reply-to",
                "expiration": "5000",
                "delivery_mode": 1,
            },
            True,
            b'{"method":"enablement.check_personal_code","payload":{}}',
        ),
        # The responder's reply: the correlation id only.
        ({"correlation_id": "req-1:ab12"}, False, b'{"result":{"valid":true}}'),
        ({"correlation_id": None}, False, b"{}"),
        # An empty body has no body frame; a long one is cut at the frame size, as pika cuts it.
        ({"correlation_id": "x"}, False, b""),
        ({"correlation_id": "x" * 255, "reply_to": "r"}, True, b"z" * 10_000),
    ],
)
def test_a_publish_is_the_frames_pika_marshals(properties: dict, mandatory: bool, body: bytes) -> None:
    ours = wire.publish_frames(
        7,
        "rpc.enablement",
        body,
        body_max=4088,
        content_type="application/json",
        correlation_id=properties.get("correlation_id"),
        reply_to=properties.get("reply_to"),
        expiration=properties.get("expiration"),
        delivery_mode=properties.get("delivery_mode"),
        mandatory=mandatory,
    )
    theirs = _pika_publish(
        7,
        "rpc.enablement",
        body,
        pika.BasicProperties(content_type="application/json", **properties),
        mandatory=mandatory,
        body_max=4088,
    )
    assert ours == theirs


def test_an_ack_is_the_frame_pika_marshals() -> None:
    for tag in (1, 2**40 + 3):
        assert wire.ack_frame(3, tag) == frame.Method(3, spec.Basic.Ack(delivery_tag=tag)).marshal()


def test_a_short_string_longer_than_amqp_allows_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        wire.publish_frames(
            1,
            "q",
            b"",
            body_max=4088,
            correlation_id="x" * 256,
            content_type="application/json",
            reply_to=None,
            expiration=None,
            delivery_mode=None,
            mandatory=False,
        )
