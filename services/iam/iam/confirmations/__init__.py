"""Email confirmation: the link that proves an address belongs to the person registering (D-ACC-3)."""
