"""Hash lists over HTTP: list them (read), import an uploaded file, and withdraw, mark false
positive or reinstate entries (write). Each change is the same store call as `cairn lists`
makes, with the user named in its custody entry; the list index is current when the answer
comes back. An upload is bounded by the server's body cap (`cairn serve --max-body-mib`)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel, Field

from cairn.api.auth import store_of
from cairn.api.common import READ, WRITE
from cairn.lists.formats import ListFormatError
from cairn.service import lists as svc
from cairn.store.common import StoreError
from cairn.store.users import Principal

MAX_VALUES = 10_000
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}(\.[A-Za-z0-9]{1,4})?$")
ListFormat = Literal["auto", "te-csv", "te-local", "hashsum", "plain", "vics", "stix", "misp",
                     "nsrl"]
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]


class Values(BaseModel):
    values: list[Annotated[str, Field(max_length=2048)]] = Field(
        ..., min_length=1, max_length=MAX_VALUES)
    note: str | None = Field(None, max_length=10_000)


def lists_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/lists", tags=["lists"])

    @router.get("")
    def list_lists(request: Request, _: Principal = READ) -> list[dict[str, Any]]:
        return svc.list_rows(store_of(request))

    @router.post("")
    def import_list(request: Request, file: Annotated[UploadFile, File()],
                    name: Annotated[str, Form(min_length=1, max_length=200)],
                    format: Annotated[ListFormat, Form()] = "auto",  # noqa: A002
                    type: Annotated[Literal["md5", "sha1", "sha256", "pdq", "vpdq"] | None,  # noqa: A002
                                    Form()] = None,
                    threshold: Annotated[int, Form(ge=0, le=128)] = 31,
                    video_percent: Annotated[float, Form(ge=1, le=100)] = 80.0,
                    known_good: Annotated[bool, Form()] = False,
                    tlp: Annotated[Tlp | None, Form()] = None,
                    replace: Annotated[bool, Form()] = False,
                    append: Annotated[bool, Form()] = False,
                    rematch: Annotated[bool, Form()] = True,
                    who: Principal = WRITE) -> dict[str, Any]:
        """Import a list file (multipart field `file`), as `cairn lists import`: then every
        open case is re-matched against its new entries, unless `rematch=false`."""
        if replace and append:
            raise HTTPException(422, "replace and append exclude each other")
        store = store_of(request)
        original = Path(file.filename or "upload").name
        suffix = m.group(0) if (m := _SUFFIX.search(original)) else ""
        with tempfile.TemporaryDirectory(prefix="cairn-upload-") as tmp:
            path = Path(tmp) / f"list{suffix}"  # sniffing may look at the suffix; nothing else
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out)
            try:
                return svc.import_list(store, path, name, f"upload:{original}", svc.ImportOptions(
                    format, type, threshold, video_percent, known_good, tlp, replace, append,
                    rematch), by=who.name)
            except ListFormatError as e:
                raise HTTPException(422, f"{original}: {e}".replace(str(path), original)
                                    ) from None
            except StoreError as e:
                raise HTTPException(409, str(e)) from None

    def change(status: str, verb: str) -> Any:
        def endpoint(request: Request, name: str, body: Values,
                     who: Principal = WRITE) -> dict[str, Any]:
            try:
                return svc.set_entry_status(store_of(request), name, body.values, status,
                                            body.note, who.name)
            except StoreError as e:
                raise HTTPException(404 if str(e).startswith("no list") else 422,
                                    str(e)) from None
        endpoint.__doc__ = (f"Mark entries of a list {verb} (by value): they stay on record, "
                            + ("and match again." if status == "active"
                               else "and no longer match."))
        endpoint.__name__ = f"entries_{status}"
        return endpoint

    for status, verb, path in (("withdrawn", "withdrawn", "withdraw"),
                               ("false_positive", "false positive", "false-positive"),
                               ("active", "reinstated", "reinstate")):
        router.post(f"/{{name}}/{path}")(change(status, verb))
    return router
