"""Captcha on registration and recoveries (issue 3 item 3): ALTCHA proof of work, reCAPTCHA, a test fake."""
