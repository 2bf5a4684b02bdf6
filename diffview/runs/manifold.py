"""Where a sample is: a 2-D map of the training data and paths drawn on it.

The **map** (:func:`run_manifold_map`) is a PCA (:mod:`diffview.core.pca`) of the training
images in pixel space (model range [-1, 1], 784 dimensions for Fashion-MNIST) and a second PCA of
the bundled classifier's 128 penultimate features (:mod:`diffview.eval.classifier`), each
projected to its first two components. It is computed once per data set and cached on disk
(``$DIFFVIEW_CACHE_DIR`` when set, else the user cache folder), keyed by a hash of the images,
and written atomically.

A **path** (:func:`run_path`) is a sequence of images: the forward path x_t = sqrt(ab_t) x_0 +
sqrt(1 - ab_t) eps of one image with one eps (:func:`forward_path`; Ho et al. 2020, eq. 4), or a
sampling run's trajectory (x_t after each step and the x0 predicted on the way). For each point
it computes the two map projections, the RMS pixel distance to the nearest training image, the
classifier's class and confidence (softmax maximum), and the radially averaged power spectrum
(:mod:`diffview.core.spectral`). The classifier sees images quantised to 8 bits and clipped to
the data range, as any image it classifies.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffview.core.data import bundled_samples, load_dataset, to_uint8
from diffview.core.forward import q_sample
from diffview.core.pca import PCA, fit_pca
from diffview.core.spectral import radial_spectrum
from diffview.runs.base import CancelToken, Progress, check

__all__ = ["CACHE_ENV", "ManifoldFrame", "ManifoldMap", "ManifoldSpec", "PathFrame",
           "PathResult", "cache_dir", "forward_path", "load_images", "run_manifold_map",
           "run_path"]

CACHE_ENV = "DIFFVIEW_CACHE_DIR"
CACHE_VERSION = 1
FEATURE_CHUNK = 2000
NEAREST_CHUNK = 8192


def cache_dir() -> Path:
    """``$DIFFVIEW_CACHE_DIR``, else the platform's per-user cache folder + ``diffview``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "diffview"


@dataclass(frozen=True)
class ManifoldSpec:
    """Which training images to map.

    Attributes
    ----------
    data : str or None
        A data set path for :func:`diffview.core.data.load_dataset` (the Fashion-MNIST IDX
        folder: all 60,000 training images); None: the bundled samples.
    limit : int or None
        Use only the first ``limit`` images.
    use_cache : bool
        Read and write the on-disk cache.
    """

    data: str | None = None
    limit: int | None = None
    use_cache: bool = True


@dataclass(frozen=True, kw_only=True)
class ManifoldFrame(Progress):
    """Progress of building the map; ``stage`` says what is being done."""

    stage: str


@dataclass(eq=False)
class ManifoldMap:
    """The training data and its two 2-D maps.

    Attributes
    ----------
    images : uint8 ndarray, (N, H, W)
    labels : int64 ndarray, (N,) (-1 where unknown)
    class_names : tuple of str
    pixel_pca, feature_pca : PCA (2 components each; feature_pca None without a classifier)
    pixel_xy, feature_xy : float32 ndarray, (N, 2)
    source : str
        Where the images came from.
    from_cache : bool
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    pixel_pca: PCA
    pixel_xy: np.ndarray
    feature_pca: PCA | None
    feature_xy: np.ndarray | None
    source: str
    from_cache: bool = False
    _flat: np.ndarray | None = None
    _sq: np.ndarray | None = None

    def nearest(self, x: np.ndarray, token: CancelToken | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """RMS pixel distance (model range) from each of ``x`` (n, ...) to its nearest training
        image, and that image's index: ``(n,)`` float64 and ``(n,)`` int64."""
        if self._flat is None:
            self._flat = self.images.reshape(len(self.images), -1)
            self._sq = np.zeros(len(self.images), np.float64)
            for s in range(0, len(self.images), NEAREST_CHUNK):
                y = self._flat[s:s + NEAREST_CHUNK].astype(np.float32) / 127.5 - 1.0
                self._sq[s:s + NEAREST_CHUNK] = np.einsum("ij,ij->i", y, y)
        q = np.asarray(x, np.float32).reshape(len(x), -1)
        if q.shape[1] != self._flat.shape[1]:
            raise ValueError(f"images of {q.shape[1]} values cannot be compared with training "
                             f"images of {self._flat.shape[1]}")
        qq = np.einsum("ij,ij->i", q, q).astype(np.float64)
        best = np.full(len(q), np.inf)
        arg = np.zeros(len(q), np.int64)
        for s in range(0, len(self._flat), NEAREST_CHUNK):
            check(token)
            y = self._flat[s:s + NEAREST_CHUNK].astype(np.float32) / 127.5 - 1.0
            d = qq[:, None] - 2.0 * (q @ y.T) + self._sq[None, s:s + NEAREST_CHUNK]
            j = np.argmin(d, axis=1)
            v = d[np.arange(len(q)), j]
            better = v < best
            best[better], arg[better] = v[better], j[better] + s
        return np.sqrt(np.maximum(best, 0.0) / q.shape[1]), arg


