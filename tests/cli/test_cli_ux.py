"""Command-line details a first-time user meets: ``default`` as a model, honest help defaults,
quiet output when piped, training output in the user data folder, one-line log messages."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from diffview.cli import build_parser, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ, DIFFVIEW_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _bundled():
    from diffview.engine import default_model_path

    path = default_model_path()
    if not path.is_file():
        pytest.skip("the bundled model is not in this checkout")
    return path


# ------------------------------------------------------------------------------ 'default'


def test_info_takes_default_like_sample(capsys):
    path = _bundled()
    assert run_cli(["info", "default", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert Path(described["path"]).resolve() == path.resolve()


def test_info_default_without_the_bundled_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DIFFVIEW_RESOURCES", str(tmp_path))
    assert run_cli(["info", "default"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "fashion_unet.onnx" in err[0]


# ------------------------------------------------------------------------------ help


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _help_lines(command: str, monkeypatch) -> list[str]:
    """One entry per option: its invocation and its whole help text on one line."""
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping of the help texts to undo
    entries: list[str] = []
    for line in _subparser(command).format_help().splitlines():
        if re.match(r"\s{2}-", line) or not entries or not line.startswith(" " * 6):
            entries.append(line)
        else:  # a long invocation puts its help on the next line
            entries[-1] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command", ["train", "sample", "info", "nll"])
def test_no_help_line_shows_default_none(command, monkeypatch):
    for line in _help_lines(command, monkeypatch):
        assert "default: None" not in line, line
        # "[5000] (default: ...)": a bracketed value next to a stated default
        assert not re.search(r"\[[^\],\s]+\]\s*\(default:", line), line


def test_train_help_defaults_are_the_config_defaults(monkeypatch):
    from diffview.cli.train import _OPTION_NAMES
    from diffview.training.config import TrainConfig

    parser = _subparser("train")
    lines = _help_lines("train", monkeypatch)
    defaults = TrainConfig.__dataclass_fields__
    checked = 0
    for action in parser._actions:
        field_name = _OPTION_NAMES.get(action.dest)
        if field_name is None or defaults[field_name].default is None:
            continue
        flag = action.option_strings[0]
        line = next(ln for ln in lines if re.match(rf"\s+{re.escape(flag)}\b", ln))
        shown = re.findall(r"\(default: ([^)]*)\)", line)
        assert len(shown) == 1, line  # exactly one default per option
        value = action.type(shown[0]) if action.type else shown[0]
        assert value == defaults[field_name].default, (flag, shown[0])
        checked += 1
    assert checked >= 25  # every training hyper-parameter, not a few


def test_sample_help_states_the_clip_default(monkeypatch):
    from diffview.core.samplers import CLIP_X0_DEFAULT

    text = " ".join(_help_lines("sample", monkeypatch))
    assert "--no-clip-x0" in text
    clip_help = next(a.help for a in _subparser("sample")._actions if a.dest == "clip_x0")
    assert ("image models are clipped" in clip_help) == bool(CLIP_X0_DEFAULT)


# ------------------------------------------------------------------------------ piped output


def test_sample_piped_prints_no_progress(tmp_path):
    _bundled()
    out = tmp_path / "g.png"
    proc = subprocess.run(
        [sys.executable, "-m", "diffview", "sample", "--model", "default", "--n", "2",
         "--batch", "1", "--steps", "3", "--out", str(out)],
        env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    assert proc.stderr == ""                       # no bar, no carriage returns
    assert proc.stdout.count("\n") == 1 and "\r" not in proc.stdout  # the summary line only


def test_train_writes_to_the_user_data_folder_and_is_quiet_when_piped(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    work = tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "diffview", "train", "--data", "toy:moons", "--steps", "12",
         "--batch", "16", "--hidden", "8", "--layers", "1", "--threads", "1"],
        env=_env(tmp_path), cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(work.iterdir()) == []              # nothing in the current directory
    data = tmp_path / "data"
    assert (data / "runs" / "moons" / "checkpoint.pt").is_file()
    models = list((data / "models").glob("moons-12steps-*.onnx"))
    assert len(models) == 1
    assert str(models[0]) in proc.stdout           # it says where the model went
    assert str(data / "runs" / "moons") in proc.stdout
    assert "[step" not in proc.stdout and "\r" not in proc.stdout + proc.stderr
    assert proc.stderr == ""


# ------------------------------------------------------------------------------ logging


def test_gui_logging_keeps_tracebacks_in_the_file(tmp_path):
    script = (
        "import logging, sys\n"
        "from diffview.__main__ import configure_logging\n"
        "path = configure_logging()\n"
        "try:\n"
        "    raise ValueError('model.onnx is not an ONNX file\\nsecond line')\n"
        "except ValueError:\n"
        "    logging.getLogger('diffview.gui.workers').exception('job 1 failed')\n"
        "logging.getLogger('diffview.gui').warning('a plain warning')\n"
        "print(path)\n")
    proc = subprocess.run([sys.executable, "-c", script], env=_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.splitlines()
    assert len(err) == 2, proc.stderr              # one line per message
    assert "Traceback" not in proc.stderr
    assert "job 1 failed: ValueError: model.onnx is not an ONNX file" in err[0]
    log_file = Path(proc.stdout.strip())
    assert log_file == tmp_path / "data" / "logs" / "diffview.log"
    assert str(log_file) in err[0]
    text = log_file.read_text()
    assert "Traceback" in text and "second line" in text and "a plain warning" in text


def test_gui_log_file_is_rotating_and_small(tmp_path, monkeypatch):
    import logging
    from logging.handlers import RotatingFileHandler

    from diffview.__main__ import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    monkeypatch.setattr(root, "handlers", [])
    try:
        assert configure_logging(log_dir=tmp_path) == tmp_path / "diffview.log"
        files = [h for h in root.handlers if isinstance(h, RotatingFileHandler)]
        assert len(files) == 1
        assert 0 < files[0].maxBytes <= 1024 * 1024 and files[0].backupCount >= 1
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = saved
