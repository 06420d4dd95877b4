"""XMP: the IPTC digital source type (how the picture was made), the creating tool, and the
"made with AI" labels image services write beside it.

IPTC Photo Metadata 2025.1 adds four generative-AI properties to the IPTC Extension schema
(`Iptc4xmpExt:AISystemUsed`, `AISystemVersionUsed`, `AIPromptInformation`,
`AIPromptWriterName`); services label their output with the digital source type plus a
credit line (`photoshop:Credit`, e.g. "Made with Google AI"), `dc:creator`, and
`plus:DataMining` (whether the picture may be mined for training). All are declared, not
proven: anyone can write or strip them. A picture naming its AI system without a digital
source type still gets a finding (source `xmp:Iptc4xmpExt:AISystemUsed`).

Parsed with defusedxml (an XMP packet is attacker-controlled XML). Pillow's own `getxmp`
silently returns {} when defusedxml is missing; importing it here makes a missing dependency
fail loudly instead.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from cairn.provenance.finding import Finding

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP = "http://ns.adobe.com/xap/1.0/"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SYNTHETIC = ("trainedAlgorithmicMedia", "compositeSynthetic",
             "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia")
# finding field -> (namespace, property): the labels kept beside the digital source type
LABELS = {"ai_system": (IPTC_EXT, "AISystemUsed"),
          "ai_system_version": (IPTC_EXT, "AISystemVersionUsed"),
          "ai_prompt": (IPTC_EXT, "AIPromptInformation"),
          "ai_prompt_writer": (IPTC_EXT, "AIPromptWriterName"),
          "credit": (PHOTOSHOP, "Credit"), "data_mining": (PLUS, "DataMining")}


def values(root: Element, ns: str, name: str) -> list[str]:
    """An XMP property written as an attribute, as element text (a bag, sequence or
    alternative's items, joined), or as rdf:resource."""
    tag = f"{{{ns}}}{name}"
    out = [el.attrib[tag] for el in root.iter() if tag in el.attrib]
    for el in root.iter(tag):
        if el.attrib.get(f"{{{RDF}}}resource"):
            out.append(el.attrib[f"{{{RDF}}}resource"])
        items = [("".join(li.itertext())).strip() for li in el.iter(f"{{{RDF}}}li")]
        text = "; ".join(i for i in items if i) if items else "".join(el.itertext()).strip()
        if text:
            out.append(text)
    return [v.strip() for v in out if v.strip()]


def parse_packet(packet: bytes) -> Element | None:
    """The packet's XML root, or None when it is not well-formed (or is hostile XML)."""
    try:
        return SafeET.fromstring(packet.strip(b"\0 \r\n\t"))
    except (ParseError, DefusedXmlException, ValueError):
        return None


def read_xmp(packet: bytes | None) -> list[Finding]:
    if not packet:
        return []
    try:
        root = SafeET.fromstring(packet.strip(b"\0 \r\n\t"))
    except (ParseError, DefusedXmlException, ValueError) as e:
        return [Finding("digital_source_type", "declared", "xmp", {},
                        error=f"XMP packet unreadable: {type(e).__name__}: {e}")]
    tool = next(iter(values(root, XMP, "CreatorTool")), None)
    created = next(iter(values(root, XMP, "CreateDate")), None)
    labels: dict[str, Any] = {k: next(iter(values(root, ns, name)), None)
                              for k, (ns, name) in LABELS.items()}
    creators = values(root, DC, "creator")
    labels["creator"] = creators[0] if creators else None
    out = []
    for value in dict.fromkeys(values(root, IPTC_EXT, "DigitalSourceType")):
        code = value[len(DST_PREFIX):] if value.startswith(DST_PREFIX) else value
        out.append(Finding("digital_source_type", "declared", "xmp:Iptc4xmpExt:DigitalSourceType",
                           {"value": value, "code": code, "synthetic": code in SYNTHETIC,
                            "creator_tool": tool, "created": created, **labels}))
    if not out and labels["ai_system"]:
        # IPTC 2025.1: "the AI engine and/or the model name used to generate this image"
        out.append(Finding("digital_source_type", "declared", "xmp:Iptc4xmpExt:AISystemUsed",
                           {"synthetic": True, "creator_tool": tool, "created": created,
                            **labels}))
    return out
