"""Shared platform code of the Polis services: no service's models and no business rules live here."""
