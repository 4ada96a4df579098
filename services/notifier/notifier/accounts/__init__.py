"""The notifier's read model of IAM accounts: addresses, names and language, built from IAM's fact events."""
