"""Every registered signal type passes the same checks: its canonical examples normalise to
themselves, other spellings of them to the same value, every malformed value is refused with a
ValueError naming the type (never another exception), distance is a metric where there is one,
and its aliases resolve to it. A new type is one row in EXAMPLES."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.signals import types
from cairn.signals.vpdq import VpdqFrame, to_signal

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b2d"
VPDQ = to_signal([VpdqFrame(0, 0.0, PDQ_A, 100), VpdqFrame(1, 1.0, PDQ_B, 90)])

# name: (canonical values, (other spelling, its canonical form), malformed values)
EXAMPLES: dict[str, tuple[list[str], list[tuple[str, str]], list[object]]] = {
    "md5": (["d41d8cd98f00b204e9800998ecf8427e"],
            [(" D41D8CD98F00B204E9800998ECF8427E\n", "d41d8cd98f00b204e9800998ecf8427e")],
            ["d41d8cd98f00b204e9800998ecf8427", "0x1d8cd98f00b204e9800998ecf8427e", "", None, 7]),
    "sha1": (["da39a3ee5e6b4b0d3255bfef95601890afd80709"],
             [("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
               "da39a3ee5e6b4b0d3255bfef95601890afd80709")],
             ["da39a3ee5e6b4b0d3255bfef95601890afd8070", "g" * 40, b"x" * 40]),
    "sha256": (["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
               [("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],
               ["e3b0c442", "e3b0_44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]),
    "pdq": ([PDQ_A, PDQ_B], [(PDQ_A.upper(), PDQ_A)],
            ["0" * 64, "f" * 64, PDQ_A[:-1], "٣" * 64, "+" + PDQ_A[1:], [PDQ_A]]),
    "vpdq": ([VPDQ], [], ["[[[[" * 5000, "x" * ((1 << 20) + 1), "not json", 3.5]),
    "photodna": (["AAECAwQFBgcICQoLDA0ODw=="], [(" AAECAw== ", "AAECAw==")],
                 ["", "two tokens", "x" * 2049]),
}


def test_every_registered_type_has_examples() -> None:
    assert set(EXAMPLES) == set(types.REGISTRY), "add the new type's row to EXAMPLES"


@pytest.mark.parametrize("name", sorted(types.REGISTRY))
def test_conformance(name: str) -> None:
    kind = types.get(name)
    good, spellings, bad = EXAMPLES[name]
    for value in good:
        assert kind.normalise(value) == value
    for other, canonical in spellings:
        assert kind.normalise(other) == canonical
    for value in bad:
        with pytest.raises(ValueError) as e:
            kind.normalise(value)
        assert e.type is ValueError or issubclass(e.type, ValueError)
        assert name.lower()[:3] in str(e.value).lower() or "photodna" in str(e.value).lower()
    if kind.compare is not None:
        for a in good:
            assert kind.distance(a, a) == 0
            for b in good:
                assert kind.distance(a, b) == kind.distance(b, a) >= 0
    else:
        with pytest.raises(ValueError):
            kind.distance(good[0], good[0])
    for alias in (name, *kind.aliases, name.upper()):
        assert types.get(alias) is kind
    if kind.hex_digits is not None:
        assert len(good[0]) == kind.hex_digits


def test_pdq_distance_and_threshold() -> None:
    pdq = types.get("pdq")
    assert pdq.distance(PDQ_A, PDQ_B) == bin(int(PDQ_A, 16) ^ int(PDQ_B, 16)).count("1")
    assert pdq.matches(PDQ_A, PDQ_B) and not pdq.matches(PDQ_A, PDQ_B, threshold=0)
    assert pdq.default_threshold == 31


def test_unknown_type_is_named_as_hma_names_it() -> None:
    with pytest.raises(types.UnknownSignalType) as e:
        types.get("tmk")
    assert str(e.value) == "No such SignalType 'tmk'"


def test_indexes_and_digest_widths() -> None:
    assert [s.name for s in types.by_index("exact")] == ["md5", "sha1", "sha256"]
    assert types.digest_bytes() == {"md5": 16, "sha1": 20, "sha256": 32}
    assert [s.name for s in types.by_index("hamming")] == ["pdq"]


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(types.REGISTRY)),
       value=st.one_of(st.text(max_size=300), st.binary(max_size=80), st.integers(),
                       st.none()))
def test_untrusted_values_raise_only_value_error(name: str, value: object) -> None:
    with contextlib.suppress(ValueError):
        types.get(name).normalise(value)
