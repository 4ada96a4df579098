"""The ops API under /api/istanze/v1/ops/ (the public gateway refuses it): exports and counts for offices."""
