"""Network facts shared by the connectors and the service: which hosts are this machine."""

from __future__ import annotations

import ipaddress

LOOPBACK_HOSTS = {"localhost", "localhost.localdomain"}


def is_loopback(host: str | None) -> bool:
    """True for `localhost` and any address in 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
