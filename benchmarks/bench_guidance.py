"""Classifier-free guidance: one network call on 2B rows against two calls on B rows.

    .venv/bin/python benchmarks/bench_guidance.py --model resources/models/fashion_unet_cond.onnx

Prints the best-of-repeats time per guided evaluation for each batch size, both ways.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from diffview.core.guidance import combine, guided
from diffview.engine.onnx_denoiser import OnnxDenoiser


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resources/models/fashion_unet_cond.onnx")
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    model = OnnxDenoiser(args.model, device="cpu", threads=args.threads)
    if not model.info.conditional:
        raise SystemExit(f"{args.model} is not a class-conditional model")
    null = model.info.null_class
    rng = np.random.default_rng(0)
    for b in (int(v) for v in args.batches.split(",")):
        x = rng.standard_normal((b, *model.info.sample_shape)).astype(np.float32)
        t = np.full(b, 500)
        y = np.arange(b) % model.info.num_classes
        one = guided(model.predict_eps, y, null, 3.0)

        def two(x=x, t=t, y=y):
            eps_c = model.predict_eps(x, t, y)
            eps_u = model.predict_eps(x, t, np.full_like(y, null))
            return combine(eps_c, eps_u, 3.0)

        np.testing.assert_allclose(one(x, t), two(), rtol=1e-4, atol=1e-4)
        best = {}
        for name, fn in (("one call (2B rows)", lambda x=x, t=t, one=one: one(x, t)),
                         ("two calls (B rows)", two)):
            fn()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            best[name] = min(times)
        a, c = best.values()
        print(f"B={b:3d}: one call {1e3 * a:7.1f} ms, two calls {1e3 * c:7.1f} ms, "
              f"two/one = {c / a:.2f}")


if __name__ == "__main__":
    main()
