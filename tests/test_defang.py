"""Indicators in incident reports are defanged and payment identifiers masked."""

from __future__ import annotations

import pytest

from cairn.cases.defang import defang, defang_email, defang_url, mask


@pytest.mark.parametrize(("url", "expected"), [
    ("https://host.example/p?q=1.2", "hxxps://host[.]example/p?q=1.2"),
    ("HTTP://a.b.example.test", "hXXp://a[.]b[.]example[.]test"),
    ("ftp://files.example.test/x", "ftp://files[.]example[.]test/x"),
    ("host.example", "host[.]example"),
])
def test_urls(url: str, expected: str) -> None:
    assert defang_url(url).lower() == expected.lower()


def test_emails_hosts_ips_and_accounts() -> None:
    assert defang_email("user-0042@example.org") == "user-0042[@]example[.]org"
    assert defang("account", "user-0042@example.org") == "user-0042[@]example[.]org"
    assert defang("domain", "shop.example.test") == "shop[.]example[.]test"
    assert defang("ip", "192.0.2.10") == "192[.]0[.]2[.]10"
    assert defang("account", "platform:user-0042") == "platform:user-0042"
    assert defang("phone", "+45 0000 0000") == "+45 0000 0000"


def test_payment_identifiers_keep_only_their_last_four() -> None:
    assert mask("DK0000000000001234") == "*" * 14 + "1234"
    assert defang("payment", "bc1qexampleexampleexample9xyz") == "*" * 25 + "9xyz"
    assert defang("payment", "1234567") == "*******"  # too short to show any of it
