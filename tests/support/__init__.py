"""Helpers shared by the cross-service tests: the whole system as real processes (`stack` fixtures)."""
