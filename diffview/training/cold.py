"""Cold-diffusion restoration networks: R(x_s, s) ~ x_0, trained with the L1 loss on x_0.

Objective (Bansal et al. 2022, eq. 1): min_R E_{x_0, s} |R(D(x_0, s), s) - x_0|_1 with
s ~ U{1..T} and D the degradation of :class:`diffview.core.cold.ColdDegradation` (the forward
panel's blur, mask or pixelation, applied with the numpy code itself so that training and the
app degrade identically). The network sees the step index s - 1 (0..T-1), like an epsilon
network sees its timestep index.

The network is the project's :class:`~diffview.training.unet.UNet` with a residual output,
R(x, s) = x + UNet(x, s - 1): at small s the degraded image is nearly x_0 already, and a UNet
whose last convolution starts at zero then starts as the identity instead of as zero. The
exported ONNX graph contains the addition, so its output is x0_hat itself.

Mask: every training image gets a fresh random pixel order, so the network cannot memorise one
order; it finds the masked pixels from the image (they hold ``fill``) and the step. A sampler
must then degrade with the same order the image was masked with (the run layer passes it).

Generation start (blur, pixelate): :func:`cold_start_for` fits the mixture of
:func:`diffview.core.cold.fit_cold_start` to the fully degraded training images at export, and
the exporter stores it in the model's metadata (``extra["cold_start"]``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from diffview.core.cold import ColdDegradation, ColdStart, fit_cold_start
from diffview.core.forward import mask_order
from diffview.training.unet import UNet

# Steps of each degradation when --T is not given: blur and mask in 50 steps (sigma grows by
# 0.14 px, or 16 pixels are hidden, per step); pixelate in 27, one block size (1..28) per step
# on 28 px images.
DEFAULT_T = {"blur": 50, "mask": 50, "pixelate": 27}
# Degradations whose fully degraded images still vary between images (a start distribution
# can be fitted); the fully masked image is the same constant for every x_0.
GENERATIVE = ("blur", "pixelate")
# Training images used to fit the start mixture (the first 20,000 of Fashion-MNIST).
START_FIT_IMAGES = 20_000


class ColdRestorer(nn.Module):
    """R(x, t_index) = x + UNet(x, t_index): a residual restoration network."""

    def __init__(self, net: UNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x + self.net(x, t)


def build_cold_model(config, sample_shape: tuple[int, ...]) -> ColdRestorer:
    """The restoration network a cold config describes (images only)."""
    if len(sample_shape) != 3:
        raise ValueError("cold diffusion restores images; the data are points")
    return ColdRestorer(UNet(channels=sample_shape[0], widths=config.widths,
                             blocks=config.blocks, attention=config.attention))


def degradation_for(config) -> ColdDegradation:
    """The :class:`ColdDegradation` of a config with ``config.cold`` set."""
    return ColdDegradation(config.cold, config.T)


def degrade_batch(deg: ColdDegradation, x0: np.ndarray, steps: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """D(x0_i, s_i) for a batch (B, C, H, W); masks draw one random order per image."""
    if deg.name == "mask":
        orders = np.stack([mask_order(x0.shape, rng) for _ in range(x0.shape[0])])
        return deg.apply(x0, steps, orders)
    return deg.apply(x0, steps)


def cold_batch_loss(run) -> torch.Tensor:
    """One batch of the L1 objective for :class:`diffview.training.loop._Run`.

    Draws from ``run.rng`` only (images, steps, mask orders), so a resumed run continues with
    the same batches.
    """
    c = run.config
    deg = degradation_for(c)
    idx = run.rng.integers(0, run.data.images.shape[0], size=c.batch_size)
    x0 = run.data.images[idx]
    steps = run.rng.integers(1, c.T + 1, size=c.batch_size)
    xs = degrade_batch(deg, x0, steps, run.rng)
    x0_t = torch.from_numpy(np.ascontiguousarray(x0))
    xs_t = torch.from_numpy(np.ascontiguousarray(xs, dtype=np.float32))
    t = torch.from_numpy(steps - 1)
    if run.device.type != "cpu":
        x0_t, xs_t, t = x0_t.to(run.device), xs_t.to(run.device), t.to(run.device)
    return torch.mean(torch.abs(run.model(xs_t, t) - x0_t))


@torch.no_grad()
def cold_preview(run, n: int = 8) -> np.ndarray:
    """Algorithm 2 from fully degraded training images (the first ``n``), EMA weights."""
    from diffview.core.cold import restore

    c = run.config
    deg = degradation_for(c)
    run.ema.eval()
    x0 = run.data.images[:n]
    order = mask_order(x0.shape, np.random.default_rng(12345)) if deg.name == "mask" else None
    x_t = deg.apply(x0, c.T, order)

    def r(x: np.ndarray, s: np.ndarray) -> np.ndarray:
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(run.device)
        tt = torch.from_numpy(s - 1).to(run.device)
        return run.ema(xt, tt).cpu().numpy()

    return np.clip(restore(r, deg.bind(order), x_t, c.T, algorithm=2), -1, 1)


def cold_start_for(config, images: np.ndarray | None = None, seed: int = 0) -> ColdStart | None:
    """Fit the generation start distribution to the fully degraded training images.

    Returns None for a degradation that cannot start a generation (mask).
    """
    if config.cold not in GENERATIVE:
        return None
    if images is None:
        from diffview.training.data import load_training_data

        images = load_training_data(config.data, config.image_size, config.channels).images
    images = images[:START_FIT_IMAGES]
    deg = degradation_for(config)
    x_T = deg.apply(images, config.T)  # noqa: N806
    what = (f"the first {len(images)} training images of {config.data!r} fully degraded "
            f"({deg.name}, step T = {config.T})")
    return fit_cold_start(x_T, np.random.default_rng(seed), description=what)


def cold_model_info(info, config, state: dict):
    """``info`` (an eps model's ModelInfo from the exporter) made into a restoration model's:
    prediction "x0", the degradation with its schedule, and the start distribution."""
    deg = degradation_for(config)
    shape = tuple(int(v) for v in state["sample_shape"])
    extra = {**info.extra, "architecture": "unet-residual-restorer", "loss": "l1_x0",
             "objective": "Bansal et al. 2022 eq. 1: |R(D(x0, s), s) - x0|_1, s ~ U{1..T}; "
                          "network input index s - 1"}
    start = cold_start_for(config, seed=config.seed)
    if start is not None:
        extra["cold_start"] = start.to_dict()
    return info.replace(prediction="x0", degradation=deg.to_dict(shape), extra=extra)


__all__ = ["DEFAULT_T", "GENERATIVE", "ColdRestorer", "build_cold_model", "cold_batch_loss",
           "cold_model_info", "cold_preview", "cold_start_for", "degradation_for",
           "degrade_batch"]
