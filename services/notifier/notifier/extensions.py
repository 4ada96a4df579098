"""The notifier database handle, created unbound: create_app or the worker configures it."""

from polis.db import Database

db = Database()
