"""Once the application is up, what it built is out of the collector's sight and collections
are spaced out (`registry/heap.py`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dockyard.registry.heap import OLDER_THRESHOLD, YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_the_survivors_and_spaces_collections() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    survivor = [object() for _ in range(100)]
    settle_heap()
    assert gc.get_freeze_count() >= len(survivor)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)


@pytest.mark.usefixtures("restored_collector")
def test_cycles_made_later_are_still_collected() -> None:
    settle_heap()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() > 0
