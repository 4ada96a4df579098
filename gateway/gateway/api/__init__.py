"""Forwarding to the services: the /api/ fast path (proxy.py) and IAM's pages (pages.py)."""
