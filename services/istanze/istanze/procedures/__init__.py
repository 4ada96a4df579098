"""Procedures and their windows (D-IST-1): what can be applied for, by whom, and when."""
