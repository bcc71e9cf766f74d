"""The quota arithmetic behind the bulk figures, and how duplicates are counted."""

from collections import Counter

import pytest

from bench.bulk import BulkConfig, duplicates
from bench.flows import name_suffix


def test_the_quota_limited_time_discounts_the_initial_bucket() -> None:
    config = BulkConfig(rows=300, quota_writes=60, quota_window=3.0)
    # 900 writes, 60 of them from the full bucket, the rest at 20 writes/s.
    assert config.quota_limited_seconds(300) == pytest.approx(42.0)


def test_a_run_that_fits_in_the_bucket_has_no_quota_limited_time() -> None:
    assert BulkConfig(quota_writes=60).quota_limited_seconds(10) == 0


def test_the_scaled_quota_keeps_graphs_rate() -> None:
    assert BulkConfig().quota_rate == pytest.approx(3000 / 150)


def test_every_extra_account_for_a_marker_is_a_duplicate() -> None:
    assert duplicates(Counter({"VND-1": 1, "VND-2": 3, "VND-3": 2})) == 3


def test_row_names_are_distinctname_suffix() -> None:
    names = [name_suffix(n) for n in range(1000)]
    assert len(set(names)) == 1000
    assert all(name.isalpha() for name in names)
