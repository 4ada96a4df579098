"""The JSON API edge: /api/<service>/... routed to the services."""
