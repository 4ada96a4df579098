"""IAM's API errors; polis maps every ApiError to the one JSON error shape."""

from polis.errors import ApiError


class InvalidConfirmationToken(ApiError):
    # One message for unknown, used and expired tokens: the answer must not tell which tokens exist.
    status = 400
    code = "invalid_token"
    message = "The confirmation link is not valid or has expired."