def load_images(spec: ManifoldSpec):
    """The spec's images as an ImageSet (uint8)."""
    ds = bundled_samples() if spec.data is None else load_dataset(spec.data, "train")
    if spec.limit is not None:
        if isinstance(spec.limit, bool) or int(spec.limit) < 2:
            raise ValueError(f"limit must be at least 2 images, found {spec.limit!r}")
        ds = ds.subset(slice(0, int(spec.limit)))
    return ds


def _key(images: np.ndarray, labels: np.ndarray, has_classifier: bool) -> str:
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION} {images.shape} {has_classifier}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()[:20]


def _pca2(x: np.ndarray) -> PCA:
    n, d = x.shape[0], int(np.prod(x.shape[1:]))
    return fit_pca(x, k=2, method="covariance" if n > 2 * d else "data")


def run_manifold_map(spec: ManifoldSpec, classifier=None, token: CancelToken | None = None
                     ) -> Generator[ManifoldFrame, None, ManifoldMap]:
    """Load the images and build (or read from the cache) their two PCA maps.

    Parameters
    ----------
    spec : ManifoldSpec
    classifier : FeatureClassifier, optional
        For the feature map; None: the pixel map only.
    """
    yield ManifoldFrame(step=0, total=0, stage="loading the images")
    ds = load_images(spec)
    images = np.asarray(ds.images, np.uint8)
    if images.ndim == 4:
        images = images[..., 0] if images.shape[-1] == 1 else images.mean(-1).astype(np.uint8)
    labels = np.asarray(ds.labels if ds.labels is not None else np.full(len(images), -1),
                        np.int64)
    names = tuple(ds.class_names)
    key = _key(images, labels, classifier is not None)
    path = cache_dir() / f"manifold-{key}.npz"
    if spec.use_cache and path.is_file():
        try:
            with np.load(path) as z:
                pix = PCA.from_arrays({k[4:]: z[k] for k in z.files if k.startswith("pix_")})
                feat = PCA.from_arrays({k[5:]: z[k] for k in z.files if k.startswith("feat_")}) \
                    if "feat_mean" in z.files else None
                return ManifoldMap(images, labels, names, pix, z["pixel_xy"], feat,
                                   z["feature_xy"] if feat is not None else None, ds.source,
                                   True)
        except (OSError, KeyError, ValueError):
            pass  # a broken cache file is rebuilt below
    check(token)
    yield ManifoldFrame(step=0, total=0, stage=f"PCA of {len(images):,} images")
    x = images.reshape(len(images), -1)
    pix = fit_pca(x, k=2, method="covariance" if len(x) > 2 * x.shape[1] else "data")
    # PCA of uint8 values: the model-range PCA is the same axes, scores scaled by 1/127.5
    pix = PCA((pix.mean / 127.5 - 1.0), pix.components, pix.explained_variance / 127.5 ** 2,
              pix.total_variance / 127.5 ** 2)
    pixel_xy = np.concatenate([pix.project(x[s:s + NEAREST_CHUNK] / 127.5 - 1.0)
                               for s in range(0, len(x), NEAREST_CHUNK)]).astype(np.float32)
    feat = feature_xy = None
    if classifier is not None:
        feats = []
        total = len(images)
        for s in range(0, total, FEATURE_CHUNK):
            check(token)
            feats.append(classifier.features(images[s:s + FEATURE_CHUNK]))
            yield ManifoldFrame(step=min(s + FEATURE_CHUNK, total), total=total,
                                stage="classifier features")
        f = np.concatenate(feats).astype(np.float64)
        feat = _pca2(f)
        feature_xy = feat.project(f).astype(np.float32)
    if spec.use_cache:
        arrays = {"pixel_xy": pixel_xy, **{f"pix_{k}": v for k, v in pix.to_arrays().items()}}
        if feat is not None:
            arrays.update({"feature_xy": feature_xy,
                           **{f"feat_{k}": v for k, v in feat.to_arrays().items()}})
        try:
            from diffview.fileio import atomic_write

            with atomic_write(path, make_parents=True) as fh:
                np.savez(fh, **arrays)
        except (OSError, ValueError):
            pass  # no cache: the map is computed again next time
    return ManifoldMap(images, labels, names, pix, pixel_xy, feat, feature_xy, ds.source, False)


# ---------------------------------------------------------------------------------- paths


def forward_path(x0: np.ndarray, schedule, noise: np.ndarray, n_points: int = 60
                 ) -> tuple[np.ndarray, np.ndarray]:
    """x_t of one image at ``n_points`` paper steps 0..T, one noise for all (eq. 4).

    Returns
    -------
    xs : float32 (n_points, *x0.shape); xs[0] is x0 itself (step 0)
    steps : int64 (n_points,), paper steps t (t = timestep index + 1)
    """
    T = schedule.T  # noqa: N806
    steps = np.unique(np.rint(np.linspace(0, T, max(2, int(n_points)))).astype(np.int64))
    x0 = np.asarray(x0, np.float32)
    xs = np.empty((steps.size, *x0.shape), np.float32)
    for j, t in enumerate(steps):
        xs[j] = x0 if t == 0 else q_sample(x0, schedule, int(t) - 1, noise)
    return xs, steps


