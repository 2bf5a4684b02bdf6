"""``diffview info MODEL``: show what diffview reads from an ONNX model, without torch."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from diffview.cli.common import MODEL_HELP, ModelArgError, resolve_model_path


def add_parser(subparsers: Any, help_text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("info", help=help_text, description=help_text)
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="execution provider to try (default: auto)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
          "tensor(int64)": "int64", "tensor(int32)": "int32"}


# Foreign metadata is shown, but a hostile file must not flood the terminal: entries and values
# beyond these are cut ("...") in the text report; --json gives everything.
MAX_OTHER_ENTRIES = 50
QUOTE_CHARS = 80


def _cut(text: str, limit: int = QUOTE_CHARS) -> str:
    text = str(text).replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + "..."


def _shape(shape: list | None) -> str:
    return "[?]" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def format_description(d: dict[str, Any]) -> str:
    """The human-readable report of :meth:`OnnxDenoiser.describe`."""
    info = d["info"]
    roles = {d["sample_input"]: "sample", d["timestep_input"]: "timestep"}
    lines = [f"model      {d['path']} ({d['size_bytes']:,} bytes"
             + (f", producer {d['producer']})" if d["producer"] else ")")]
    provider = f"provider   {d['provider']} (requested {d['device_requested']})"
    lines.append(provider)
    if d["provider_note"]:
        lines.append(f"           note: {d['provider_note']}")
    for i, arg in enumerate(d["inputs"]):
        label = "inputs     " if i == 0 else "           "
        lines.append(f"{label}{arg['name']}  {_shape(arg['shape'])}  "
                     f"{_TYPES.get(arg['dtype'], arg['dtype'])}  ({roles.get(arg['name'], '?')})")
    for i, arg in enumerate(d["outputs"]):
        label = "outputs    " if i == 0 else "           "
        used = "  (epsilon)" if arg["name"] == d["output"] else ""
        lines.append(f"{label}{arg['name']}  {_shape(arg['shape'])}  "
                     f"{_TYPES.get(arg['dtype'], arg['dtype'])}{used}")
    if d["fixed_batch"]:
        lines.append(f"batch      fixed at {d['fixed_batch']} (inputs are fed in chunks)")
    time = (f"continuous, sde {json.dumps(info['sde'])}" if info["time_kind"] == "continuous"
            else f"index 0..{info['T'] - 1}, schedule {info['schedule']}")
    lines += [
        f"kind       {info['kind']}, sample shape {tuple(info['sample_shape'])}, "
        f"value range {tuple(info['value_range'])}",
        f"time       {time}",
        f"data       {info['dataset']}"
        + (f", {len(info['class_names'])} classes" if info["class_names"] else "")
        + (f", {info['training_steps']:,} training steps" if info["training_steps"] else ""),
    ]
    if info["extra"]:
        lines.append(f"extra      {_cut(json.dumps(info['extra'], sort_keys=True), 400)}")
    others = {k: v for k, v in d["metadata"].items() if not k.startswith("diffview.")}
    for key, value in sorted(others.items())[:MAX_OTHER_ENTRIES]:
        lines.append(f"metadata   {_cut(key)} = {_cut(value)}")
    if len(others) > MAX_OTHER_ENTRIES:
        lines.append(f"metadata   ... and {len(others) - MAX_OTHER_ENTRIES:,} more entries "
                     "(--json lists them all)")
    for warning in d["metadata_warnings"]:
        lines.append(f"warning    {warning}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from diffview.engine import ModelError
    from diffview.engine.onnx_denoiser import OnnxDenoiser

    try:
        model = OnnxDenoiser(resolve_model_path(args.model), device=args.device)
    except (ModelError, ModelArgError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    description = model.describe()
    if args.json:
        print(json.dumps(description, indent=2))
    else:
        print(format_description(description))
    return 0
