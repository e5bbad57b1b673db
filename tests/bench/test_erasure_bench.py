"""bench/erasure.py: its synthetic store is erased as the command would, and its fit is least squares."""

from __future__ import annotations

import pytest

from bench.erasure import fit, measure

pytestmark = pytest.mark.fast


def test_a_small_store_is_measured_and_the_identity_erased() -> None:
    point = measure(40, batch_images=10, photos=3, repeat=1)
    assert (point["images"], point["batches"], point["status"]) == (40, 4, "done")
    assert point["counts"]["feature_rows"] == 3 and point["counts"]["manifest_lines"] == 3
    assert point["counts"]["uploads"] == 3 and point["counts"]["answers"] == 3
    assert set(point["steps_s"]) == {"tombstone", "objects", "manifests", "rows", "records"}


def test_the_fit_recovers_a_line_and_extrapolates_it() -> None:
    points = [{"images": n, "seconds": 0.5 + n / 10_000, "store_mb": n / 100} for n in (1000, 2000, 4000)]
    result = fit(points)
    assert result["a_s"] == 0.5 and result["b_ms_per_1000_images"] == 100.0
    assert result["predicted_100k_s"] == 10.5 and result["r2"] == 1.0
    assert result["predicted_100k_store_mb"] == 1000.0
