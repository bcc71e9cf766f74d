"""Order statistics used by every benchmark figure."""

import pytest

from bench.stats import Summary, median, percentile


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 201))  # 1..200
    assert percentile(values, 0.99) == 198


def test_percentile_of_one_sample_is_that_sample() -> None:
    assert percentile([7.0], 0.99) == 7.0


def test_percentile_does_not_depend_on_order() -> None:
    assert percentile([5, 1, 4, 2, 3], 0.5) == 3


def test_median_of_even_count_is_mean_of_middle_pair() -> None:
    assert median([4, 1, 3, 2]) == 2.5


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_summary_converts_nanoseconds_to_milliseconds() -> None:
    summary = Summary.of_ns([1_000_000, 2_000_000, 3_000_000])
    assert (summary.count, summary.median_ms, summary.max_ms) == (3, 2.0, 3.0)
