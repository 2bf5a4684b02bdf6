"""Memory over many sampling runs: does anything accumulate per run?

The sampling panel runs the sampler through its :class:`~diffview.gui.workers.JobRunner`
``n_runs`` times in a row (DDIM, 10 steps, batch 16, a tiny ONNX model so that the test is
about the app's own bookkeeping rather than the network), each run to the end with its
frames shown. The resident set size (RSS, from /proc) is read after a warm-up of 20 runs and
after the last run; the growth between the two must stay under 50 MB (issue #7).

Run alone: ``.venv/bin/python -m benchmarks.bench_soak``; the slow test
``tests/robustness/test_soak.py`` runs the same loop.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

N_RUNS = 500
WARMUP = 20
LIMIT_MB = 50.0


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; else the peak from resource)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _tiny_model(path: Path) -> Path:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    dims = ["B", 1, 28, 28]
    nodes = [helper.make_node("Cast", ["t"], ["tf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["tf", "zero"], ["t0"]),
             helper.make_node("Reshape", ["t0", "tshape"], ["tb"]),
             helper.make_node("Mul", ["x", "scale"], ["xs"]),
             helper.make_node("Add", ["xs", "tb"], ["eps"])]
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
             numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "tshape")]
    graph = helper.make_graph(nodes, "soak", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
        helper.make_tensor_value_info("t", TensorProto.INT64, ["B"])],
        [helper.make_tensor_value_info("eps", TensorProto.FLOAT, dims)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def soak(n_runs: int = N_RUNS, warmup: int = WARMUP, timeout_s: float = 60.0) -> dict:
    """Run the sampling panel ``n_runs`` times; returns RSS figures (MB) and timings."""
    from PySide6.QtWidgets import QApplication

    from diffview.engine import OnnxDenoiser
    from diffview.gui.context import AppContext
    from diffview.gui.panels.sampling import SamplingPanel

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="diffview_soak_"))
    ctx = AppContext(device="cpu")
    panel = SamplingPanel(ctx)
    panel.resize(1000, 700)
    panel.show()
    ctx.set_image_model(OnnxDenoiser(_tiny_model(folder / "soak.onnx"), device="cpu"))
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("ddim"))
    panel.steps_spin.setValue(10)
    panel.batch_spin.setValue(16)
    finished: list[int] = []
    panel.run_completed.connect(lambda _r: finished.append(1))
    failures: list[str] = []
    ctx.error_raised.connect(lambda _title, msg: failures.append(msg))

    samples, t0 = [], time.perf_counter()
    for k in range(n_runs):
        before = len(finished)
        panel.run()
        deadline = time.monotonic() + timeout_s
        while len(finished) == before:
            if failures:
                raise RuntimeError(f"run {k} failed: {failures[0]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {k} did not finish within {timeout_s} s")
            app.processEvents()
            time.sleep(0.001)
        if k + 1 == warmup or k + 1 == n_runs or (k + 1) % 50 == 0:
            app.processEvents()
            gc.collect()
            samples.append((k + 1, rss_mb()))
    seconds = time.perf_counter() - t0
    panel.shutdown()
    panel.close()
    panel.deleteLater()
    app.processEvents()
    base = dict(samples)[warmup]
    return {"runs": n_runs, "warmup": warmup, "rss_after_warmup_mb": base,
            "rss_end_mb": samples[-1][1], "growth_mb": samples[-1][1] - base,
            "trace": samples, "seconds": seconds}


def run(n_runs: int = N_RUNS) -> str:
    """Measure; return the markdown section."""
    r = soak(n_runs)
    trace = ", ".join(f"{k}: {mb:.0f}" for k, mb in r["trace"])
    verdict = "within" if r["growth_mb"] < LIMIT_MB else "ABOVE"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        "## Soak: memory over 500 sampling runs\n\n"
        f"Command: `.venv/bin/python -m benchmarks soak`. Measured {when}. {r['runs']} "
        "consecutive runs of the sampling panel through its worker thread (DDIM 10 steps, "
        "batch 16, a tiny ONNX model, every run to the end with its frames shown), "
        f"{r['seconds']:.0f} s in all. RSS after {r['warmup']} warm-up runs "
        f"{r['rss_after_warmup_mb']:.0f} MB, after the last {r['rss_end_mb']:.0f} MB: growth "
        f"**{r['growth_mb']:+.1f} MB**, {verdict} the {LIMIT_MB:.0f} MB limit. "
        f"RSS (MB) by run: {trace}.\n")


if __name__ == "__main__":
    print(run())
