"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"), exactly.

The strongest simple item-item model on playlist data: a songs x songs weight matrix B
learnt in closed form, B = I - P diag(1/diag(P)) with P = (X^T X + lambda I)^-1 and
diag(B) = 0, where X is the binary playlists x songs matrix. Seeds x score x B; for a song
j that is not a seed that is

    score(j) = -sum over seeds i of P_ij / P_jj.

P is songs x songs, so it is computed in whichever space is smaller, exactly either way:

- `songs`: P inverted directly, when there are no more songs than playlists.
- `playlists` (the Woodbury identity): P = (1/lambda)(I - X^T A^-1 X), A = lambda I + X X^T.
  Then lambda P_jj = 1 - x_j^T A^-1 x_j and, for j not a seed, -lambda sum_i P_ij is the
  j-th entry of r = X^T A^-1 x_S (x_j: song j's column, x_S: the seeds' columns summed),
  so score(j) = r_j / (1 - x_j^T A^-1 x_j): only A^-1, never a songs x songs matrix.
- `top songs`: when songs and playlists both exceed MAX_DIMENSION, EASE in song space on
  the MAX_DIMENSION most popular songs. Exact for that catalogue; the other songs are
  never recommended (answers are filled with them, by popularity, only when short) and
  seeds among them are ignored.

Memory is one dense float64 matrix of side at most MAX_DIMENSION, plus the sparse X; time
is one Cholesky inversion of it per lambda tried. lambda is the best of a decade grid on a
validation split of the train part (`recsys.tools.validation`). As lambda grows, the
scores tend to the seeds' summed co-occurrence counts, so the top of the grid stands for
that simpler model and a choice there says the data favours it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg.lapack import dpotrf, dpotri

from recsys.tools.interactions import Interactions, Scorer, scored_recommender
from recsys.tools.validation import Tuned, tune
from recsys.training.holdout import Split
from recsys.training.playlists import Playlists

MAX_DIMENSION = 8000  # side of the dense matrix: 8000^2 float64 is 512 MB
LAMBDAS = (1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)
DEFAULT_LAMBDA = 100.0  # when the train split is too small to validate on
_BLOCK = 1 << 22  # entries of a dense block built at a time (32 MB)


@dataclass(frozen=True)
class Ease:
    """A fitted EASE: how it was computed, and its scores for a set of seeds."""

    lam: float
    space: str  # "songs", "playlists" or "top songs" (see the module's docstring)
    dimension: int  # side of the inverted matrix
    songs: int  # songs it scores: the first `songs` by popularity
    scores: Scorer

    def describe(self) -> dict[str, object]:
        return {
            "lambda": self.lam,
            "space": self.space,
            "dimension": self.dimension,
            "songs": self.songs,
        }


def space_for(data: Interactions) -> str:
    """The smaller side, unless both exceed MAX_DIMENSION (then the top songs)."""
    if min(data.songs, data.playlists) > MAX_DIMENSION:
        return "top songs"
    return "songs" if data.songs <= data.playlists else "playlists"


def fit(data: Interactions, lam: float, space: str | None = None) -> Ease:
    """EASE with regularisation `lam`, in `space` (by default `space_for(data)`)."""
    space = space or space_for(data)
    if space == "playlists":
        return Ease(lam, space, data.playlists, data.songs, _playlist_space(data, lam))
    songs = min(data.songs, MAX_DIMENSION) if space == "top songs" else data.songs
    matrix = data.transposed[:songs]  # songs x playlists: the most popular come first
    return Ease(lam, space, songs, songs, _song_space(matrix, lam))


def _song_space(columns: sparse.csr_matrix, lam: float) -> Scorer:
    """score = -P[seeds].sum / diag(P), P = (X^T X + lam I)^-1; seeds past P are ignored."""
    inverse = _inverse(_gram(columns), lam)
    diagonal = inverse.diagonal().copy()

    def scores(seeds: np.ndarray) -> np.ndarray:
        inside = seeds[seeds < diagonal.size]
        return -inverse[inside].sum(axis=0) / diagonal

    return scores


def _playlist_space(data: Interactions, lam: float) -> Scorer:
    """score = r / (1 - d), r = X^T A^-1 x_S, d_j = x_j^T A^-1 x_j, A = X X^T + lam I."""
    inverse = _inverse(_gram(data.matrix), lam)
    denominator = 1.0 - _quadratic_forms(data.transposed, inverse)

    def scores(seeds: np.ndarray) -> np.ndarray:
        together = np.asarray(data.transposed[seeds].sum(axis=0)).ravel()  # x_S
        return (data.transposed @ (inverse @ together)) / denominator

    return scores


def _gram(rows: sparse.csr_matrix) -> np.ndarray:
    """rows @ rows.T as a dense matrix, a block of rows at a time (no dense copy of rows)."""
    size = rows.shape[0]
    gram = np.empty((size, size))
    step = max(1, _BLOCK // max(size, 1))
    for start in range(0, size, step):
        gram[start : start + step] = (rows[start : start + step] @ rows.T).toarray()
    return gram


def _inverse(gram: np.ndarray, lam: float) -> np.ndarray:
    """(gram + lam I)^-1, by Cholesky (the matrix is symmetric positive definite), in place."""
    gram[np.diag_indices_from(gram)] += lam
    factor, info = dpotrf(gram, lower=0, overwrite_a=1, clean=0)
    if info == 0:
        inverse, info = dpotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise ArithmeticError(f"EASE: Cholesky inversion failed (LAPACK info {info})")
    _mirror_upper(inverse)
    return inverse


def _mirror_upper(matrix: np.ndarray) -> None:
    """Copy the upper triangle (what LAPACK wrote) onto the lower, a block at a time."""
    size = matrix.shape[0]
    step = max(1, _BLOCK // max(size, 1))
    for start in range(0, size, step):
        end = min(size, start + step)
        matrix[start:end, :start] = matrix[:start, start:end].T
        block = matrix[start:end, start:end]
        block[:] = np.triu(block) + np.triu(block, 1).T


def _quadratic_forms(rows: sparse.csr_matrix, inverse: np.ndarray) -> np.ndarray:
    """x^T inverse x for every row x of `rows`, a block of rows at a time."""
    forms = np.empty(rows.shape[0])
    step = max(1, _BLOCK // max(inverse.shape[0], 1))
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        forms[start : start + step] = np.asarray(
            block.multiply(block @ inverse).sum(axis=1)
        ).ravel()
    return forms


def tuned_ease(train: Playlists, validation: Split | None, k: int) -> Tuned:
    """EASE on the train split, lambda the best of LAMBDAS by NDCG@k on `validation`."""
    lam = DEFAULT_LAMBDA
    ndcgs: dict[float, float] = {}
    if validation is not None:
        inner = Interactions(validation.train)
        lam, ndcgs = tune(
            LAMBDAS,
            lambda point: scored_recommender(inner, fit(inner, point).scores),
            validation,
            k,
        )
    data = Interactions(train)
    model = fit(data, lam)
    return Tuned(
        recommend=scored_recommender(data, model.scores),
        params=model.describe(),
        validation_queries=len(validation.queries) if validation else 0,
        validation_ndcg=ndcgs.get(lam),
        grid=[{"lambda": point, "ndcg": value} for point, value in ndcgs.items()],
    )
