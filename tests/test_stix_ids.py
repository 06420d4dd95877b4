"""The Indicator ids a list import computes by hand (`stix.uuid5_text`) are the ones
`uuid.uuid5` gives: every id already shared with a partner must come out the same."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.lists.formats import stix


@given(st.text())
def test_uuid5_text_is_uuid5(name: str) -> None:
    try:
        want = str(uuid.uuid5(stix.NAMESPACE, name))
    except UnicodeEncodeError:  # a lone surrogate: neither can encode it
        with pytest.raises(UnicodeEncodeError):
            stix.uuid5_text(name)
        return
    assert stix.uuid5_text(name) == want


def test_indicator_ids_unchanged() -> None:
    value = "f" * 64
    for signal_type in ("pdq", "md5", "sha1", "sha256"):
        term = stix.pattern_term(signal_type, value)
        assert stix.indicator_id(signal_type, value) == \
            f"indicator--{uuid.uuid5(stix.NAMESPACE, term)}"
    assert stix.indicator_id("vpdq", value) is None
