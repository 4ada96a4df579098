"""Accounts: the one credential store shared by Istanze OnLine and the partner services (D-ACC-1, D-ACC-2)."""
