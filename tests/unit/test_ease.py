"""EASE against the formula computed by brute force: B = I - P diag(1/diag(P)),
P = (X^T X + lambda I)^-1, diag(B) = 0, scores x_S B. Every space must give those scores."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys.tools import ease
from recsys.tools.interactions import Interactions
from recsys.training.playlists import Playlists, clean_pairs


def random_playlists(playlists: int, songs: int, density: float, seed: int = 1) -> Playlists:
    rng = np.random.default_rng(seed)
    rows = [
        (f"p{pid}", f"song {song}")
        for pid in range(playlists)
        for song in range(songs)
        if rng.random() < density
    ]
    return clean_pairs(pl.DataFrame(rows, schema=["pid", "track_name"], orient="row"))


def brute_force(matrix: np.ndarray, lam: float, seeds: list[int]) -> np.ndarray:
    """x_S B with B from a dense inverse, exactly as the paper writes it."""
    inverse = np.linalg.inv(matrix.T @ matrix + lam * np.eye(matrix.shape[1]))
    weights = np.eye(matrix.shape[1]) - inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return weights[seeds].sum(axis=0)


def others(size: int, seeds: list[int]) -> np.ndarray:
    keep = np.ones(size, dtype=bool)
    keep[seeds] = False
    return keep


@pytest.mark.parametrize("space", ["songs", "playlists"])
@pytest.mark.parametrize("shape", [(30, 50), (60, 25)])  # more songs; more playlists
def test_every_space_gives_the_closed_form(space: str, shape: tuple[int, int]) -> None:
    data = Interactions(random_playlists(*shape, density=0.15))
    dense = data.matrix.toarray()
    for lam, seeds in ((0.5, [0]), (5.0, [0, 3, 7]), (200.0, [1, 2, 4, 8, 16])):
        scores = ease.fit(data, lam, space).scores(np.array(seeds))
        keep = others(data.songs, seeds)
        np.testing.assert_allclose(
            scores[keep], brute_force(dense, lam, seeds)[keep], rtol=1e-9, atol=1e-12
        )


def test_the_smaller_side_is_inverted_unless_both_are_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wide = Interactions(random_playlists(30, 50, density=0.15))
    tall = Interactions(random_playlists(60, 25, density=0.15))
    assert (ease.space_for(wide), ease.fit(wide, 1.0).dimension) == ("playlists", 30)
    assert (ease.space_for(tall), ease.fit(tall, 1.0).dimension) == ("songs", tall.songs)
    monkeypatch.setattr(ease, "MAX_DIMENSION", 20)
    model = ease.fit(wide, 1.0)
    assert (model.space, model.dimension, model.songs) == ("top songs", 20, 20)


def test_top_songs_is_the_closed_form_on_the_most_popular_songs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ease, "MAX_DIMENSION", 20)
    data = Interactions(random_playlists(30, 50, density=0.15))
    top = data.matrix.toarray()[:, :20]  # songs are numbered by popularity
    assert (data.counts[:20] >= data.counts[20]).all()
    seeds = [0, 5, 30]  # song 30 is outside the model: ignored
    scores = ease.fit(data, 3.0).scores(np.array(seeds))
    assert scores.shape == (20,)
    keep = others(20, [0, 5])
    np.testing.assert_allclose(scores[keep], brute_force(top, 3.0, [0, 5])[keep], rtol=1e-9)


def test_a_large_inverse_is_mirrored_block_by_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks smaller than the matrix: the triangle LAPACK leaves must still be filled."""
    monkeypatch.setattr(ease, "_BLOCK", 64)
    data = Interactions(random_playlists(40, 60, density=0.2))
    scores = ease.fit(data, 2.0, "playlists").scores(np.array([1, 2]))
    keep = others(data.songs, [1, 2])
    np.testing.assert_allclose(
        scores[keep], brute_force(data.matrix.toarray(), 2.0, [1, 2])[keep], rtol=1e-9
    )
