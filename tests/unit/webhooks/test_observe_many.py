"""metrics.observe_many counts a batch exactly as observing each value would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from dockyard.webhooks.metrics import observe_many


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str], float]:
    return {
        (s.name.removeprefix(name), s.labels.get("le", "")): s.value
        for metric in registry.collect()
        if metric.name == name
        for s in metric.samples
        if not s.name.endswith("_created")
    }


def test_batch_equals_one_by_one() -> None:
    registry = CollectorRegistry()
    one = Histogram("one", "x", buckets=(0.1, 0.5, 1), registry=registry)
    batch = Histogram("batch", "x", buckets=(0.1, 0.5, 1), registry=registry)
    values = [0.0, 0.05, 0.1, 0.2, 0.5, 0.7, 1.0, 2.0, 100.0]
    for v in values:
        one.observe(v)
    observe_many(batch, values)
    observe_many(batch, [])
    assert _samples(registry, "batch") == _samples(registry, "one")
    assert _samples(registry, "batch")[("_bucket", "0.1")] == 3
    assert _samples(registry, "batch")[("_count", "")] == len(values)
