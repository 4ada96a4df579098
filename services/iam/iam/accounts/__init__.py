"""Accounts: the one credential store shared by Istanze OnLine and the partner services (D-ACC-1, D-ACC-2).

And what the other areas share about them: single-use links (links), the MI domain (institutional) and
temporary passwords (temporary_passwords).
"""
