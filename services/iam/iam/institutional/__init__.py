"""Institutional (MI) accounts: the ops import and the security officer's password reset (D-ACC-2)."""
