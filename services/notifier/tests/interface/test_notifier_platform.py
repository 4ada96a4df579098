"""The notifier through HTTP: what every service answers (polis.testing.platform_contract)."""

from polis.testing.platform_contract import PlatformContract


class TestNotifierPlatform(PlatformContract):
    SERVICE = "notifier"
