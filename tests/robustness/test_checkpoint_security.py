"""Checkpoints are data, never code: ``--resume`` and ``--export-only`` refuse a checkpoint whose
pickle asks to call a function (the classic ``__reduce__`` payload), with one line and exit 2,
and the payload never runs. Real checkpoints, including the committed one, still load."""

from __future__ import annotations

import os
import pickle
import subprocess
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from diffview.cli import run_cli  # noqa: E402
from diffview.training.checkpoint import CheckpointError, load_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "training-state" / "fashion" / "checkpoint.pt"


class _Payload:
    """Unpickling this calls ``func(*args)``: what a booby-trapped checkpoint does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def _payloads(marker: Path):
    return {
        "eval": _Payload(eval, _marker_code(marker)),
        "exec": _Payload(exec, _marker_code(marker)),
        "os.system": _Payload(os.system, f"touch {marker}"),
        "subprocess": _Payload(subprocess.check_call, ["touch", str(marker)]),
    }


def _evil_checkpoint(tmp_path: Path, how: str, payload) -> Path:
    path = tmp_path / f"evil-{how}.pt"
    if how == "top":  # beside the real keys
        torch.save({"model": {}, "config": {}, "step": 1, "x": payload}, path)
    elif how == "weights":  # hidden inside the model's state dict
        torch.save({"model": OrderedDict(w=torch.zeros(2), b=payload), "config": {}}, path)
    elif how == "legacy":  # a bare pickle, the pre-zip torch format
        path.write_bytes(pickle.dumps({"model": payload, "config": {}}, protocol=2))
    elif how == "zip-member":  # a zip checkpoint whose data.pkl was swapped for a payload
        torch.save({"model": {}, "config": {}}, path)
        with zipfile.ZipFile(path) as z:
            members = {n: z.read(n) for n in z.namelist()}
        pkl = next(n for n in members if n.endswith("data.pkl"))
        members[pkl] = pickle.dumps({"model": payload, "config": {}}, protocol=2)
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
    return path


@pytest.mark.parametrize("how", ["top", "weights", "legacy", "zip-member"])
@pytest.mark.parametrize("func", ["eval", "exec", "os.system", "subprocess"])
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, how, func):
    marker = tmp_path / "pwned.txt"
    path = _evil_checkpoint(tmp_path, how, _payloads(marker)[func])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert not marker.exists()
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "refused" in message


@pytest.mark.parametrize("mode", ["resume", "export-only"])
@pytest.mark.parametrize("func", ["eval", "os.system"])
def test_cli_refuses_it_with_one_line_and_runs_nothing(tmp_path, capsys, mode, func):
    marker = tmp_path / "pwned.txt"
    path = _evil_checkpoint(tmp_path, "top", _payloads(marker)[func])
    out = tmp_path / "model.onnx"
    argv = ["train", "--resume", str(path), "--run-dir", str(tmp_path / "run")]
    argv += (["--export-only", "--out", str(out)] if mode == "export-only"
             else ["--data", "toy:moons", "--steps", "2"])
    code = run_cli(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert not marker.exists() and not out.exists()
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "refused" in lines[0] and str(path) in lines[0] and "Traceback" not in err


@pytest.mark.parametrize(("value", "kind"), [
    (torch.Size([2, 3]), "torch.Size"),
    ({1, 2}, "set"),
    (1 + 2j, "complex"),
    (b"raw", "bytes"),
])
def test_types_a_checkpoint_never_holds_are_refused(tmp_path, value, kind):
    path = tmp_path / "odd.pt"
    torch.save({"model": {}, "config": {}, "optimizer": {"state": {0: {"x": value}}}}, path)
    with pytest.raises(CheckpointError, match=kind.split(".")[-1]) as err:
        load_checkpoint(path)
    assert "['optimizer']['state'][0]['x']" in str(err.value)


def test_the_committed_checkpoint_still_loads():
    if not COMMITTED.is_file():
        pytest.skip(f"{COMMITTED} is not in this checkout")
    state = load_checkpoint(COMMITTED)
    assert state["step"] == 12012
    assert state["numpy_rng"]["bit_generator"] == "PCG64"
    assert isinstance(state["model"], OrderedDict)
    assert state["torch_gen"].dtype == torch.uint8


def test_a_fresh_run_checkpoint_loads_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    common = ["train", "--data", "toy:moons", "--batch", "8", "--hidden", "8", "--layers", "1",
              "--run-dir", str(run_dir), "--quiet"]
    assert run_cli([*common, "--steps", "2"]) == 0
    assert run_cli([*common, "--steps", "3", "--resume", str(run_dir / "checkpoint.pt")]) == 0
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 3
