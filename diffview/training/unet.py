"""A small UNet that predicts the noise epsilon of a noisy image (Ho et al. 2020, appendix B).

Layout, for ``widths=(c0, c1, c2)`` and a 28x28 input::

    conv_in -> [ResBlock x blocks[0]] @28 (c0) -> down -> [ResBlock x blocks[1]] @14 (c1)
            -> down -> [ResBlock x blocks[2] (+attention)] @7 (c2)
            -> mid: ResBlock, attention, ResBlock @7
            -> up path mirroring the down path, each level concatenating its skip
            -> GroupNorm, SiLU, conv_out

Width is cheapest where the resolution is small, so the parameter budget sits at the lowest
level and the full-resolution level stays narrow: most FLOPs are spent at 28x28.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, ``(B,) -> (B, dim)``.

    As in the Transformer positional encoding: frequencies are geometric between 1 and
    ``1 / max_period``; the first half of the features are cosines, the second half sines.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def _groups(channels: int) -> int:
    for g in (8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added in between (Ho et al.)."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.t_proj = nn.Linear(t_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        # Start each block as the identity so the deep net trains from the first step.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.t_proj(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with a residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        attn = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        out = torch.einsum("bij,bcj->bci", attn, v).reshape(b, c, h, w)
        return x + self.proj(out)


class UNet(nn.Module):
    """Epsilon network for ``(B, C, H, W)`` images; ``H`` and ``W`` must be divisible by 4.

    Parameters
    ----------
    channels : image channels C.
    widths : feature channels at full, half and quarter resolution.
    blocks : ResBlocks per level on the way down (the way up uses the same count).
    attention : put self-attention after the quarter-resolution blocks and in the middle.
    t_dim : size of the sinusoidal time embedding, default ``max(64, widths[0])`` (the MLP
        after it uses ``4 * widths[0]``,
        at least 128 features).
    time_scale : multiplies the time input before embedding (1 for timestep indices).
    num_classes : real classes of a class-conditional network (0: unconditional). The network
        then has ``class_emb``, a learned embedding of ``num_classes + 1`` rows (the last,
        ``num_classes``, is the null class of classifier-free guidance, Ho and Salimans 2022)
        added to the time embedding. It starts at zero, so a conditional network made from an
        unconditional one's weights computes exactly what that one did.
    """

    def __init__(
        self,
        channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128),
        blocks: tuple[int, ...] = (1, 1, 2),
        attention: bool = True,
        t_dim: int | None = None,
        time_scale: float = 1.0,
        dropout: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if len(widths) != 3 or len(blocks) != 3:
            raise ValueError("widths and blocks need one entry per level (3 levels)")
        self.time_scale = float(time_scale)
        self.t_dim = t_dim or max(64, widths[0])
        emb = max(128, 4 * widths[0])
        self.time_mlp = nn.Sequential(
            nn.Linear(self.t_dim, emb), nn.SiLU(), nn.Linear(emb, emb)
        )
        self.num_classes = int(num_classes)
        if self.num_classes > 0:
            self.class_emb = nn.Embedding(self.num_classes + 1, emb)
            nn.init.zeros_(self.class_emb.weight)
        self.conv_in = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c = widths[0]
        for level, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            self.down.append(nn.ModuleList(
                [ResBlock(c if i == 0 else w, w, emb, dropout) for i in range(n)]))
            c = w
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(w, widths[level + 1], 3, stride=2, padding=1))
                c = widths[level + 1]
        self.attn_down = SelfAttention(c) if attention else nn.Identity()
        self.mid1 = ResBlock(c, c, emb, dropout)
        self.mid_attn = SelfAttention(c) if attention else nn.Identity()
        self.mid2 = ResBlock(c, c, emb, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(widths))):
            w, n = widths[level], blocks[level]
            self.up.append(nn.ModuleList(
                [ResBlock(2 * w if i == 0 else w, w, emb, dropout) for i in range(n)]))
            if level > 0:
                self.upsample.append(nn.Conv2d(w, widths[level - 1], 3, padding=1))
        self.norm_out = nn.GroupNorm(_groups(widths[0]), widths[0])
        self.conv_out = nn.Conv2d(widths[0], channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """Predict epsilon: ``x (B, C, H, W)``, timestep indices ``t (B,)`` -> ``(B, C, H, W)``.

        ``labels (B,)`` int64 in ``0 .. num_classes`` (``num_classes`` is the null class) for a
        conditional network; None there means the null class for every row. An unconditional
        network ignores them.
        """
        temb = self.time_mlp(timestep_embedding(t.to(torch.float32) * self.time_scale, self.t_dim))
        if self.num_classes > 0:
            if labels is None:
                labels = torch.full((x.shape[0],), self.num_classes, dtype=torch.int64,
                                    device=x.device)
            temb = temb + self.class_emb(labels.to(torch.int64))
        h = self.conv_in(x)
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, temb)
            if level == len(self.down) - 1:
                h = self.attn_down(h)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for i, blocks in enumerate(self.up):
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, temb)
            if i < len(self.upsample):
                # Change width at the low resolution, then repeat pixels: 4x fewer FLOPs than
                # a convolution after the upsampling, and the next ResBlock smooths the blocks.
                h = F.interpolate(self.upsample[i](h), scale_factor=2.0, mode="nearest")
        return self.conv_out(F.silu(self.norm_out(h)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
