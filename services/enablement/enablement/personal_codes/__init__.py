"""The personal code: generation, policy, argon2id storage, checks with throttling (D-ENA-4..9)."""
