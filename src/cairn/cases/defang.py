"""Indicators as an incident report prints them: defanged, so that no reader clicks, mails or
pays by accident, and payment identifiers masked but for their last four characters.

Defanging follows the field's convention (the ioc-fanger / CyberChef style): `https` becomes
`hxxps`, each `.` of a host `[.]`, `@` of an address `[@]`. It is for people, not for tools:
exports that tools read (STIX, MISP) carry indicators as they are.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^(h)tt(ps?)(://)", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$", re.IGNORECASE)
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def defang_url(url: str) -> str:
    """`https://host.example/p?q=1` -> `hxxps://host[.]example/p?q=1` (the host's dots only)."""
    text = _SCHEME.sub(lambda m: f"{m.group(1)}xx{m.group(2)}{m.group(3)}", url.strip())
    scheme, sep, rest = text.partition("://")
    if not sep:
        return defang_host(text)
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{defang_host(host)}{slash}{path}"


def defang_host(host: str) -> str:
    return host.replace(".", "[.]")


def defang_email(address: str) -> str:
    """`user@example.org` -> `user[@]example[.]org`."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local}[@]{defang_host(domain)}"


def mask(value: str, keep: int = 4) -> str:
    """A payment identifier (card, IBAN, wallet) with all but its last `keep` characters
    masked; short values are masked whole rather than shown."""
    v = value.strip()
    if len(v) <= keep * 2:
        return "*" * len(v)
    return "*" * (len(v) - keep) + v[-keep:]


def defang(kind: str, value: str) -> str:
    """An identifier of `kind` (payment, email, url, domain, ip, account, phone...) as a
    report prints it."""
    v = value.strip()
    if kind in ("payment", "iban", "card", "wallet"):
        return mask(v)
    if kind == "email" or _EMAIL.match(v):
        return defang_email(v)
    if _URL.match(v):
        return defang_url(v)
    if kind in ("domain", "host", "url") or _HOST.match(v) or _IPV4.match(v):
        return defang_host(v)
    return v
