"""Handlers of the events istanze consumes."""
