"""Offices (schools by codice meccanografico, authorised offices) and their operators (D-ENA-3, D-ENA-10)."""
