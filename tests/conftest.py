"""Shared fixtures. Real-data tests take ``real_data`` and skip, with the reason, when the
data-root setting (``RSGROUND_DATA``) is absent; CI sets it when ``../shared/data`` exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data folder named by ``RSGROUND_DATA`` (see ``../shared/data/README.md``)."""
    value = os.environ.get("RSGROUND_DATA")
    if not value:
        pytest.skip(
            "RSGROUND_DATA is not set: real-data test skipped (CI sets it to ../shared/data when present)"
        )
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"RSGROUND_DATA={value} is not a folder")
    return path
