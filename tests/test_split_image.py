"""`SplitImage`, the record a split image's own record waits in for its parts (scan/units.py),
as the local pool and Ray's driver use it: events in any order, a part given up, a problem
a part found with the container, the records handed on exactly once."""

from __future__ import annotations

import itertools

import pytest

from cairn.records import ScanRecord
from cairn.scan.units import SplitImage


def _rec(path: str) -> ScanRecord:
    return {"path": path, "parent": None, "size": 1, "mtime": 0.0, "errors": [],
            "raw_path": path.encode(), "ordinal": 0}


@pytest.mark.parametrize("order", list(itertools.permutations(["p1", "p2", "tail"])))
def test_the_tail_is_handed_on_after_every_part_whatever_the_order(order: tuple) -> None:
    img = SplitImage(2)
    tail = _rec("disk.img")
    for i, event in enumerate(order):
        assert img.ready() is None
        if event == "tail":
            img.tail_done([tail])
        else:
            img.part_done()
        if i < len(order) - 1:
            assert img.ready() is None, (order, event)
    assert img.ready() == [tail] and tail["errors"] == []
    assert img.ready() is None  # handed on once


def test_the_tail_streamed_then_retried_keeps_its_records_in_order() -> None:
    img = SplitImage(1)
    first, second, last = _rec("a"), _rec("b"), _rec("disk.img")
    img.hold([first])
    img.hold([second])
    img.part_done()
    assert img.ready() is None  # records held, the tail not done
    img.tail_done([last])
    assert img.ready() == [first, second, last]


def test_a_part_given_up_and_a_container_problem_are_errors_on_the_image_record() -> None:
    img = SplitImage(3)
    img.tail_done([_rec("member"), _rec("big.zip")])
    img.noted("members 1-4: the expansion budget is spent")
    img.part_done()
    img.part_failed("members 5-9: its worker was killed, and again when retried")
    assert img.ready() is None  # one part still out
    img.part_done()
    records = img.ready()
    assert records is not None
    assert records[0]["errors"] == []  # only the image's own record, the last, carries them
    assert records[-1]["errors"] == [
        {"stage": "archive", "message": "members 1-4: the expansion budget is spent"},
        {"stage": "worker",
         "message": "members 5-9: its worker was killed, and again when retried"}]


def test_every_part_failed_before_the_tail_still_waits_for_the_tail() -> None:
    img = SplitImage(2)
    img.part_failed("part 1: gone")
    img.part_failed("part 2: gone")
    assert img.ready() is None
    rec = _rec("disk.img")
    img.tail_done([rec])
    assert img.ready() == [rec]
    assert [e["stage"] for e in rec["errors"]] == ["worker", "worker"]


def test_a_tail_without_records_hands_on_an_empty_list_not_none() -> None:
    img = SplitImage(0)
    assert img.ready() is None
    img.tail_done()
    assert img.ready() == []
