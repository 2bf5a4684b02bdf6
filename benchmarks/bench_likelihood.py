"""Time to a bits/dim figure for the bundled model: the DDPM bound and the ODE likelihood.

Three measurements on the first images of the Fashion-MNIST test split (``../shared/data/
fashion-mnist``, skipped with a note when absent), through :mod:`diffview.runs.likelihood`
exactly as ``diffview nll`` runs them:

1. the fast (stratified) estimator of the bound until its standard error is at most 0.05
   bits/dim, on ``n_fast`` images (default 1000);
2. the full T-term pass (every term of every image, one x_t draw each) on ``n_full`` images
   (default 100);
3. the probability-flow ODE likelihood (Heun, 100 steps, one probe) on ``n_ode`` images
   (default 20).

Each row gives the figure with its standard error, the seconds, the network evaluations (one
image at one timestep) and the milliseconds per evaluation. The CPU is shared: the load average
is printed with the rows.

``--fd`` prints instead the finite-difference error table of docs/likelihood.md: the ONNX
network's forward and central difference JVPs against torch's exact one (needs torch and the
training checkpoint).

Run alone: ``.venv/bin/python -m benchmarks.bench_likelihood [--n-full N] [--n-fast N]
[--n-ode N] [--fd]``; or ``python -m benchmarks likelihood``, which also updates docs/BENCHMARKS.md.
The full pass takes about 1000 x n_full network evaluations (about 10 minutes for 100 images on
a quiet 2-core CPU).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist"
TARGET_STDERR = 0.05


def _row(label: str, r, n: int) -> str:
    ms = 1e3 * r.seconds / max(r.network_evals, 1)
    return (f"| {label} | {n:,} | {r.bits_per_dim:.3f} +- {r.stderr:.3f} | {r.seconds:.0f} | "
            f"{r.network_evals:,} | {ms:.2f} |")


def run(n_full: int = 100, n_fast: int = 1000, n_ode: int = 20) -> str:
    """Measure; return the markdown section."""
    from diffview.core.data import load_dataset
    from diffview.engine import load_default
    from diffview.runs.base import run_to_end
    from diffview.runs.likelihood import ElboSpec, OdeSpec, run_elbo, run_ode_nll

    head = "## Likelihood (bits/dim)\n\n"
    if not DATA.is_dir():
        return head + f"Skipped: the Fashion-MNIST folder {DATA} is not present.\n"
    model = load_default()
    images = load_dataset(DATA, split="test").images
    load0 = os.getloadavg()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    fast = {}
    for variance in ("small", "large"):
        spec = ElboSpec(variance=variance, estimator="fast", target_stderr=TARGET_STDERR)
        r = run_to_end(run_elbo(spec, model, images[:n_fast]))
        fast[variance] = r
        rows.append(_row(f"ELBO fast, {variance}, to +-{TARGET_STDERR} ({r.passes} pass(es))",
                         r, n_fast))
    full = run_to_end(run_elbo(ElboSpec(variance="small", batch=100), model,
                               images[:n_full]))
    rows.append(_row("ELBO full T-term pass, small", full, n_full))
    ode = run_to_end(run_ode_nll(OdeSpec(n_steps=100, batch=50), model, images[:n_ode]))
    rows.append(_row(f"ODE, {ode.n_steps} Heun steps, 1 probe", ode, n_ode))
    load1 = os.getloadavg()
    table = "\n".join(["| Estimate | Images | bits/dim | Seconds | Network evaluations | "
                       "ms / evaluation |", "| --- | ---: | ---: | ---: | ---: | ---: |", *rows])
    fs = fast["small"]
    return (head
            + f"Measured {when} with `python -m benchmarks likelihood` (load average "
              f"{load0[0]:.1f} before, {load1[0]:.1f} after), the bundled model on the first "
              "images of the Fashion-MNIST test split, onnxruntime on the CPU. One network "
              "evaluation is one image at one timestep.\n\n"
            + table + "\n\n"
            + f"Target: a +-{TARGET_STDERR} bits/dim bound (n = {n_fast:,}) in "
              f"{fs.seconds:.0f} s; the full {full.terms_bpd.size - 1}-term pass for "
              f"{n_full} images in {full.seconds:.0f} s.\n")


FD_LEVELS = (0, 10, 100, 400, 999)
FD_RELS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)


def fd_errors(n_images: int = 4, seed: int = 0) -> str:
    """Finite-difference JVPs of the ONNX network against torch's exact forward-mode JVP.

    The reference is ``torch.func.jvp`` of the same UNet built from the training checkpoint's
    EMA weights (``training-state/fashion/checkpoint.pt``); returns a markdown table of the mean
    relative error of v^T J v (forward / central) for one Rademacher probe per image.
    """
    import numpy as np
    import torch

    from diffview.core.data import load_dataset, to_model_range
    from diffview.core.forward import q_sample
    from diffview.engine import load_default
    from diffview.training.checkpoint import load_checkpoint
    from diffview.training.unet import UNet

    model = load_default()
    schedule = model.info.make_schedule()
    state = load_checkpoint(Path(__file__).resolve().parents[1] / "training-state" / "fashion"
                            / "checkpoint.pt")
    cfg = state["config"]
    net = UNet(channels=1, widths=tuple(cfg["widths"]), blocks=tuple(cfg["blocks"]),
               attention=cfg["attention"])
    net.load_state_dict(state["ema"])
    net.eval()
    x0 = to_model_range(load_dataset(DATA, split="test").images[:n_images]).astype(np.float64)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x0.shape)
    v = np.where(rng.random(x0.shape) < 0.5, -1.0, 1.0)
    rows = []
    parity = 0.0
    for k in FD_LEVELS:
        x = q_sample(x0, schedule, k, noise).astype(np.float32).astype(np.float64)
        s = float(schedule.sqrt_one_minus_alpha_bars[k])
        t = torch.full((n_images,), k, dtype=torch.int64)
        xt = torch.from_numpy(x.astype(np.float32))
        out, jv = torch.func.jvp(lambda z, t=t: net(z, t), (xt,),
                                 (torch.from_numpy(v.astype(np.float32)),))
        exact = np.sum(v * jv.detach().numpy(), axis=(1, 2, 3))
        e0 = model.predict_eps(x.astype(np.float32), np.full(n_images, k)).astype(np.float64)
        parity = max(parity, float(np.abs(out.detach().numpy() - e0).max()))
        cells = []
        for rel in FD_RELS:
            d = 2.0 ** np.floor(np.log2(rel * s))
            ep = model.predict_eps((x + d * v).astype(np.float32), np.full(n_images, k))
            em = model.predict_eps((x - d * v).astype(np.float32), np.full(n_images, k))
            fwd = np.sum(v * (ep - e0), axis=(1, 2, 3)) / d
            cen = np.sum(v * (ep.astype(np.float64) - em), axis=(1, 2, 3)) / (2 * d)
            cells.append(f"{np.mean(np.abs(fwd - exact) / np.abs(exact)):.1e} / "
                         f"{np.mean(np.abs(cen - exact) / np.abs(exact)):.1e}")
        rows.append(f"| {k} ({s:.3f}) | " + " | ".join(cells) + " |")
    head = "| index k (s) | " + " | ".join(f"fd-rel {r:g}" for r in FD_RELS) + " |"
    return "\n".join([f"ONNX vs torch eps: max abs difference {parity:.1e}", "", head,
                      "| --- |" + " --- |" * len(FD_RELS), *rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_likelihood")
    p.add_argument("--n-full", type=int, default=100)
    p.add_argument("--n-fast", type=int, default=1000)
    p.add_argument("--n-ode", type=int, default=20)
    p.add_argument("--fd", action="store_true",
                   help="only the finite-difference error table (needs torch)")
    args = p.parse_args(argv)
    print(fd_errors() if args.fd else run(args.n_full, args.n_fast, args.n_ode))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
