"""What enablement's tests share: IAM's faked answers (a module of its own: every suite has a conftest)."""

from __future__ import annotations

import uuid

# The password and security answer FakeIam knows (tests of D-ENA-5 and D-ENA-9 use them).
PASSWORD = "quadernolavagnagessetto"
ANSWER = "Fido"


class FakeIam:
    """IAM's two answers (iam.check_password, iam.check_security_answer): only yes or no."""

    def password_matches(self, *, account_id: uuid.UUID, password: str) -> bool:
        return password == PASSWORD

    def security_answer_matches(self, *, account_id: uuid.UUID, answer: str) -> bool:
        return answer == ANSWER  # case-sensitive (D-ENA-5)
