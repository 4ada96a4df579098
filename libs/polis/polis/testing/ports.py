"""Free TCP ports for the private servers that tests and the development stack start."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago: the kernel picks it, so parallel runs do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on the port (or it cannot be bound)."""
    if is_listening(port, host, timeout=0.3):
        return True
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
