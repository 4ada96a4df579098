"""Registration errors: problem codes per field, shown as messages in the user's language."""

from __future__ import annotations

from polis.errors import ApiError, ValidationFailed

from iam.registration.messages import message


class RegistrationInvalid(ValidationFailed):
    """Some fields of a step are not valid; nothing was saved. `problems` maps fields to problem codes."""

    def __init__(
        self, problems: dict[str, list[str]], *, language: str = "it", min_length: int | None = None
    ) -> None:
        fields = {
            name: [message(code, language, min_length=min_length) for code in codes]
            for name, codes in problems.items()
        }
        text = "Alcuni campi non sono validi." if language != "en" else "Some fields are not valid."
        super().__init__(text, fields=fields)
        self.problems = problems


class RegistrationNotFound(ApiError):
    # Unknown, expired and finished registrations answer alike: the token is all the client has.
    status = 404
    code = "registration_not_found"
    message = "There is no registration in progress for this token: it has expired or was completed."


class StepNotReached(ApiError):
    status = 409
    code = "step_not_reached"
    message = "Complete the previous registration steps first."


class InvalidRegistrationLink(ApiError):
    # One answer for unknown, forged, used and expired links: it must not tell which links exist.
    status = 400
    code = "invalid_token"
    message = "The confirmation link is not valid or has expired."
