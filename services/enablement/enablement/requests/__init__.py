"""Enablement requests: the request, its adhesion form, the receipt link, identification in an office."""
