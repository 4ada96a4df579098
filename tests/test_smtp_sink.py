"""The SMTP sink of polis.testing: it keeps every message, and refuses with the code a test asks for."""

import smtplib
from email.message import EmailMessage

import pytest
from polis.testing.smtp import SmtpSink, SmtpSinkError


def message(subject: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "noreply@istanze.localhost"
    mail["To"] = "mario.rossi@example.it"
    mail["Subject"] = subject
    mail.set_content("Conferma il tuo indirizzo.")
    return mail


def send(sink: SmtpSink, mail: EmailMessage) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.send_message(mail)


def test_received_messages_are_parsed_in_arrival_order(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, message("primo"))
    send(smtp_sink, message("secondo è"))

    received = smtp_sink.wait_for(2)

    assert [mail["Subject"] for mail in received] == ["primo", "secondo è"]
    assert received[0].get_content().strip() == "Conferma il tuo indirizzo."
    assert smtp_sink.envelopes()[0]["rcpt_tos"] == ["mario.rossi@example.it"]


@pytest.mark.parametrize("code", [451, 550])
def test_a_chosen_reply_code_refuses_every_message_until_reset(smtp_sink: SmtpSink, code: int) -> None:
    smtp_sink.set_reply(code)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(smtp_sink, message("rifiutato"))
    assert refused.value.smtp_code == code
    assert smtp_sink.count() == 0

    smtp_sink.set_reply(None)
    send(smtp_sink, message("accettato"))
    assert smtp_sink.wait_for(1)[0]["Subject"] == "accettato"


def test_wait_for_fails_with_the_count_when_messages_do_not_arrive(smtp_sink: SmtpSink) -> None:
    with pytest.raises(SmtpSinkError, match="got 0"):
        smtp_sink.wait_for(1, timeout=0.3)


def test_a_sink_started_with_a_reply_code_refuses_from_the_first_message(tmp_path) -> None:
    with SmtpSink(tmp_path / "spool", reply_code=451) as sink, pytest.raises(smtplib.SMTPDataError):
        send(sink, message("subito rifiutato"))
    assert not sink.running
