"""XMP: the IPTC digital source type (how the picture was made) and the creating tool.

Parsed with defusedxml (an XMP packet is attacker-controlled XML). Pillow's own `getxmp`
silently returns {} when defusedxml is missing; importing it here makes a missing dependency
fail loudly instead.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from cairn.provenance.finding import Finding

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP = "http://ns.adobe.com/xap/1.0/"
DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SYNTHETIC = ("trainedAlgorithmicMedia", "compositeSynthetic",
             "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia")


def _values(root: Element, ns: str, name: str) -> list[str]:
    """An XMP property written as an attribute, as element text, or as rdf:resource."""
    tag = f"{{{ns}}}{name}"
    out = [el.attrib[tag] for el in root.iter() if tag in el.attrib]
    for el in root.iter(tag):
        if el.attrib.get(f"{{{RDF}}}resource"):
            out.append(el.attrib[f"{{{RDF}}}resource"])
        text = "".join(el.itertext()).strip()
        if text:
            out.append(text)
    return [v.strip() for v in out if v.strip()]


def read_xmp(packet: bytes | None) -> list[Finding]:
    if not packet:
        return []
    try:
        root = SafeET.fromstring(packet.strip(b"\0 \r\n\t"))
    except (ParseError, DefusedXmlException, ValueError) as e:
        return [Finding("digital_source_type", "declared", "xmp", {},
                        error=f"XMP packet unreadable: {type(e).__name__}: {e}")]
    tool = next(iter(_values(root, XMP, "CreatorTool")), None)
    created = next(iter(_values(root, XMP, "CreateDate")), None)
    out = []
    for value in dict.fromkeys(_values(root, IPTC_EXT, "DigitalSourceType")):
        code = value[len(DST_PREFIX):] if value.startswith(DST_PREFIX) else value
        out.append(Finding("digital_source_type", "declared", "xmp:Iptc4xmpExt:DigitalSourceType",
                           {"value": value, "code": code, "synthetic": code in SYNTHETIC,
                            "creator_tool": tool, "created": created}))
    return out
