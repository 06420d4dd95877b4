"""The custody log's writer: one entry per state change, in the change's own transaction.

Why here and not in cases/: the entry must commit or roll back with the change it records,
so it is written on the connection the change uses (`append(c, ...)`). The canonical form and
the verification live in custody_chain.py (stand-alone, shipped with exports).

Who writes: an `Actor` (examiner, host, and, when the examiner has a key in
`$CAIRN_HOME/keys/`, an Ed25519 signer). The first entry a key signs in a chain is preceded by
a `key.registered` entry publishing its public key, signed by it, so the chain carries what
verifies it.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select, text

from cairn.store import schema as t
from cairn.store.custody_chain import (
    GENESIS,
    canonical,
    canonical_details,
    entry_hash,
    key_id_of,
)

STORE_CHAIN = "store"
_LOCK_BASE = 0x6375_7374_0000  # pg advisory lock keys of chains: "cust" + chain's hash
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class KeyError_(ValueError):
    """A key file that is missing, unreadable or not an examiner's Ed25519 key."""


class UnsignedWrite(Exception):  # noqa: N818 - reads as what happened
    """An examiner without a key writing to a chain whose entries are signed: refused, so
    that a signed chain never holds an entry nobody vouches for."""


def case_chain(case_id: int) -> str:
    return f"case:{case_id}"


@dataclass(frozen=True)
class Signer:
    key_id: str
    public_key: str  # base64 of the raw 32 bytes
    private: Ed25519PrivateKey

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


@dataclass(frozen=True)
class Actor:
    examiner: str
    host: str
    signer: Signer | None = None

    @classmethod
    def current(cls, home: Path | None) -> Actor:
        """The examiner ($CAIRN_EXAMINER, else the login name) on this host, signing with
        their key when `home/keys/<examiner>.key` exists."""
        examiner = os.environ.get("CAIRN_EXAMINER") or _login()
        signer = None
        if home is not None and key_path(home, examiner).exists():
            signer = load_signer(key_path(home, examiner))
        return cls(examiner, socket.gethostname(), signer)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def key_path(home: Path, examiner: str) -> Path:
    if not _NAME.fullmatch(examiner):
        raise KeyError_(f"examiner name {examiner!r} cannot name a key file: use letters, "
                        "digits and . _ @ - (at most 64)")
    return Path(home) / "keys" / f"{examiner}.key"


def create_key(home: Path, examiner: str) -> Signer:
    """A new Ed25519 key for `examiner`, private file mode 0600; refuses to replace one."""
    path = key_path(home, examiner)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyError_(f"{path} exists: a key is never replaced (its entries name it)") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return _signer(key)


def load_signer(path: Path) -> Signer:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise KeyError_(f"{path}: not a readable Ed25519 key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{path}: not an Ed25519 key")
    return _signer(key)


def _signer(key: Ed25519PrivateKey) -> Signer:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    pk = base64.b64encode(raw).decode()
    return Signer(key_id_of(pk), pk, key)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _lock(c: Any, chain: str) -> None:
    """Serialise writers of one chain on PostgreSQL (SQLite's write lock already does)."""
    if c.dialect.name == "postgresql":
        k = _LOCK_BASE + int(hashlib.sha256(chain.encode()).hexdigest()[:8], 16)
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": k})


def append(c: Any, actor: Actor, chain: str, action: str, subject: str, details: dict,
           case_id: int | None = None) -> dict:
    """Write one entry at the head of `chain` on connection `c` (inside the caller's
    transaction). Returns the entry as verify/export see it."""
    _lock(c, chain)
    head = c.execute(select(t.custody.c.seq, t.custody.c.hash)
                     .where(t.custody.c.chain == chain)
                     .order_by(t.custody.c.seq.desc()).limit(1)).first()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    if actor.signer is None and _signed(c, chain):
        raise UnsignedWrite(
            f"the custody log of {chain} is signed, and examiner {actor.examiner!r} has no "
            f"key: create one with `cairn keys create --examiner {actor.examiner}` (or act "
            "as an examiner who has one, CAIRN_EXAMINER)")
    if actor.signer is not None and not _registered(c, chain, actor.signer.key_id):
        reg = _write(c, actor, chain, seq + 1, prev, "key.registered",
                     f"key:{actor.signer.key_id}",
                     {"examiner": actor.examiner, "key_id": actor.signer.key_id,
                      "public_key": actor.signer.public_key, "algorithm": "Ed25519"}, case_id)
        seq, prev = reg["seq"], reg["hash"]
    return _write(c, actor, chain, seq + 1, prev, action, subject, details, case_id)


def _signed(c: Any, chain: str) -> bool:
    return c.execute(select(t.custody.c.id).where(
        t.custody.c.chain == chain, t.custody.c.signature.is_not(None)).limit(1)
    ).first() is not None


def _registered(c: Any, chain: str, key_id: str) -> bool:
    return c.execute(select(t.custody.c.id).where(
        t.custody.c.chain == chain, t.custody.c.action == "key.registered",
        t.custody.c.key_id == key_id).limit(1)).first() is not None


def _write(c: Any, actor: Actor, chain: str, seq: int, prev: str, action: str, subject: str,
           details: dict, case_id: int | None) -> dict:
    details = json.loads(canonical_details(details))  # what a reader will parse back
    entry = {"chain": chain, "seq": seq, "time": _now(), "examiner": actor.examiner,
             "host": actor.host, "action": action, "subject": subject, "case": case_id,
             "details": details, "prev": prev}
    entry["hash"] = entry_hash(entry)
    entry["key_id"] = actor.signer.key_id if actor.signer else None
    entry["signature"] = actor.signer.sign(canonical(entry)) if actor.signer else None
    c.execute(insert(t.custody).values(
        chain=chain, seq=seq, time=entry["time"], examiner=actor.examiner, host=actor.host,
        action=action, subject=subject, case_id=case_id, details=canonical_details(details),
        prev=prev, hash=entry["hash"], key_id=entry["key_id"], signature=entry["signature"]))
    return entry


def row_entry(r: Any) -> dict:
    """A stored row as an entry (details parsed; unparsable details kept as text, which then
    fails its hash: `changed`)."""
    try:
        details = json.loads(r["details"])
    except (TypeError, ValueError):
        details = r["details"]
    return {"chain": r["chain"], "seq": r["seq"], "time": r["time"], "examiner": r["examiner"],
            "host": r["host"], "action": r["action"], "subject": r["subject"],
            "case": r["case_id"], "details": details, "prev": r["prev"], "hash": r["hash"],
            "key_id": r["key_id"], "signature": r["signature"]}
