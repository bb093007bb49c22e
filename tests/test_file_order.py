"""The suite's file order (tests/support/file_order.py): the longest files first, each
file's tests together and in their own order."""

from __future__ import annotations

from types import SimpleNamespace

from support.file_order import longest_first


def test_files_go_longest_first_and_keep_their_tests_in_order():
    ids = ["a.py::t1", "a.py::t2", "b.py::t1", "c.py::t1", "c.py::t2", "new.py::t1"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    longest_first(items, {"a.py": 1.0, "b.py": 50.0, "c.py": 9.0})
    # new.py, not measured, counts as the median file (9 s) and follows c.py, which
    # was collected before it
    assert [i.nodeid for i in items] == [
        "b.py::t1", "c.py::t1", "c.py::t2", "new.py::t1", "a.py::t1", "a.py::t2",
    ]  # fmt: skip
