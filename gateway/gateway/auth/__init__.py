"""The portal as the first OpenID Connect client of IAM: /accedi, /accedi/callback, /area-personale, /esci."""
