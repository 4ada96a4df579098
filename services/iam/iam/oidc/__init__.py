"""IAM as OpenID Connect provider: SSO session, login, forced password change, brute force (D-ACC-4)."""
