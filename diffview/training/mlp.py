"""Epsilon network for 2-D points with a continuous time input."""

from __future__ import annotations

import torch
from torch import nn

from diffview.training.unet import timestep_embedding


class PointMLP(nn.Module):
    """``eps(x, time)`` for points ``x (B, d)`` and continuous time ``(B,)`` in [0, 1].

    ``x`` enters with ``fourier`` octaves of sine and cosine features. The time goes through a
    sinusoidal embedding (scaled by ``time_scale`` so that [0, 1]
    spans many periods) and a small MLP, and is concatenated with ``x`` at the input and
    added at each hidden layer.
    """

    def __init__(self, dim: int = 2, hidden: int = 128, layers: int = 3, t_dim: int = 32,
                 time_scale: float = 1000.0, fourier: int = 6) -> None:
        super().__init__()
        self.t_dim = t_dim
        self.time_scale = float(time_scale)
        # Fourier features of x: sin and cos of 2^k x for k < fourier. A plain MLP on raw 2-D
        # coordinates is biased towards smooth functions and blurs thin structures such as
        # rings or the squares of a checkerboard; these features let it be sharp.
        self.register_buffer("freqs", 2.0 ** torch.arange(fourier, dtype=torch.float32),
                             persistent=False)
        dim_in = dim * (1 + 2 * fourier)
        self.time_mlp = nn.Sequential(
            nn.Linear(t_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.inp = nn.Linear(dim_in, hidden)
        self.hidden = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(layers)])
        self.t_proj = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(layers)])
        self.out = nn.Linear(hidden, dim)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict epsilon, ``(B, d), (B,) -> (B, d)``."""
        temb = self.time_mlp(timestep_embedding(t.to(torch.float32) * self.time_scale, self.t_dim))
        if self.freqs.numel():
            xf = (x[:, :, None] * self.freqs).flatten(1)
            x = torch.cat([x, torch.sin(xf), torch.cos(xf)], dim=1)
        h = self.inp(x)
        for layer, proj in zip(self.hidden, self.t_proj, strict=True):
            h = layer(self.act(h + proj(temb)))
        return self.out(self.act(h))
