"""An ONNX epsilon network behind the :class:`~diffview.engine.protocol.Denoiser` interface.

The model contract (docs/models-and-data.md): two inputs, a float32 sample ``[B, C, H, W]`` or
``[B, D]`` and a timestep ``[B]`` (int64 index or float32 time), found by rank rather than by
name; one float output with the sample's shape. A class-conditional network (classifier-free
guidance, docs/guidance.md) has a third input, int64 class labels ``[B]`` in
``0 .. num_classes`` (``null_class``, usually ``num_classes``, meaning "no class"): of the two
rank-1 inputs it is the one named like a label (``labels``, ``class_labels``, ``y``, ...), or
else the int64 one beside a float32 time. Everything is checked when the model is
loaded, including one probe inference on zeros, so that a bad file fails with a message at
"Open model..." and not in the middle of a sampling run.

Loading cannot be wedged by a hostile or broken file. Before the probe: a sample input whose
static dimensions exceed :data:`~diffview.engine.metadata.MAX_SAMPLE_VALUES`, a probe tensor
above :data:`PROBE_MAX_BYTES`, or a ``Loop`` whose constant trip count exceeds
:data:`MAX_LOOP_TRIPS` is refused with a message saying so. The probe itself runs under a
time budget (:data:`PROBE_TIME_BUDGET_S`): onnxruntime's ``RunOptions.terminate`` is set
from a timer thread, which stops even a ``Loop`` of 10^12 iterations between two nodes.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from diffview.engine.errors import ModelError
from diffview.engine.metadata import MAX_SAMPLE_VALUES, ModelInfo, metadata_to_info, validate_info
from diffview.engine.providers import check_session_args, create_session
from diffview.paths import resource

__all__ = ["OnnxDenoiser", "default_model_path", "load_default"]

_FLOAT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}
_TIME_TYPES = {"tensor(int64)": np.int64, "tensor(float)": np.float32}
_DEFAULT_SDE = {"name": "vp", "beta_min": 0.1, "beta_max": 20.0, "T": 1.0}
# Names that mark the class-label input of a conditional network (diffview's "labels",
# diffusers' UNet2DModel "class_labels", the "y" of guided-diffusion and DiT).
_LABEL_NAMES = ("label", "class", "cond", "y")

# The load-time probe's budgets. A real network's probe (batch 2, or its fixed batch) takes
# milliseconds on a CPU and a few seconds on a GPU's first call (kernel selection); 30 s is
# far above that and still ends a model that would never finish.
PROBE_TIME_BUDGET_S = 30.0
PROBE_MAX_BYTES = 256 * 2**20  # the probe's float32 input; the output is as large again
MAX_LOOP_TRIPS = 10**6  # a Loop with a constant trip count above this is refused unprobed
# Graphs are inspected for Loops with the onnx package only up to this file size (a larger
# file would be parsed a second time just for that; the time budget still applies to it).
_INSPECT_MAX_BYTES = 512 * 2**20


def _fmt_bytes(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _fmt_arg(arg: Any) -> str:
    return f"{arg.name!r} {_fmt_shape(arg.shape)} {arg.type}"


def _sniff(head: bytes) -> tuple[str | None, str | None]:
    """Look at the first bytes of a file.

    Returns ``(certain, likely)``: ``certain`` says why the file is surely not ONNX (text, a zip
    or HDF5 archive); ``likely`` is used only if onnxruntime then fails to parse the file.
    """
    if head.startswith(b"PK\x03\x04"):
        return ("it is a zip archive (a PyTorch checkpoint?), not an ONNX protobuf; "
                "export the network with torch.onnx.export first"), None
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file (a Keras model?), not an ONNX protobuf", None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.strip() and all(c.isprintable() or c in "\r\n\t" for c in text):
        preview = text.strip().splitlines()[0][:40]
        return f"it starts with text ({preview!r}), expected a binary ONNX protobuf", None
    if head[:1] != b"\x08":
        # ONNX writers serialise field 1 (ir_version, a varint) first: tag byte 0x08.
        return None, (f"expected a binary ONNX protobuf starting with byte 0x08, "
                      f"found 0x{head[0]:02x}")
    return None, None


class OnnxDenoiser:
    """An epsilon network stored as an ONNX file, run with onnxruntime.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` uses CUDA when it works, else the CPU. ``"cuda"`` that cannot be honoured
        falls back to the CPU and says so in :attr:`provider_note`.
    threads : int, optional
        onnxruntime intra-op threads (None: onnxruntime decides).

    Attributes
    ----------
    path : Path
    info : ModelInfo
        From the model's metadata, or defaults inferred from its inputs (see
        :attr:`metadata_warnings`). Assign a new :class:`ModelInfo` to change it.
    provider : str
        Provider actually in use, ``"CPU"`` or ``"CUDA"``.
    provider_note : str
        Why the provider differs from the request, or ``""``.
    input_names : tuple of (str, str)
        ``(sample_input, timestep_input)``.
    label_input : str or None
        The class-label input of a class-conditional network, else None.
    output_name : str
    metadata_warnings : list of str
        Missing or bad metadata, and what was used instead.
    fixed_batch : int or None
        The batch size if the model was exported with a static batch axis; inputs are then
        fed in chunks of that size.

    Raises
    ------
    ModelError
        Naming the file and what was expected versus found, for a missing, empty, non-ONNX,
        corrupt or unusable model.
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None,
                 probe_seconds: float | None = None):
        self.path = Path(path)
        self._probe_seconds = PROBE_TIME_BUDGET_S if probe_seconds is None else probe_seconds
        self.device = device
        self.threads = threads
        # A bad device/threads argument is the caller's mistake (ValueError), not the model's.
        check_session_args(device, threads)
        self._check_file()
        try:
            session, provider, note = create_session(self.path, device, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise self._refused(exc) from None
        self._session = session
        self.provider = provider
        self.provider_note = note
        self._sample_arg, self._time_arg, self._label_arg = self._find_inputs()
        self.input_names = (self._sample_arg.name, self._time_arg.name)
        self.label_input = None if self._label_arg is None else self._label_arg.name
        self._time_dtype = _TIME_TYPES[self._time_arg.type]
        self._output_arg = self._find_output()
        self.output_name = self._output_arg.name
        batch = self._sample_arg.shape[0] if self._sample_arg.shape else None
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        self._check_static_size()
        self._check_loops()
        self._info, self.metadata_warnings = self._read_info()
        self._probe()

    # ---------------------------------------------------------------------------- loading

    def _error(self, message: str) -> ModelError:
        return ModelError(f"{self.path}: {message}")

    def _check_file(self) -> None:
        if not self.path.exists():
            raise self._error("model file not found")
        if self.path.is_dir():
            raise self._error("is a folder, expected an .onnx file")
        try:
            size = self.path.stat().st_size
            with self.path.open("rb") as f:
                head = f.read(64)
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
        if size == 0:
            raise self._error("empty file (0 bytes), expected an ONNX model")
        certain, self._likely_not_onnx = _sniff(head)
        if certain is not None:
            raise self._error(f"not an ONNX model: {certain}")

    def _refused(self, exc: Exception) -> ModelError:
        text = str(exc).strip()
        if "protobuf" in text.lower():
            if self._likely_not_onnx:
                return self._error(f"not an ONNX model: {self._likely_not_onnx}")
            size = self.path.stat().st_size
            return self._error(
                f"corrupt or truncated ONNX file ({size} bytes): the protobuf could not be "
                "parsed; expected a complete ONNX model"
            )
        first = text.splitlines()[0] if text else type(exc).__name__
        return self._error(f"onnxruntime refused the model: {first}")

    def _find_inputs(self) -> tuple[Any, Any, Any]:
        inputs = list(self._session.get_inputs())
        listing = ", ".join(_fmt_arg(a) for a in inputs) or "none"
        expected = ("a float32 sample [B, C, H, W] or [B, D], a timestep [B] (int64 or "
                    "float32) and, for a class-conditional model, int64 class labels [B]")
        if len(inputs) not in (2, 3):
            raise self._error(f"expected 2 or 3 inputs ({expected}), found {len(inputs)}: "
                              f"{listing}")
        ranks = [len(a.shape) if a.shape is not None else -1 for a in inputs]
        samples = [a for a, r in zip(inputs, ranks, strict=True) if r in (2, 4)]
        times = [a for a, r in zip(inputs, ranks, strict=True) if r == 1]
        if len(samples) != 1 or len(times) != len(inputs) - 1:
            third = " and rank 1 (class labels)" if len(inputs) == 3 else ""
            raise self._error(
                f"expected inputs of rank 4 or 2 (sample) and rank 1 (timestep){third}, "
                f"found {listing}"
            )
        sample, time = samples[0], times[0]
        label = None
        if len(times) == 2:
            time, label = self._split_time_label(times, listing)
        if sample.type != "tensor(float)":
            raise self._error(
                f"expected a float32 sample input, found {sample.name!r} of type {sample.type}"
            )
        if time.type not in _TIME_TYPES:
            raise self._error(
                f"expected an int64 or float32 timestep input, found {time.name!r} "
                f"of type {time.type}"
            )
        if label is not None and label.type != "tensor(int64)":
            raise self._error(
                f"expected int64 class labels [B] as the third input, found {label.name!r} "
                f"of type {label.type}"
            )
        return sample, time, label

    def _split_time_label(self, pair: list, listing: str) -> tuple[Any, Any]:
        """Which of two rank-1 inputs is the timestep and which the class labels: by name
        (:data:`_LABEL_NAMES`), else by type (a float32 time beside an int64 label)."""
        def label_like(a: Any) -> bool:
            name = a.name.lower()
            return name == "y" or any(k in name for k in _LABEL_NAMES[:3])

        named = [a for a in pair if label_like(a)]
        if len(named) == 1:
            label = named[0]
        else:
            ints = [a for a in pair if a.type == "tensor(int64)"]
            floats = [a for a in pair if a.type == "tensor(float)"]
            if len(ints) != 1 or len(floats) != 1:
                raise self._error(
                    "cannot tell the timestep from the class-label input among the rank-1 "
                    f"inputs ({listing}); name the label input 'labels' or 'class_labels'")
            label = ints[0]
        time = pair[0] if pair[1] is label else pair[1]
        return time, label

    def _find_output(self) -> Any:
        outputs = list(self._session.get_outputs())
        if not outputs:
            raise self._error("the model has no outputs, expected epsilon with the sample's shape")
        out = outputs[0]
        want = f"a float output of shape {_fmt_shape(self._sample_arg.shape)}"
        if out.type not in _FLOAT_TYPES:
            raise self._error(f"expected {want}, found {_fmt_arg(out)}")
        if out.shape is not None and len(out.shape) != len(self._sample_arg.shape):
            raise self._error(f"expected {want} (rank {len(self._sample_arg.shape)}), "
                              f"found {_fmt_arg(out)} (rank {len(out.shape)})")
        if out.shape is not None:
            for d_out, d_in in zip(out.shape, self._sample_arg.shape, strict=True):
                if isinstance(d_out, int) and isinstance(d_in, int) and d_out != d_in:
                    raise self._error(f"expected {want}, found {_fmt_arg(out)}")
        return out

    def _inferred_info(self) -> ModelInfo:
        """Defaults that fit the model's inputs, for missing or unusable metadata."""
        dims = list(self._sample_arg.shape[1:])
        if len(dims) == 3:
            defaults = (1, 28, 28)
            shape = tuple(d if isinstance(d, int) and d > 0 else k
                          for d, k in zip(dims, defaults, strict=True))
            return ModelInfo(kind="image", sample_shape=shape)
        d = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else 2
        return ModelInfo(kind="points", sample_shape=(d,), value_range=(-4.0, 4.0))

    def _read_info(self) -> tuple[ModelInfo, list[str]]:
        props = dict(self._session.get_modelmeta().custom_metadata_map)
        fallback = self._inferred_info()
        info, warnings = metadata_to_info(props, fallback)
        problem = self._shape_problem(info)
        if problem:
            warnings.append(f"metadata does not fit the model: {problem}; using "
                            f"kind={fallback.kind}, sample_shape={fallback.sample_shape}")
            info = info.replace(kind=fallback.kind, sample_shape=fallback.sample_shape)
        if info.time_kind == "continuous" and self._time_dtype == np.int64:
            warnings.append("metadata says continuous time but the timestep input is int64; "
                            "treating the timestep as an index")
            info = info.replace(time_kind="index", sde=None)
        return self._class_info(info, warnings), warnings

    def _class_info(self, info: ModelInfo, warnings: list[str]) -> ModelInfo:
        """Make ``info``'s classes fit the inputs: an unconditional graph has none; a label
        input without ``num_classes`` metadata takes it from the graph's embedding table."""
        if self._label_arg is None:
            if info.num_classes:
                warnings.append(f"metadata gives num_classes={info.num_classes} but the model "
                                "has no class-label input; treating it as unconditional")
                info = info.replace(num_classes=0, null_class=-1)
            return info
        if info.num_classes:
            return info
        rows = self._embedding_rows()
        if rows is None or rows < 2:
            raise self._error(
                f"the model has a class-label input {self._label_arg.name!r} but no "
                "diffview.num_classes metadata, and no embedding table to read the number of "
                "classes from; add the metadata (docs/guidance.md)")
        warnings.append(f"no num_classes metadata: the class embedding has {rows} rows, so "
                        f"using num_classes={rows - 1} with the last label ({rows - 1}) as the "
                        "null class")
        return info.replace(num_classes=rows - 1, null_class=rows - 1)

    def _embedding_rows(self) -> int | None:
        """Rows of the embedding table the label input indexes (a ``Gather`` of an
        initializer by the labels, or by a ``Cast`` of them), or None when there is none."""
        try:
            if self.path.stat().st_size > _INSPECT_MAX_BYTES:
                return None
            import onnx

            graph = onnx.load(str(self.path), load_external_data=False).graph
        except Exception:  # noqa: BLE001 - no onnx package, or a file only onnxruntime reads
            return None
        shapes = {init.name: list(init.dims) for init in graph.initializer}
        names = {self._label_arg.name}
        names |= {n.output[0] for n in graph.node
                  if n.op_type == "Cast" and n.input and n.input[0] in names and n.output}
        for node in graph.node:
            if (node.op_type == "Gather" and len(node.input) == 2 and node.input[1] in names
                    and len(shapes.get(node.input[0], ())) == 2):
                return int(shapes[node.input[0]][0])
        return None

    def _shape_problem(self, info: ModelInfo) -> str:
        """Why ``info`` does not fit the sample input, or ``""``."""
        dims = self._sample_arg.shape[1:]
        if len(info.sample_shape) != len(dims):
            return (f"sample_shape {info.sample_shape} has rank {len(info.sample_shape)}, "
                    f"the sample input {_fmt_shape(self._sample_arg.shape)} has "
                    f"{len(dims)} dimensions after the batch")
        if info.kind != ("image" if len(dims) == 3 else "points"):
            return f"kind {info.kind!r} does not fit the sample input rank {len(dims) + 1}"
        for want, have in zip(info.sample_shape, dims, strict=True):
            if isinstance(have, int) and have != want:
                return (f"sample_shape {info.sample_shape} differs from the sample input "
                        f"{_fmt_shape(self._sample_arg.shape)}")
        return ""

    def _check_static_size(self) -> None:
        """Refuse a sample input whose fixed dimensions alone exceed the sample-size limit."""
        dims = [d for d in self._sample_arg.shape[1:] if isinstance(d, int) and d > 0]
        values = math.prod(dims)
        if values > MAX_SAMPLE_VALUES:
            raise self._error(
                f"the sample input {_fmt_shape(self._sample_arg.shape)} has {values:,} values "
                f"per sample, more than the limit of {MAX_SAMPLE_VALUES:,} (3 x 2048 x 2048 "
                "fits); refusing to load it (a probe alone would need "
                f"{_fmt_bytes(values * 4 * (self.fixed_batch or 2))})")

    def _check_loops(self) -> None:
        """Refuse a ``Loop`` node whose trip count is a constant above :data:`MAX_LOOP_TRIPS`.

        Loops whose count is computed at run time are left to the probe's time budget.
        """
        try:
            if self.path.stat().st_size > _INSPECT_MAX_BYTES:
                return
            import onnx
            from onnx import numpy_helper

            model = onnx.load(str(self.path), load_external_data=False)
        except Exception:  # noqa: BLE001 - no onnx package, or a file only onnxruntime reads
            return
        for node, trips in _constant_loop_trips(model.graph, {}, numpy_helper):
            if trips > MAX_LOOP_TRIPS:
                name = f" {node.name!r}" if node.name else ""
                raise self._error(
                    f"a Loop node{name} runs {trips:,} iterations on every call, more than the "
                    f"load limit of {MAX_LOOP_TRIPS:,}; refusing a model that would take hours "
                    "per step")

    def _probe(self) -> None:
        """Run the model once on zeros and check the output's shape, type and finiteness.

        The probe's input must fit :data:`PROBE_MAX_BYTES` and the run must finish within the
        time budget (``probe_seconds``, default :data:`PROBE_TIME_BUDGET_S`)."""
        batch = self.fixed_batch or 2
        shape = (batch, *self._info.sample_shape)
        nbytes = 4 * math.prod(shape)
        if nbytes > PROBE_MAX_BYTES:
            why = f"the model's fixed batch of {batch}" if self.fixed_batch else f"batch {batch}"
            raise self._error(
                f"a probe input {_fmt_shape(shape)} ({why}) needs {_fmt_bytes(nbytes)}, more "
                f"than the load budget of {_fmt_bytes(PROBE_MAX_BYTES)}; refusing to load it")
        x = np.zeros(shape, np.float32)
        t = np.full(batch, self._mid_time(), self._time_dtype)
        out = self._timed_probe(x, t, self._null_labels(batch))
        if out.dtype.kind != "f":
            raise self._error(f"expected a float output, found {out.dtype} on a probe input")
        if out.shape != x.shape:
            raise self._error(f"expected the output to have the sample's shape "
                              f"{_fmt_shape(x.shape)}, found {_fmt_shape(out.shape)} "
                              "on a probe input of zeros")
        if not np.isfinite(out).all():
            raise self._error("model returned non-finite values (NaN or inf) on a probe "
                              "input of zeros")

    def _feeds(self, x: np.ndarray, t: np.ndarray, labels: np.ndarray | None) -> dict:
        feeds = {self.input_names[0]: x, self.input_names[1]: t}
        if self.label_input is not None:
            feeds[self.label_input] = labels
        return feeds

    def _null_labels(self, batch: int) -> np.ndarray | None:
        if self.label_input is None:
            return None
        return np.full(batch, self._info.null_class, np.int64)

    def _timed_probe(self, x: np.ndarray, t: np.ndarray,
                     labels: np.ndarray | None = None) -> np.ndarray:
        """``session.run`` on the probe, stopped by ``RunOptions.terminate`` when over time."""
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.log_severity_level = 4  # the terminate message is ours to word
        expired = threading.Event()

        def stop() -> None:
            expired.set()
            options.terminate = True

        timer = threading.Timer(self._probe_seconds, stop)
        timer.daemon = True
        timer.start()
        try:
            return self._session.run([self.output_name], self._feeds(x, t, labels), options)[0]
        except Exception as exc:  # onnxruntime's own exception types
            if expired.is_set():
                raise self._error(
                    f"the probe inference on {_fmt_shape(x.shape)} did not finish within the "
                    f"load budget of {self._probe_seconds:g} s (an endless or huge Loop?); "
                    "refusing a model that cannot run a single step in that time") from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self._error(f"the model failed on a probe input {_fmt_shape(x.shape)}: "
                              f"{first}") from None
        finally:
            timer.cancel()

    def _mid_time(self) -> float:
        if self._info.time_kind == "continuous":
            return 0.5 * float((self._info.sde or _DEFAULT_SDE).get("T", 1.0))
        return self._info.T // 2

    # ---------------------------------------------------------------------------- public

    @property
    def info(self) -> ModelInfo:
        return self._info

    @info.setter
    def info(self, info: ModelInfo) -> None:
        validate_info(info)
        problem = self._shape_problem(info)
        if problem:
            raise ValueError(f"{self.path}: {problem}")
        if info.conditional != (self.label_input is not None):
            raise ValueError(f"{self.path}: num_classes={info.num_classes} does not fit a model "
                             + ("with" if self.label_input else "without") + " a label input")
        self._info = info

    def predict_eps(self, x: np.ndarray, t: np.ndarray | float | int,
                    labels: np.ndarray | int | None = None) -> np.ndarray:
        """Predict epsilon for a batch.

        Parameters
        ----------
        x : ndarray, shape (B, *info.sample_shape)
            Noisy samples (cast to float32).
        t : int, float or ndarray of shape (B,)
            Timestep indices ``0 .. T-1`` or SDE times; a scalar is used for the whole batch.
            Cast to the model's timestep type (int64 or float32).
        labels : int or ndarray of shape (B,), optional
            Class labels in ``0 .. info.num_classes`` (``info.null_class`` means "no class")
            for a class-conditional model; None: the null class (the unconditional model).
            An unconditional model takes none.

        Returns
        -------
        ndarray, float32, shape (B, *info.sample_shape)

        Raises
        ------
        ValueError
            If ``x``, ``t`` or ``labels`` has the wrong shape or type, an index or label is out
            of range, or labels are given to an unconditional model.
        ModelError
            If the model fails or returns NaN or inf.
        """
        x = np.asarray(x)
        want = (*self._info.sample_shape,)
        if x.ndim != len(want) + 1 or x.shape[1:] != want:
            raise ValueError(f"{self.path.name}: x has shape {x.shape}, expected "
                             f"(B, {', '.join(map(str, want))})")
        x = np.ascontiguousarray(x, dtype=np.float32)
        t = self._timesteps(t, x.shape[0])
        out = self._run(x, t, self._labels(labels, x.shape[0]))
        # One reduction instead of an elementwise mask: cheap, and any NaN/inf propagates.
        if not np.isfinite(out.sum(dtype=np.float64)):
            bad = int(np.count_nonzero(~np.isfinite(out)))
            raise ModelError(f"{self.path}: model returned non-finite values ({bad} of "
                             f"{out.size} are NaN or inf)")
        return out

    def _timesteps(self, t: Any, batch: int) -> np.ndarray:
        t = np.asarray(t)
        if t.ndim == 0:
            t = np.broadcast_to(t, (batch,))
        elif t.shape != (batch,):
            raise ValueError(f"{self.path.name}: t has shape {t.shape}, expected () or ({batch},)")
        if self._info.time_kind == "index":
            name, last = self.path.name, self._info.T - 1
            if t.dtype.kind == "f" and not np.all(t == np.round(t)):
                raise ValueError(f"{name}: timestep indices must be integers, found {t}")
            if t.size and (t.min() < 0 or t.max() > last):
                raise ValueError(f"{name}: timestep index out of range 0..{last}, "
                                 f"found {t.min()}..{t.max()}")
        return np.ascontiguousarray(t, dtype=self._time_dtype)

    def _labels(self, labels: Any, batch: int) -> np.ndarray | None:
        name = self.path.name
        if self.label_input is None:
            if labels is not None:
                raise ValueError(f"{name}: class labels were given, but the model is "
                                 "unconditional (it has no class-label input)")
            return None
        if labels is None:
            return self._null_labels(batch)
        y = np.asarray(labels)
        if y.dtype.kind not in "iu":
            raise ValueError(f"{name}: class labels must be integers, found dtype {y.dtype}")
        if y.ndim == 0:
            y = np.broadcast_to(y, (batch,))
        elif y.shape != (batch,):
            raise ValueError(f"{name}: labels have shape {y.shape}, expected () or ({batch},)")
        last = self._info.num_classes
        if y.size and (y.min() < 0 or y.max() > last):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise ValueError(f"{name}: class label {bad} is out of range 0..{last} (classes "
                             f"0..{last - 1} and the null class {self._info.null_class})")
        return np.ascontiguousarray(y, dtype=np.int64)

    def _run(self, x: np.ndarray, t: np.ndarray, labels: np.ndarray | None = None
             ) -> np.ndarray:
        n = self.fixed_batch
        try:
            if n is None:
                out = self._session.run([self.output_name], self._feeds(x, t, labels))[0]
            else:
                parts = []
                for start in range(0, x.shape[0], n):
                    xs, ts = x[start:start + n], t[start:start + n]
                    ys = None if labels is None else labels[start:start + n]
                    pad = n - xs.shape[0]
                    if pad:  # the last chunk of a fixed-batch model: pad, then drop the pad
                        xs = np.concatenate([xs, np.zeros((pad, *xs.shape[1:]), xs.dtype)])
                        ts = np.concatenate([ts, np.repeat(ts[-1:], pad)])
                        if ys is not None:
                            ys = np.concatenate([ys, np.repeat(ys[-1:], pad)])
                    y = self._session.run([self.output_name], self._feeds(xs, ts, ys))[0]
                    parts.append(y[: n - pad])
                out = np.concatenate(parts) if parts else np.zeros_like(x)
        except Exception as exc:  # onnxruntime's own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: inference failed: {first}") from None
        if out.shape != x.shape:
            raise ModelError(f"{self.path}: output shape {out.shape} differs from input "
                             f"shape {x.shape}")
        return out.astype(np.float32, copy=False)

    def describe(self) -> dict[str, Any]:
        """Everything ``diffview info`` shows, as a JSON-friendly dict."""
        meta = self._session.get_modelmeta()

        def arg(a: Any) -> dict[str, Any]:
            shape = None if a.shape is None else [d if isinstance(d, int) else (d or "?")
                                                  for d in a.shape]
            return {"name": a.name, "shape": shape, "dtype": a.type}

        return {
            "path": str(self.path),
            "size_bytes": self.path.stat().st_size,
            "producer": meta.producer_name,
            "graph": meta.graph_name,
            "device_requested": self.device,
            "provider": self.provider,
            "provider_note": self.provider_note,
            "session_providers": list(self._session.get_providers()),
            "threads": self.threads,
            "inputs": [arg(a) for a in self._session.get_inputs()],
            "outputs": [arg(a) for a in self._session.get_outputs()],
            "sample_input": self.input_names[0],
            "timestep_input": self.input_names[1],
            "label_input": self.label_input,
            "output": self.output_name,
            "fixed_batch": self.fixed_batch,
            "info": self._info.to_dict(),
            "metadata_warnings": list(self.metadata_warnings),
            "metadata": dict(meta.custom_metadata_map),
        }

    def __repr__(self) -> str:
        return (f"OnnxDenoiser({str(self.path)!r}, provider={self.provider!r}, "
                f"sample_shape={self._info.sample_shape})")


def _constant_loop_trips(graph: Any, outer: dict, numpy_helper: Any):
    """Yield ``(node, trip_count)`` for every ``Loop`` in ``graph`` and its subgraphs whose
    trip-count input is a constant (an initializer or a ``Constant`` node, here or in an
    enclosing graph)."""
    consts = dict(outer)
    for init in graph.initializer:
        consts[init.name] = init
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and node.output:
                    consts[node.output[0]] = attr.t
    for node in graph.node:
        if node.op_type == "Loop" and node.input and node.input[0] in consts:
            try:
                value = numpy_helper.to_array(consts[node.input[0]])
                yield node, int(value.reshape(-1)[0])
            except (ValueError, IndexError, TypeError, OverflowError):
                pass
        for attr in node.attribute:
            subgraphs = [attr.g] if attr.HasField("g") else []
            subgraphs += list(attr.graphs)
            for sub in subgraphs:
                yield from _constant_loop_trips(sub, consts, numpy_helper)


def default_model_path(name: str = "fashion") -> Path:
    """Path of a bundled model: ``"fashion"`` -> ``resources/models/fashion_unet.onnx``,
    any other name -> ``resources/models/toy2d_<name>.onnx``."""
    if name == "fashion":
        return resource("models", "fashion_unet.onnx")
    return resource("models", f"toy2d_{name}.onnx")


def load_default(name: str = "fashion", device: str = "auto") -> OnnxDenoiser:
    """Load a bundled model (see :func:`default_model_path`).

    Raises
    ------
    ModelError
        If the file is missing (naming the path) or unusable.
    """
    path = default_model_path(name)
    if not path.exists():
        raise ModelError(f"{path}: bundled model {name!r} not found; train one with "
                         "`diffview train` or open another .onnx file")
    return OnnxDenoiser(path, device=device)
