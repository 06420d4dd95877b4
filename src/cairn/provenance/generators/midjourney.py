"""Midjourney: PNG `Description` = the prompt with its `--` parameters and `Job ID: <uuid>`,
`Author` = the account; the XMP packet carries the IPTC digital source type."""

from __future__ import annotations

import re
from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.base import as_int, generator_finding

_JOB = re.compile(r"Job ID:\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
                  re.I)
_FLAG = re.compile(r"--(\w+)(?:\s+([^\s-][^\s]*))?")


class MidjourneyReader:
    name = "midjourney"

    def read(self, md: Metadata, image: Any = None) -> list[Finding]:
        hit = md.get("png:Description", "exif:ImageDescription")
        if hit is None:
            return []
        source, text = hit
        job = _JOB.search(text)
        if not job:
            return []  # a description without a Job ID is nobody's claim of Midjourney
        prompt_part = text[:job.start()].strip()
        first_flag = prompt_part.find(" --")
        flags = dict(_FLAG.findall(prompt_part[first_flag:])) if first_flag >= 0 else {}
        author = md.text.get("png:Author") or md.text.get("exif:Artist")
        fields = {"generator": "midjourney", "version": flags.get("v") or flags.get("niji"),
                  "prompt": (prompt_part[:first_flag] if first_flag >= 0 else prompt_part)
                  .strip() or None, "seed": as_int(flags.get("seed")), "user": author,
                  "job_id": job.group(1).lower(),
                  "size": None}
        return [generator_finding(source, text, fields, extra=flags or None)]
