"""The default UNet run by eager torch and by onnxruntime (OnnxDenoiser), in one process.

For batch 1, 16 and 64: milliseconds per forward call (median, and the 10th-90th percentile
spread over the repeats), the arithmetic rate in GFLOP/s (FLOPs counted once with
``torch.utils.flop_counter.FlopCounterMode``) against the machine's fp32 peak, and the
onnxruntime / torch speed ratio. Calls of the two runtimes alternate, so a change of machine
load hits both alike. Then DDIM-50 sampling throughput (images/s) at batch 64 through
onnxruntime, as ``diffview sample`` runs it.

The weights are random (every layer, including those the UNet initialises to zero, so that
the parity check between torch and onnxruntime compares real work). Speed does not depend on
the values.

Run alone: ``.venv/bin/python -m benchmarks.bench_inference``; or ``python -m benchmarks
inference``, which also updates docs/BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

BATCHES = (1, 16, 64)
# fp32 peak of the development machine (2-core Zen 3), from /work/shared/STACK.md.
PEAK_GFLOPS = 157.0
TARGET_RATIO = 1.5


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_architecture() -> tuple[dict, str]:
    """UNet options of the bundled model (from its metadata), else of ``TrainConfig()``."""
    try:
        import onnx

        from diffview.engine import default_model_path
        from diffview.engine.metadata import metadata_to_info

        path = default_model_path()
        if path.exists():
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
                     .metadata_props}
            extra = metadata_to_info(props)[0].extra
            if {"widths", "blocks", "attention"} <= set(extra):
                return ({"widths": tuple(extra["widths"]), "blocks": tuple(extra["blocks"]),
                         "attention": bool(extra["attention"])},
                        f"the architecture of {path.name}")
    except Exception:  # noqa: BLE001 - fall back to the training defaults
        pass
    try:
        from diffview.training.config import TrainConfig
    except ImportError:
        return {}, "the UNet class defaults"
    cfg = TrainConfig()
    return ({"widths": cfg.widths, "blocks": cfg.blocks, "attention": cfg.attention},
            "the default TrainConfig")


def build_unet(**overrides):
    """The default UNet with random weights: ``(module, label, n_parameters)``.

    The architecture is that of the bundled model when it is there, else the training
    package's default configuration; ``overrides`` (widths, blocks, attention) win.
    """
    import torch

    try:
        from diffview.training.unet import UNet, count_parameters
    except ImportError:  # only until the training package lands
        return _StandIn(), "stand-in conv net (diffview.training.unet not importable)", 0
    kw, source = default_architecture()
    kw.update(overrides)
    torch.manual_seed(0)
    net = UNet(channels=1, **kw)
    with torch.no_grad():
        for p in net.parameters():
            # Replace the zero initialisations too, so every layer does visible work.
            p.copy_(torch.randn_like(p) * (0.5 / max(1, p[0].numel()) ** 0.5))
    args = ", ".join(f"{k}={v}" for k, v in kw.items())
    return net, f"diffview.training.unet.UNet({args}) ({source})", count_parameters(net)


class _StandIn:  # pragma: no cover - placeholder until the UNet lands
    def __new__(cls):
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.SiLU(),
                                          nn.Conv2d(32, 32, 3, padding=1), nn.SiLU(),
                                          nn.Conv2d(32, 1, 3, padding=1))

            def forward(self, x, t):
                return self.body(x) + 0.0 * t.float()[:, None, None, None]

        return Net()


def export_onnx(net, path: Path) -> str:
    """Export with the app's exporter (diffview.training.export.export_module) when available,
    else torch.onnx.export with a dynamic batch axis; returns a label of the method."""
    try:
        from diffview.training.export import export_module
    except ImportError:
        export_module = None
    if export_module is not None:
        result = export_module(net, (1, 28, 28), path)
        return f"diffview.training.export.export_module (parity {result.max_abs_diff:.1e})"
    import torch

    x, t = torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.int64)
    torch.onnx.export(net, (x, t), str(path), dynamo=False, input_names=["x", "t"],
                      output_names=["eps"], opset_version=17,
                      dynamic_axes={"x": {0: "B"}, "t": {0: "B"}, "eps": {0: "B"}})
    return "torch.onnx.export(dynamo=False)"


def count_flops(net, batch: int = 1) -> int:
    """FLOPs of one forward pass at ``batch`` (a multiply-add counts 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x, t = torch.zeros(batch, 1, 28, 28), torch.full((batch,), 500, dtype=torch.int64)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x, t)
    return int(counter.get_total_flops())


