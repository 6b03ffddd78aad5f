"""List text: shared and cyclic lists print as Python prints them.

``_format_list`` writes a shared list's text once and copies it after; Python's own
``repr`` (which expands every path) is the generic path it shortcuts.  Lists of ints
print identically in both."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kmscript.lang.values import format_value


@st.composite
def list_graph(draw: Any) -> list[Any]:
    """Up to 7 lists whose items are ints or any of the lists (itself included)."""
    pool: list[list[Any]] = [[] for _ in range(draw(st.integers(1, 7)))]
    for lst in pool:
        for item in draw(st.lists(st.one_of(st.integers(0, 99), st.integers(-len(pool), -1)), max_size=3)):
            lst.append(pool[item] if item < 0 else item)
    return pool[draw(st.integers(0, len(pool) - 1))]


@settings(max_examples=300, deadline=None)
@given(root=list_graph())
def test_shared_and_cyclic_lists_print_as_python_prints_them(root: list[Any]) -> None:
    expected = repr(root)
    if len(expected) > 100_000:  # Python expands every path: keep the reference fast
        return
    assert format_value(root) == expected


def test_a_list_on_a_longer_cycle_is_not_copied_into_a_different_context() -> None:
    # l and o reach each other: l's text depends on whether o is already open
    l: list[Any] = []
    o: list[Any] = [l]
    l.append(o)
    for root in ([l, o, l, [o, l]], [o, l], [[l], o, [o]]):
        assert format_value(root) == repr(root)


def test_self_contained_cycles_are_copied() -> None:
    s: list[Any] = [1]
    s.append(s)
    x: list[Any] = [[s], s, 2]
    for _ in range(12):
        x = x + x
    assert format_value(x) == repr(x)
