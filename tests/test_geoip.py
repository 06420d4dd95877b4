"""The offline GeoIP reader, against databases written by mmdb-writer in MaxMind's format
(the layout GeoLite2-Country uses: `country.iso_code`), read back by MaxMind's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from cairn.platform.geoip import GeoIpError, open_geoip


def write_db(path: Path, networks: dict[str, str], kind: str = "GeoLite2-Country") -> Path:
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=kind, languages=["en"],
                   description={"en": "test database"})
    for net, code in networks.items():
        w.insert_network(IPSet([net]), {"country": {"iso_code": code}})
    w.to_db_file(str(path))
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    # documentation ranges (RFC 5737, RFC 3849) stand in for real allocations
    return write_db(tmp_path / "geo.mmdb", {"192.0.2.0/24": "DK", "198.51.100.0/24": "NL",
                                            "2001:db8::/32": "SE"})


def test_countries_of_addresses(db: Path) -> None:
    g = open_geoip(db)
    assert g.database_type == "GeoLite2-Country" and len(g.sha256) == 64
    assert g.country("192.0.2.7") is None  # documentation addresses are not global
    # ... so the lookup itself is checked on the database directly, then the filter
    assert g._reader.get("192.0.2.7") == {"country": {"iso_code": "DK"}}
    assert g.country("10.1.2.3") is None and g.country("not an ip") is None
    assert g.country("8.8.8.8") is None  # global, not in this database
    assert "GeoLite2-Country built" in g.source() and db.name in g.source()


def test_global_addresses_counted(tmp_path: Path) -> None:
    g = open_geoip(write_db(tmp_path / "g.mmdb", {"81.0.0.0/16": "DK", "82.0.0.0/16": "NL",
                                                   "2a00:1000::/32": "SE"}))
    got = g.countries(["81.0.1.1", "81.0.9.9", "82.0.0.1", "2a00:1000::5", "127.0.0.1",
                       "garbage", "9.9.9.9"])
    assert got == {"DK": 2, "NL": 1, "SE": 1}


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100,
                                     b"\xab\xcd\xefMaxMind.com" + b"\x00" * 64])
def test_a_file_that_is_not_a_database_is_named(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.mmdb"
    p.write_bytes(content)
    with pytest.raises(GeoIpError, match="bad.mmdb"):
        open_geoip(p)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GeoIpError, match="nope.mmdb: cannot read"):
        open_geoip(tmp_path / "nope.mmdb")
