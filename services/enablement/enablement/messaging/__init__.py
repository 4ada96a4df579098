"""What enablement consumes (IAM's account facts) and answers (the RPC enablement.check_personal_code)."""