def _times(fns, repeats: int, warmup: int) -> list[np.ndarray]:
    """Alternate the callables ``repeats`` times; seconds per call of each."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    out = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return [np.array(v) for v in out]


def _ms(t: np.ndarray) -> str:
    lo, hi = np.percentile(t, [10, 90]) * 1e3
    return f"{np.median(t) * 1e3:.1f} ({lo:.1f}-{hi:.1f})"


def run(batches=BATCHES, repeats: int | None = None, ddim_batch: int = 64,
        ddim_steps: int = 50) -> str:
    """Measure; return the markdown section."""
    import onnxruntime
    import torch

    from diffview.engine import OnnxDenoiser
    from diffview.eval.generate import generate

    load_before = os.getloadavg()
    net, label, n_params = build_unet()
    net.eval()
    flops_per_sample = count_flops(net, 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    path = tmp / "unet.onnx"
    t0 = time.perf_counter()
    how = export_onnx(net, path)
    export_s = time.perf_counter() - t0
    den = OnnxDenoiser(path, device="cpu")
    rng = np.random.default_rng(0)

    rows, parity, ratios = [], 0.0, []
    for b in batches:
        x = rng.standard_normal((b, 1, 28, 28)).astype(np.float32)
        t = rng.integers(0, 1000, b)
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
        with torch.no_grad():
            ref = net(xt, tt).numpy()
        parity = max(parity, float(np.abs(den.predict_eps(x, t) - ref).max()
                                   / max(np.abs(ref).max(), 1e-12)))

        def torch_call(xt=xt, tt=tt):
            with torch.no_grad():
                net(xt, tt)

        def ort_call(x=x, t=t):
            den.predict_eps(x, t)

        n = repeats or max(8, min(40, int(400 / b)))
        t_torch, t_ort = _times([torch_call, ort_call], n, warmup=2)
        f = flops_per_sample * b
        g_torch, g_ort = f / np.median(t_torch) / 1e9, f / np.median(t_ort) / 1e9
        ratio = np.median(t_torch) / np.median(t_ort)
        ratios.append(float(ratio))
        rows.append(f"| {b} | {_ms(t_torch)} | {_ms(t_ort)} | {g_torch:.1f} | {g_ort:.1f} | "
                    f"{100 * g_ort / PEAK_GFLOPS:.0f}% | {ratio:.2f}x | {n} |")

    t0 = time.perf_counter()
    generate(den, ddim_batch, "ddim", ddim_steps, batch=ddim_batch, seed=0)
    ddim_s = time.perf_counter() - t0
    load_after = os.getloadavg()

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## Inference: eager torch vs onnxruntime (UNet)",
        "",
        f"Command: `.venv/bin/python -m benchmarks inference`. Measured {when} on "
        f"{_cpu_name()} ({os.cpu_count()} logical CPUs), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__} "
        f"({den.provider}, default threads). Load average (1 min) {load_before[0]:.2f} "
        f"before, {load_after[0]:.2f} after: a load above the core count means other "
        "processes shared the CPU and the figures are pessimistic.",
        "",
        f"Model: {label}, {n_params / 1e6:.2f} M parameters, "
        f"{flops_per_sample / 1e6:.0f} MFLOP per 28x28 sample (FlopCounterMode: convolutions and "
        "matrix products; norms and activations are not counted). "
        f"Exported with {how} in {export_s:.0f} s. "
        f"Largest |torch - onnxruntime| / max |torch| over the batches: {parity:.1e}.",
        "",
        "ms per forward call: median (10th-90th percentile) over the repeats; torch and "
        "onnxruntime calls alternate. GFLOP/s from the median; peak "
        f"{PEAK_GFLOPS:.0f} GFLOP/s fp32. Target: onnxruntime >= {TARGET_RATIO}x torch.",
        "",
        "| batch | torch ms | onnxruntime ms | torch GFLOP/s | ORT GFLOP/s | ORT % of peak "
        "| ORT / torch speed | repeats |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"DDIM-{ddim_steps} sampling through onnxruntime (OnnxDenoiser, "
        f"diffview.eval.generate), batch {ddim_batch}: {ddim_batch} images in "
        f"{ddim_s:.1f} s = **{ddim_batch / ddim_s:.2f} images/s** "
        f"({ddim_s / ddim_steps * 1e3:.0f} ms per step including the sampler's numpy work).",
        "",
        f"Target: onnxruntime at least {TARGET_RATIO}x as fast as eager torch at every batch: "
        f"**{'met' if min(ratios) >= TARGET_RATIO else 'not met'}** "
        f"({min(ratios):.2f}-{max(ratios):.2f}x).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
