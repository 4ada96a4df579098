"""Revocation rounds of inactive accounts (D-REV-1 ... D-REV-5): the round, notices, keep, execution."""
