"""500 consecutive sampling runs through the worker grow memory by less than 50 MB."""

from __future__ import annotations

import pytest

from benchmarks.bench_soak import LIMIT_MB, soak


@pytest.mark.slow
def test_500_sampling_runs_grow_memory_by_less_than_50_mb(qtbot):
    result = soak(500)
    print(result)
    assert result["growth_mb"] < LIMIT_MB, result


def test_soak_loop_runs_and_measures(qtbot):
    """The loop itself (a few runs, not slow): every run finishes and RSS is read."""
    result = soak(6, warmup=2)
    assert result["runs"] == 6 and len(result["trace"]) == 2
    assert result["rss_after_warmup_mb"] > 10
