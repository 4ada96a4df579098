"""A MIME message built directly as bytes: text and HTML alternatives, PDF attachments, CRLF line ends.

The standard library's EmailMessage parses every header it is given back through its header registry,
a few milliseconds per email: more than everything else the sender does. The structure here is fixed and
every input is either ours (templates) or checked by the event contracts (filenames, content types), so the
message is assembled directly; tests parse it back with the standard parser.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from email.utils import formataddr, formatdate, parseaddr

from notifier.delivery.rendering import Attachment, RenderedEmail

CRLF = b"\r\n"
# Bytes of text per encoded word: 45 bytes are 60 base64 characters, 72 with the =?utf-8?b?...?= around.
WORD_BYTES = 45


def encode_header(value: str) -> bytes:
    """An unstructured header value: as is when ASCII, else RFC 2047 base64 words, folded (one per line)."""
    if value.isascii():
        return value.encode()
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for character in value:
        length = len(character.encode())
        if size + length > WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(character)
        size += length
    words.append("".join(chunk))
    return b"\r\n ".join(b"=?utf-8?b?" + base64.b64encode(word.encode()) + b"?=" for word in words)


def encode_address(value: str) -> bytes:
    """A From header value: the display name encoded when it needs to be."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8").encode() if name else address.encode()


def _text_part(content_type: str, text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").replace("\n", "\r\n").encode(), istext=True)
    return (
        (
            f'Content-Type: {content_type}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        + body
        + CRLF
    )


def _attachment_part(attachment: Attachment) -> bytes:
    encoded = base64.encodebytes(attachment.content).replace(b"\n", CRLF)
    return (
        f'Content-Type: {attachment.content_type}; name="{attachment.filename}"\r\n'
        f'Content-Disposition: attachment; filename="{attachment.filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + encoded


def _multipart(subtype: str, boundary: str, parts: Sequence[bytes]) -> bytes:
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
    delimiter = f"--{boundary}\r\n".encode()
    return head + b"".join(delimiter + part for part in parts) + f"--{boundary}--\r\n".encode()


def build(
    *,
    rendered: RenderedEmail,
    mail_from: bytes,
    recipients: Sequence[str],
    message_id: str,
    language: str,
    boundary_seed: str,
) -> bytes:
    """The whole message, ready for SMTP DATA (smtplib adds the dot-stuffing); `mail_from` encoded."""
    headers = (
        b"From: " + mail_from + CRLF
        + b"To: " + ", ".join(recipients).encode() + CRLF
        + b"Subject: " + encode_header(rendered.subject) + CRLF
        + b"Date: " + formatdate(localtime=False).encode() + CRLF
        + b"Message-ID: " + message_id.encode() + CRLF
        + b"Content-Language: " + language.encode() + CRLF
        + b"MIME-Version: 1.0" + CRLF
    )  # fmt: skip
    body = _multipart(
        "alternative",
        f"alt-{boundary_seed}",
        [_text_part("text/plain", rendered.text), _text_part("text/html", rendered.html)],
    )
    if rendered.attachments:
        body = _multipart(
            "mixed", f"mix-{boundary_seed}", [body, *(_attachment_part(a) for a in rendered.attachments)]
        )
    return headers + body
