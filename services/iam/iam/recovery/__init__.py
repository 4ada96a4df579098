"""Recovery: username forgotten (D-ACC-5) and "Password dimenticata?" with temporary passwords (D-ACC-6)."""
