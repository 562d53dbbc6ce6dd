"""ORUK rendering rules (pure functions)."""

from worklink_directory.oruk import compact


def test_compact_omits_empty_values_at_every_depth_but_keeps_zero_and_false():
    value = {"a": None, "b": "", "c": [], "d": {}, "e": 0, "f": False,
             "g": [{"x": None, "y": 1}, 2, {"z": ""}], "h": {"i": {"j": None}}, "k": {"l": [None, "m"]}}
    assert compact(value) == {"e": 0, "f": False, "g": [{"y": 1}, 2, {}], "k": {"l": [None, "m"]}}
