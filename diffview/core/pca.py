"""Principal component analysis by the SVD of the centred data.

For data X (N, D) with mean mu, the thin SVD ``X - mu = U S V^T`` gives the principal axes as the
rows of V^T (unit vectors, by decreasing variance), the explained variances ``S^2 / (N - 1)``
and the scores ``(X - mu) V``; a point's reconstruction from k components is
``mu + scores[:k] V[:, :k]^T`` (Jolliffe 2002, ch. 1; Pearson 1901). Signs are fixed so the
largest-magnitude entry of each axis is positive, which makes the result deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PCA", "fit_pca"]


@dataclass(frozen=True)
class PCA:
    """A fitted PCA.

    Attributes
    ----------
    mean : ndarray, (D,)
    components : ndarray, (k, D)
        Orthonormal principal axes, by decreasing variance.
    explained_variance : ndarray, (k,)
        Variance of the data along each axis (S^2 / (N - 1)).
    total_variance : float
        Sum of the variances of every original dimension (trace of the covariance).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    total_variance: float

    @property
    def explained_ratio(self) -> np.ndarray:
        """Fraction of the total variance each component explains, (k,)."""
        return self.explained_variance / max(self.total_variance, 1e-300)

    def project(self, x: np.ndarray, k: int | None = None) -> np.ndarray:
        """Scores of ``x`` (N, D) or (D,) on the first ``k`` components: (N, k) or (k,)."""
        x = np.asarray(x, dtype=np.float64)
        one = x.ndim == 1
        x2 = x.reshape(1, -1) if one else x.reshape(len(x), -1)
        if x2.shape[1] != self.mean.size:
            raise ValueError(f"expected {self.mean.size} features, found {x2.shape[1]}")
        comp = self.components if k is None else self.components[:k]
        s = (x2 - self.mean) @ comp.T
        return s[0] if one else s

    def reconstruct(self, scores: np.ndarray) -> np.ndarray:
        """Points (N, D) from their scores (N, k) on the first k components."""
        s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
        return self.mean + s @ self.components[:s.shape[1]]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "components": self.components,
                "explained_variance": self.explained_variance,
                "total_variance": np.array(self.total_variance)}

    @classmethod
    def from_arrays(cls, d) -> PCA:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["components"], np.float64),
                   np.asarray(d["explained_variance"], np.float64),
                   float(np.asarray(d["total_variance"])))


def fit_pca(x: np.ndarray, k: int | None = None, method: str = "data") -> PCA:
    """Fit a PCA to ``x`` (N, D) (or (N, ...) flattened) keeping ``k`` components (None: all).

    ``method="data"`` takes the SVD of the centred data; ``"covariance"`` the SVD of the D x D
    covariance accumulated in chunks (the same axes and variances up to rounding, in O(D^2)
    memory: what 60,000 images of 784 pixels need).

    Raises
    ------
    ValueError
        For fewer than two points, non-finite values or ``k`` outside 1..min(N, D).
    """
    a = np.asarray(x)
    if a.ndim < 2 or a.shape[0] < 2:
        raise ValueError(f"PCA needs at least two points as (N, D), found shape {a.shape}")
    a = a.reshape(a.shape[0], -1)
    if a.dtype.kind not in "uif":
        raise ValueError(f"PCA data must be numbers, found dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError("PCA data contain NaN or infinite values")
    n, d = a.shape
    kmax = min(n, d)
    if k is None:
        k = kmax
    if isinstance(k, bool) or not 1 <= int(k) <= kmax:
        raise ValueError(f"k must be in 1..{kmax}, found {k!r}")
    mean = a.mean(axis=0, dtype=np.float64)
    if method == "data":
        centred = a.astype(np.float64) - mean
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        var_all = s ** 2 / (n - 1)
    elif method == "covariance":
        cov = np.zeros((d, d))
        for start in range(0, n, 8192):
            c = a[start:start + 8192].astype(np.float64) - mean
            cov += c.T @ c
        cov /= n - 1
        _, var_all, vt = np.linalg.svd(cov)
    else:
        raise ValueError(f"method must be 'data' or 'covariance', found {method!r}")
    vt = vt[:k]
    flip = np.sign(vt[np.arange(k), np.argmax(np.abs(vt), axis=1)])
    flip[flip == 0] = 1.0
    vt = vt * flip[:, None]
    var = var_all[:k]
    total = float(var_all.sum())
    return PCA(mean, vt, var, total)
