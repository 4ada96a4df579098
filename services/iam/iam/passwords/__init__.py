"""Passwords: hashing (argon2id, OWASP parameters) and the policy after NIST SP 800-63B Rev 4."""
