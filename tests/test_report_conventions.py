"""The chapter "Rewards and spatial consistency"'s convention comparison (report.py), on
boxes whose IoUs are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rsground_lib import bookbuild, report


class FixedRng:
    """Stands in for ``numpy.random.Generator``: returns fixed offsets, records the calls."""

    def __init__(self):
        self.calls = []

    def uniform(self, low, high, size):
        self.calls.append(("uniform", low, high, size))
        return np.broadcast_to([1.0, 0.0, 1.0, 0.0], size)

    def integers(self, low, high, size):
        self.calls.append(("integers", low, high, size))
        return np.broadcast_to([1, 0, 1, 0], size)


def test_convention_comparison_by_hand():
    rng = FixedRng()
    # DIOR: target [0, 0, 18.5, 10], prediction shifted 1 px right. Continuous: overlap
    # 17.5 of a 19.5 union in x -> IoU 17.5/19.5 = 0.897 (not > 0.9); inclusive (+1 px):
    # 18.5/20.5 = 0.902 (>= 0.9).
    dior = {"bbox": [[0.0, 0.0, 18.5, 10.0]]}
    # VRSBench: 51.2..66.56 px / 5.12 = grid [10, 10, 13, 14], prediction [11, 10, 14, 14].
    # Inclusive (preset): 4 x 5 boxes overlapping 3 x 5 -> 15 / 25 = 0.6 (>= 0.5);
    # continuous: 3 x 4 boxes overlapping 2 x 4 -> 8 / 16 = 0.5 (not > 0.5).
    vrs = {"bbox": [[51.2, 51.2, 66.56, 71.68]]}
    rows = report.convention_comparison(dior, vrs, rng, jitter_px=4.0, jitter_grid_units=1)
    assert rng.calls == [("uniform", -4.0, 4.0, (1, 4)), ("integers", -1, 2, (1, 4))]
    assert list(rows) == [
        "DIOR-RSVG test, continuous & > (its preset)",
        "DIOR-RSVG test, inclusive & >=",
        "VRSBench val (grid), inclusive & >= (its preset)",
        "VRSBench val (grid), continuous & >",
    ]
    assert rows[report.DIOR_PRESET_ROW]["mean_iou"] == pytest.approx(17.5 / 19.5)
    assert rows[report.DIOR_INCLUSIVE_ROW]["mean_iou"] == pytest.approx(18.5 / 20.5)
    assert rows[report.VRS_PRESET_ROW]["mean_iou"] == pytest.approx(0.6)
    assert rows[report.VRS_CONTINUOUS_ROW]["mean_iou"] == pytest.approx(0.5)
    # DIOR-RSVG switched to inclusive gains the hit at 0.9 (18.5/20.5 > 0.9 > 17.5/19.5); VRSBench
    # scored continuously instead of inclusively loses its hit at 0.5 (0.5 is not > 0.5)
    assert report.convention_gaps(rows) == {"dior_pr09_gap": "+100.0", "vrs_pr05_gap": "-100.0"}


def test_convention_comparison_without_data():
    rng = FixedRng()
    rows = report.convention_comparison(None, None, rng, jitter_px=4.0, jitter_grid_units=1)
    assert rows == {} and rng.calls == []
    assert report.convention_gaps(rows) == {
        "dior_pr09_gap": "not measured (no real data: set `RSGROUND_DATA`)",
        "vrs_pr05_gap": "not measured (no real data: set `RSGROUND_DATA`)",
    }
    only_dior = report.convention_comparison(
        {"bbox": [[0.0, 0.0, 18.5, 10.0]]}, None, rng, jitter_px=4.0, jitter_grid_units=1
    )
    assert report.convention_gaps(only_dior) == {
        "dior_pr09_gap": "+100.0",
        "vrs_pr05_gap": "not measured (no real data: set `RSGROUND_DATA`)",
    }


def test_every_chapter_says_when_it_is_a_dry_run():
    """``make dryrun`` pages say so first: the banner on the dry-run profile, nothing on the
    others; every chapter calls it (with its input hidden)."""
    assert report.profile_banner("smoke") is None and report.profile_banner("full") is None
    text = report.profile_banner("dryrun").data
    assert text.startswith("> **Dry run** (`make dryrun`)") and "means anything" in text
    root = Path(__file__).resolve().parents[1]
    for stem, path in bookbuild.notebook_sources(root).items():
        assert '# %% tags=["remove-input"]\nreport.profile_banner(profile)\n' in path.read_text(), (
            stem
        )
