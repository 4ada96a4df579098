"""The audit trail: every security event with who, when, from where and the request id (issue 3, item 10)."""
