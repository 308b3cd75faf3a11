"""Fixtures of the deploy tests: the rendered overlays."""

from __future__ import annotations

import pytest

from tests.support.manifests import OVERLAYS, Rendered, render_overlay


@pytest.fixture(scope="session", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    """One overlay's objects; a test that takes this runs once per overlay."""
    return render_overlay(request.param)


@pytest.fixture(scope="session")
def prod() -> Rendered:
    """The shared-cluster overlay, for the contracts only it has."""
    return render_overlay("prod")
