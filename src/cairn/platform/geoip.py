"""Countries from IP addresses, only from an offline GeoIP database the examiner supplies
(`--geoip FILE.mmdb`, MaxMind DB format: GeoLite2/GeoIP2 Country or City, or any database that
answers `country.iso_code`). Nothing is downloaded and no IP is ever sent anywhere.

An IP's country is the weakest source of attribution there is (VPNs, carrier-grade NAT, roaming,
Tor), so it is reported as its own kind of source, counted per account, and always names the
database, its build date and SHA-256: two examiners with different builds can see why they
disagree. It never outranks what the records say (payments, declared country, seizures).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class GeoIpError(ValueError):
    """The file is not a usable GeoIP database (named, with why)."""


@dataclass(frozen=True, slots=True)
class GeoIp:
    path: Path
    database_type: str
    built: str  # ISO date of the build
    sha256: str
    _reader: Any

    def country(self, ip: str) -> str | None:
        """ISO 3166-1 alpha-2 of an address, or None (unknown, private, malformed)."""
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:
            return None
        if not addr.is_global:
            return None
        try:
            rec = self._reader.get(str(addr))
        except (ValueError, TypeError, RuntimeError):  # IPv6 in an IPv4 database; damage
            return None
        if not isinstance(rec, dict):
            return None
        code = (rec.get("country") or rec.get("registered_country") or {}).get("iso_code")
        return code.upper() if isinstance(code, str) and len(code) == 2 else None

    def countries(self, ips: Iterable[str]) -> Counter[str]:
        """How many of the addresses fall in each country (unknown ones are not counted)."""
        return Counter(c for c in map(self.country, ips) if c)

    def source(self) -> str:
        """How a finding names this database."""
        return (f"GeoIP {self.database_type} built {self.built} ({self.path.name}, "
                f"sha256 {self.sha256[:16]}…)")

    def describe(self) -> dict:
        return {"path": str(self.path), "database_type": self.database_type,
                "built": self.built, "sha256": self.sha256}

    def close(self) -> None:
        self._reader.close()


def open_geoip(path: Path) -> GeoIp:
    """Open a .mmdb file memory-mapped; GeoIpError naming the file when it is not one."""
    import maxminddb

    try:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP)
    except OSError as e:
        raise GeoIpError(f"{path}: cannot read the GeoIP database: {e.strerror or e}") from None
    except Exception as e:  # the parser raises assorted errors (TypeError…) on crafted files
        raise GeoIpError(f"{path}: not a MaxMind DB (.mmdb) file: {e}") from None
    meta = reader.metadata()
    try:
        built = datetime.fromtimestamp(int(meta.build_epoch), UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        raise GeoIpError(f"{path}: its build date {meta.build_epoch!r} is not a time") from None
    return GeoIp(path, str(meta.database_type), built, digest.hexdigest(), reader)
