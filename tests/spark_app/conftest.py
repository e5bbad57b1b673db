"""Fixtures for spark_app tests: one local Spark session for the whole run."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(scope="session")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from spark_app.session import build_session

    session = build_session("fruits-tests", master="local[2]", arrow_batch_rows=16, local_memory="2g")
    yield session
    session.stop()