@dataclass(frozen=True, kw_only=True)
class PathFrame(Progress):
    """Progress of a path analysis (``step`` points of ``total`` done)."""


@dataclass(eq=False)
class PathResult:
    """Everything along one path; arrays over its n points (``_x0`` for the predicted x0,
    None for a forward path).

    Attributes
    ----------
    steps : int64 (n,)
        Paper step t of each point (0 = clean).
    xy, xy_x0 : float32 (n, 2), pixel-PCA positions.
    fxy, fxy_x0 : float32 (n, 2) or None, feature-PCA positions.
    dist, dist_x0 : float64 (n,), RMS distance to the nearest training image.
    cls, cls_x0 : int64 (n,); conf, conf_x0 : float64 (n,) classifier class and confidence
        (None without a classifier).
    freq : (K,) cycles per pixel; spec, spec_x0 : (n, K) radial power spectra.
    """

    steps: np.ndarray
    xy: np.ndarray
    dist: np.ndarray
    freq: np.ndarray
    spec: np.ndarray
    fxy: np.ndarray | None = None
    cls: np.ndarray | None = None
    conf: np.ndarray | None = None
    xy_x0: np.ndarray | None = None
    dist_x0: np.ndarray | None = None
    spec_x0: np.ndarray | None = None
    fxy_x0: np.ndarray | None = None
    cls_x0: np.ndarray | None = None
    conf_x0: np.ndarray | None = None


def _classify(classifier, feature_pca, x: np.ndarray):
    u8 = to_uint8(np.asarray(x, np.float32).reshape(len(x), *np.shape(x)[-2:]))
    logits, feats = classifier.run(u8)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    fxy = feature_pca.project(feats.astype(np.float64)).astype(np.float32) \
        if feature_pca is not None else None
    return p.argmax(axis=1).astype(np.int64), p.max(axis=1).astype(np.float64), fxy


def _analyse(x, manifold: ManifoldMap, classifier, token):
    flat = np.asarray(x, np.float32)
    xy = manifold.pixel_pca.project(flat.reshape(len(flat), -1)).astype(np.float32)
    dist, _ = manifold.nearest(flat, token)
    s = radial_spectrum(flat.reshape(len(flat), -1, *flat.shape[-2:]), per_image=True)
    cls = conf = fxy = None
    if classifier is not None and flat.shape[-2:] == (28, 28) and flat.reshape(
            len(flat), -1).shape[1] == 784:
        cls, conf, fxy = _classify(classifier, manifold.feature_pca, flat)
    return xy, dist, s, fxy, cls, conf


def run_path(xs: np.ndarray, steps: np.ndarray, manifold: ManifoldMap, classifier=None,
             x0s: np.ndarray | None = None, token: CancelToken | None = None,
             chunk: int = 64) -> Generator[PathFrame, None, PathResult]:
    """Analyse a path of images ``xs`` (n, C, H, W) at paper steps ``steps`` (n,) and, for a
    sampling trajectory, its x0 predictions ``x0s`` (n, C, H, W)."""
    xs = np.asarray(xs, np.float32)
    steps = np.asarray(steps, np.int64)
    if xs.ndim != 4 or steps.shape != (len(xs),):
        raise ValueError(f"expected a path (n, C, H, W) and n steps, found {xs.shape} and "
                         f"{steps.shape}")
    if x0s is not None and np.shape(x0s) != xs.shape:
        raise ValueError(f"x0 predictions {np.shape(x0s)} must have the path's shape {xs.shape}")
    n = len(xs)
    parts, parts0 = [], []
    total = n * (1 if x0s is None else 2)
    done = 0
    for s in range(0, n, chunk):
        check(token)
        parts.append(_analyse(xs[s:s + chunk], manifold, classifier, token))
        done += len(xs[s:s + chunk])
        yield PathFrame(step=done, total=total)
    if x0s is not None:
        x0s = np.asarray(x0s, np.float32)
        for s in range(0, n, chunk):
            check(token)
            parts0.append(_analyse(x0s[s:s + chunk], manifold, classifier, token))
            done += len(x0s[s:s + chunk])
            yield PathFrame(step=done, total=total)

    def cat(ps, i):
        vals = [p[i] for p in ps]
        return None if not vals or vals[0] is None else np.concatenate(vals)

    spec = np.concatenate([p[2].power for p in parts])
    out = PathResult(steps, cat(parts, 0), cat(parts, 1), parts[0][2].freq, spec,
                     cat(parts, 3), cat(parts, 4), cat(parts, 5))
    if parts0:
        out.xy_x0, out.dist_x0 = cat(parts0, 0), cat(parts0, 1)
        out.spec_x0 = np.concatenate([p[2].power for p in parts0])
        out.fxy_x0, out.cls_x0, out.conf_x0 = cat(parts0, 3), cat(parts0, 4), cat(parts0, 5)
    return out
