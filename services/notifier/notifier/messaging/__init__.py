"""Handlers of the events the notifier consumes."""
