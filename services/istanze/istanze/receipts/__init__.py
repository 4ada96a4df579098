"""Receipts of submissions (D-IST-3): the PDF/A document, filed in the user's archive with its SHA-256."""
