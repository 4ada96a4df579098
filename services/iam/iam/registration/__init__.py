"""Self-registration step by step (D-ACC-3): codice fiscale + captcha, personal data, email, question..."""
