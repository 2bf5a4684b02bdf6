"""Flow-matching training of the 2-D point MLP: the loss, couplings, reflow and metadata.

Objective (Lipman et al. 2023, eq. 23 with sigma_min = 0; Liu et al. 2023, eq. 1), in the
time convention of :mod:`diffview.core.flow` (data at t = 0, noise at t = 1):

    t ~ U(0, 1),  (x_0, eps) ~ coupling,  x_t = (1 - t) x_0 + t eps,
    L = E || v_theta(x_t, t) - (eps - x_0) ||^2

The coupling (:mod:`diffview.runs.couplings`) is independent or minibatch optimal transport
(the batch's noise re-paired by the exact assignment), or, for a reflow round, fixed pairs
(x_0, eps) made by integrating the previous round's flow from eps (Liu et al. 2023, sec. 2.2).
A reflow round starts from the previous round's weights, as Liu et al. do.

The hooks in :mod:`diffview.training.loop` call :func:`flow_batch_loss` and
:func:`flow_preview` when ``config.objective == "fm"``; :func:`train_with_reflow` chains
rounds of :func:`diffview.training.loop.train`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from diffview.training.config import TrainConfig
from diffview.training.toy import sample_points

# Pairs drawn from the previous flow for a reflow round, and the solver that draws them.
REFLOW_POOL = 16_384
REFLOW_STEPS = 32
REFLOW_METHOD = "rk4"


class _FlowState:
    """What a flow-matching run keeps beside the loop's state: the reflow pairs, if any."""

    def __init__(self, x0: np.ndarray | None = None, eps: np.ndarray | None = None) -> None:
        self.x0 = x0
        self.eps = eps


def torch_velocity(model: torch.nn.Module, device: torch.device | None = None,
                   batch: int = 8192) -> Callable[[np.ndarray, float], np.ndarray]:
    """A numpy ``v(x (N, d), t) -> (N, d)`` around a torch velocity network (no gradients)."""
    device = device if device is not None else torch.device("cpu")

    @torch.no_grad()
    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        out = []
        for i in range(0, x.shape[0], batch):
            xb = torch.as_tensor(np.asarray(x[i:i + batch], np.float32), device=device)
            tb = torch.full((xb.shape[0],), float(t), device=device)
            out.append(model(xb, tb).cpu().numpy())
        return np.concatenate(out).astype(np.float64)
    return velocity


def _load_previous(path: str, sample_shape: tuple[int, ...]) -> tuple[dict, torch.nn.Module]:
    from diffview.training.checkpoint import CheckpointError, load_checkpoint
    from diffview.training.loop import build_model

    state = load_checkpoint(path)
    prev = TrainConfig.from_dict(state["config"])
    if prev.objective != "fm":
        raise CheckpointError(f"reflow needs a flow-matching checkpoint; {path} was trained "
                              f"with objective {prev.objective!r}")
    if tuple(state["sample_shape"]) != tuple(sample_shape):
        raise CheckpointError(f"{path} was trained on samples of shape "
                              f"{tuple(state['sample_shape'])}, the data has {sample_shape}")
    model = build_model(prev, tuple(sample_shape))
    model.load_state_dict(state["ema"])
    return state, model.eval()


def _state(run) -> _FlowState:
    """The run's flow state, made on first use: for a reflow round, the pairs of the previous
    flow (the same on a resumed run: they depend only on the checkpoint and the seed) and, at
    step 0, the previous weights as the starting point."""
    st = getattr(run, "_flow_state", None)
    if st is not None:
        return st
    c = run.config
    if c.reflow_from is None:
        st = _FlowState()
    else:
        from diffview.runs.couplings import reflow_pairs

        state, prev = _load_previous(c.reflow_from, run.data.sample_shape)
        rng = np.random.default_rng([c.seed, 7919])
        eps = rng.standard_normal((REFLOW_POOL, run.data.sample_shape[0]))
        x0, eps = reflow_pairs(torch_velocity(prev), eps, REFLOW_STEPS, REFLOW_METHOD)
        st = _FlowState(x0.astype(np.float32), eps.astype(np.float32))
        if run.step == 0:
            run.model.load_state_dict(state["ema"])
            run.ema.load_state_dict(state["ema"])
    run._flow_state = st
    return st


def flow_pairs(run) -> tuple[np.ndarray, np.ndarray]:
    """One batch of coupled (x_0, eps), both (B, d) float32, from the run's generators."""
    c = run.config
    st = _state(run)
    if st.x0 is not None:
        idx = run.rng.integers(0, st.x0.shape[0], size=c.batch_size)
        return st.x0[idx], st.eps[idx]
    x0 = sample_points(run.data.toy, c.batch_size, run.rng)
    eps = torch.randn(x0.shape, generator=run.gen).numpy()
    if c.coupling == "ot":
        from diffview.runs.couplings import ot_coupling

        x0, eps = ot_coupling(x0, eps)
    return np.ascontiguousarray(x0), np.ascontiguousarray(eps)


