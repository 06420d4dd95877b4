"""Generator metadata readers, registered in one place (python-threatexchange's SignalType
style): each reads its own keys and returns normalised `generator` findings."""

from __future__ import annotations

from typing import Any

from cairn.provenance.containers import Metadata
from cairn.provenance.finding import Finding
from cairn.provenance.generators.a1111 import A1111Reader
from cairn.provenance.generators.base import GeneratorReader
from cairn.provenance.generators.comfyui import ComfyUIReader
from cairn.provenance.generators.drawthings import DrawThingsReader
from cairn.provenance.generators.fooocus import FooocusReader
from cairn.provenance.generators.invokeai import InvokeAIReader
from cairn.provenance.generators.midjourney import MidjourneyReader
from cairn.provenance.generators.novelai import NovelAIReader
from cairn.provenance.generators.swarmui import SwarmUIReader


def readers(novelai_keys: dict[str, str] | None = None) -> list[GeneratorReader]:
    # SwarmUI first: its JSON `parameters` is claimed only when it holds sui_image_params,
    # and must not reach Fooocus (which reads JSON `parameters`) or A1111
    return [SwarmUIReader(), FooocusReader(), A1111Reader(), ComfyUIReader(), InvokeAIReader(),
            NovelAIReader(novelai_keys), MidjourneyReader(), DrawThingsReader()]


def read_generators(md: Metadata, image: Any = None,
                    novelai_keys: dict[str, str] | None = None) -> list[Finding]:
    """Every reader's findings; a source (one chunk or tag) is claimed by the first reader
    that recognises it (SwarmUI before Fooocus, both JSON `parameters`; Fooocus before A1111:
    Fooocus can write the A1111 layout)."""
    out: list[Finding] = []
    claimed: set[str] = set()
    for reader in readers(novelai_keys):
        try:
            found = reader.read(md, image)
        except Exception as e:  # noqa: BLE001 - a reader's bug must not stop a scan
            found = [Finding("generator", "declared", f"reader:{reader.name}",
                             {"generator": reader.name},
                             error=f"reader failed: {type(e).__name__}: {e}")]
        for f in found:
            if f.kind == "generator" and f.source in claimed:
                continue
            claimed.add(f.source)
            out.append(f)
    return out
