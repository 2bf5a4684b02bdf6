"""Radially averaged power spectra of images.

Dieleman (2024, "Diffusion is spectral autoregression") shows that natural images have a power
spectrum that falls roughly as a power law in the spatial frequency, while Gaussian noise has a
flat one. Adding noise of variance sigma^2 to an image adds the constant sigma^2 to its (per-pixel
normalised) spectrum, so as t grows the noise floor rises and covers the high frequencies first:
denoising recovers the image coarse to fine, an approximate autoregression over frequency.

Conventions. For one channel x of shape (H, W) the 2-D power is ``P[k] = |F[k]|^2 / (H W)``
with F the unnormalised DFT (``numpy.fft.fft2``). By Parseval's theorem ``sum_k P[k] = sum x^2``,
and white noise of variance s^2 has ``E P[k] = s^2`` at every k. The radial average groups the
frequencies by their radius ``|k| = sqrt(fy^2 + fx^2)`` in cycles per pixel (0 .. sqrt(2)/2)
into bins of width 1/max(H, W) and averages P over each bin (and over channels and images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RadialSpectrum", "power_2d", "radial_bins", "radial_spectrum"]


@dataclass(frozen=True)
class RadialSpectrum:
    """A radially averaged power spectrum.

    Attributes
    ----------
    freq : ndarray, (K,)
        Centre of each radius bin, cycles per pixel (DC excluded, so all > 0).
    power : ndarray, (K,) or (N, K)
        Mean power in each bin (per image when ``per_image``).
    counts : ndarray, (K,) int
        Number of 2-D frequencies in each bin.
    """

    freq: np.ndarray
    power: np.ndarray
    counts: np.ndarray


def _as_images(x: np.ndarray) -> np.ndarray:
    """(C, H, W) or (N, C, H, W) or (H, W) -> float64 (N, C, H, W)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    elif a.ndim != 4:
        raise ValueError(f"expected images of shape (H, W), (C, H, W) or (N, C, H, W), "
                         f"found {a.shape}")
    if a.shape[-1] < 2 or a.shape[-2] < 2:
        raise ValueError(f"images must be at least 2 x 2 pixels, found {a.shape[-2:]}")
    if not np.all(np.isfinite(a)):
        raise ValueError("images contain NaN or infinite values")
    return a


def power_2d(x: np.ndarray) -> np.ndarray:
    """The 2-D power ``|fft2(x)|^2 / (H W)`` of every channel.

    Parameters
    ----------
    x : ndarray, (H, W), (C, H, W) or (N, C, H, W)

    Returns
    -------
    ndarray, (N, C, H, W) float64; ``power_2d(x).sum((-2, -1)) == (x ** 2).sum((-2, -1))``
    (Parseval).
    """
    a = _as_images(x)
    h, w = a.shape[-2:]
    f = np.fft.fft2(a, axes=(-2, -1))
    return (f.real ** 2 + f.imag ** 2) / (h * w)


def radial_bins(h: int, w: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin index of every 2-D frequency of an (h, w) image, the bins' centres and their number.

    Bin 0 is the DC term alone; bins 1..K cover radii ((j - 1/2) / n, (j + 1/2) / n], n = max(h, w).

    Returns
    -------
    index : ndarray, (h, w) int
    centres : ndarray, (K + 1,) cycles per pixel (centres[0] = 0)
    n_bins : int, K + 1
    """
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    n = max(h, w)
    r = np.sqrt(fy ** 2 + fx ** 2) * n
    index = np.rint(r).astype(np.int64)
    n_bins = int(index.max()) + 1
    return index, np.arange(n_bins) / n, n_bins


def radial_spectrum(x: np.ndarray, per_image: bool = False) -> RadialSpectrum:
    """Radially averaged power spectrum of images (Dieleman 2024).

    Parameters
    ----------
    x : ndarray, (H, W), (C, H, W) or (N, C, H, W)
    per_image : bool
        False: one spectrum averaged over images and channels, ``power`` (K,); True: one per
        image (averaged over channels), ``power`` (N, K).

    Returns
    -------
    RadialSpectrum without the DC bin (its power is the squared mean, not a frequency content).
    """
    p = power_2d(x)                                     # (N, C, H, W)
    n, c, h, w = p.shape
    index, centres, n_bins = radial_bins(h, w)
    flat = index.ravel()
    counts = np.bincount(flat, minlength=n_bins)
    per = p.mean(axis=1).reshape(n, h * w)              # channel mean, (N, H W)
    sums = np.stack([np.bincount(flat, weights=row, minlength=n_bins) for row in per])
    power = sums / counts                               # every bin has >= 1 frequency
    power = power[:, 1:]
    if not per_image:
        power = power.mean(axis=0)
    return RadialSpectrum(centres[1:], power, counts[1:])
