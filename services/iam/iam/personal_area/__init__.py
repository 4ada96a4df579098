"""Area Riservata: personal data, personal email change by verified link, password change (D-ACC-7/8)."""