def flow_batch_loss(run) -> torch.Tensor:
    """The flow-matching loss of one batch: mean of ||v_theta(x_t, t) - (eps - x_0)||^2 / d."""
    c = run.config
    x0, eps = (torch.from_numpy(a) for a in flow_pairs(run))
    t = torch.rand(c.batch_size, generator=run.gen)
    xt = (1.0 - t)[:, None] * x0 + t[:, None] * eps
    target = eps - x0
    if run.device.type != "cpu":
        xt, t, target = xt.to(run.device), t.to(run.device), target.to(run.device)
    return torch.mean((run.model(xt, t) - target) ** 2)


@torch.no_grad()
def flow_preview(run, n: int = 512, n_steps: int = 50) -> np.ndarray:
    """Samples (n, d) of the EMA flow: Euler from N(0, I) at t = 1 to t = 0, own generator."""
    from diffview.core.flow import flow_time_grid, integrate

    run.ema.eval()
    z = np.random.default_rng(12345).standard_normal((n, run.data.sample_shape[0]))
    v = torch_velocity(run.ema, run.device)
    return integrate("euler", v, z, flow_time_grid(n_steps)).astype(np.float32)


def flow_model_info(config: TrainConfig, state: dict, shape: tuple[int, ...], extra: dict,
                    value_range: tuple[float, float]):
    """ModelInfo of a flow-matching point network: prediction velocity, time t in [0, 1]."""
    from diffview.engine.metadata import ModelInfo

    extra = {**extra, "objective": "fm", "coupling": config.coupling,
             "reflow_round": int(config.extra.get("reflow_round", 0)),
             "path": "x_t = (1 - t) x_0 + t eps, v = eps - x_0, data at t = 0"}
    return ModelInfo(kind="points", sample_shape=shape, schedule=config.schedule, T=config.T,
                     time_kind="continuous", sde=None, prediction="velocity",
                     value_range=value_range, dataset=state.get("dataset", "unknown"),
                     class_names=(), training_steps=int(state["step"]), extra=extra)


def train_with_reflow(config: TrainConfig, out_dir=None, resume=None, data=None,
                      should_stop: Callable[[], bool] | None = None,
                      device: str = "cpu") -> Iterator:
    """Train a flow, then ``config.reflow`` reflow rounds, as one stream of progress records.

    Each round runs ``config.steps`` steps (round r with seed ``seed + r``); round r > 0 trains
    on pairs of round r - 1's flow, starting from its weights. Earlier rounds' checkpoints go
    to ``out_dir/round<r>/``, the last round's to ``out_dir`` itself (what the CLI exports).
    Records count steps over all rounds. ``resume`` is not supported here.
    """
    from diffview.training.loop import CHECKPOINT_NAME, TrainingError, train

    if resume is not None:
        raise TrainingError("--resume continues one round; it cannot be combined with "
                            "--reflow (resume the last round's checkpoint without --reflow)")
    if config.objective != "fm":
        raise TrainingError("reflow needs the flow-matching objective (--objective fm)")
    rounds = config.reflow
    total = config.steps * (rounds + 1)
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="diffview-reflow-")
        base = Path(tmp.name)
    else:
        base = Path(out_dir)
    prev: str | None = None
    elapsed = 0.0
    try:
        for r in range(rounds + 1):
            last = r == rounds
            cfg = dataclasses.replace(config, reflow=0, reflow_from=prev, seed=config.seed + r,
                                      extra={**config.extra, "reflow_round": r})
            folder = (None if (last and out_dir is None) else
                      (base if last else base / f"round{r}"))
            rec = None
            for rec in train(cfg, folder, None, data, should_stop, device):
                done = rec.done and (last or rec.stop_reason != "steps")
                left = (rounds - r) * config.steps
                yield dataclasses.replace(
                    rec, step=rec.step + r * config.steps, total_steps=total,
                    elapsed_s=elapsed + rec.elapsed_s, done=done,
                    stop_reason=rec.stop_reason if done else None,
                    eta_s=rec.eta_s + left * (rec.elapsed_s / max(rec.step, 1)))
            if rec is None or (rec.stop_reason != "steps" and not last):
                return
            elapsed += rec.elapsed_s
            prev = str((base / f"round{r}") / CHECKPOINT_NAME)
    finally:
        if tmp is not None:
            tmp.cleanup()
