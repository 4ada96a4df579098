"""The local copy of IAM's accounts, kept from IAM's fact events (never IAM's tables)."""
