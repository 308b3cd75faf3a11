"""The train split as a binary playlists x songs matrix, and answers ranked from scores.

The item-item baselines (`recsys.tools.ease`, `recsys.tools.knn`) are linear algebra over
this matrix, so they share its numbering and the way a vector of scores becomes an
`Answer`. Songs are numbered by popularity rank (0 is the most popular, ties by key), as
in `recsys.tools.cooccurrence`: a tie in score then goes to the more popular song, and
the popularity fill is the songs in number order.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

import numpy as np
from scipy import sparse

from recsys.training.mining import song_ids
from recsys.training.playlists import Playlists
from recsys.training.scoring import Answer, Recommender

# Scores a few ulps apart are the same score computed in a different order (two songs
# with the same playlists, say); rounding them, relative to the best score, makes such
# ties go to the more popular song in every run instead of to rounding noise.
_RELATIVE_DIGITS = 9


class Interactions:
    """`matrix[p, s]` is 1.0 when train playlist p holds song s (CSR), and its transpose.

    `keys[s]` is song s's key; `counts[s]` how many train playlists hold it.
    """

    def __init__(self, train: Playlists) -> None:
        songs = song_ids(train)  # numbered by popularity, as the rules number them
        self.keys: list[str] = train.keys.gather(songs["song"]).to_list()
        self.ids = {key: song for song, key in enumerate(self.keys)}
        self.counts = songs["count"].to_numpy().astype(np.float64)
        pairs = train.pairs.join(songs.select("song", "id"), on="song")
        rows = (pairs["pid"].rank("dense") - 1).to_numpy().astype(np.int64)
        columns = pairs["id"].to_numpy().astype(np.int64)
        shape = (train.playlist_count, len(self.keys))
        self.matrix = sparse.csr_matrix(
            (np.ones(rows.size), (rows, columns)), shape=shape, dtype=np.float64
        )
        self.transposed = self.matrix.T.tocsr()

    @property
    def playlists(self) -> int:
        return self.matrix.shape[0]

    @property
    def songs(self) -> int:
        return self.matrix.shape[1]

    def known(self, seeds: list[str]) -> np.ndarray:
        """The numbers of the seeds the train split holds, sorted, without repeats."""
        return np.array(sorted({self.ids[song] for song in seeds if song in self.ids}), dtype=int)


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """The numbers of the n best finite scores, best first; ties go to the lower number.

    Only the songs at or above the n-th best score are sorted, so a catalogue of hundreds
    of thousands of songs costs one partition per answer, not one sort.
    """
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size > n > 0:
        threshold = np.partition(scores[finite], finite.size - n)[finite.size - n]
        finite = finite[scores[finite] >= threshold]
    order = np.lexsort((finite, -scores[finite]))
    return finite[order][:n]


def rounded(scores: np.ndarray) -> np.ndarray:
    """Scores rounded relative to the largest magnitude (see _RELATIVE_DIGITS)."""
    scale = np.max(np.abs(scores[np.isfinite(scores)]), initial=0.0)
    if scale == 0.0:
        return scores
    return np.round(scores / scale, _RELATIVE_DIGITS)


Scorer = Callable[[np.ndarray], np.ndarray]  # known seed numbers -> a score per song


def scored_recommender(data: Interactions, scorer: Scorer) -> Recommender:
    """Rank songs by `scorer` (seeds excluded); a song scored 0 counts as popularity fill.

    `scorer` may score only the first m songs (a model of the most popular ones); the
    others come after, by popularity, as fill. The last query's scores are kept, because
    `score` asks each query twice (k songs, then as many as are hidden).
    """
    last: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    def recommend(seeds: list[str], n: int) -> Answer:
        key = tuple(seeds)
        if key not in last:
            known = data.known(seeds)
            scores = rounded(scorer(known)) if known.size else np.zeros(data.songs)
            scores[known[known < scores.size]] = -np.inf
            last.clear()
            last[key] = (known, scores)
        known, scores = last[key]
        chosen = top(scores, n).tolist()
        filled = sum(1 for song in chosen if scores[song] == 0.0)
        if len(chosen) < n:
            taken = set(known.tolist())
            rest = (s for s in range(scores.size, data.songs) if s not in taken)
            extra = list(islice(rest, n - len(chosen)))
            chosen += extra
            filled += len(extra)
        return Answer([data.keys[song] for song in chosen], filled=filled)

    return recommend
