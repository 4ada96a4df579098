"""Variazione dati di recapito (D-IST-4): the user's phones and domicile, checked against official lists."""
