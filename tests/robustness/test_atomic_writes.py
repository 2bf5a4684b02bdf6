"""Nothing half-written, nothing good overwritten: every output goes through diffview.fileio.

A full disk is simulated without root tricks: ``os.fsync`` (where a delayed-allocation file
system reports ENOSPC) or the writer itself raises ``OSError(ENOSPC)`` after 4 KiB, only for
the temporary file of the target. A read-only folder is simulated by making ``mkstemp`` raise
EROFS / EACCES; the real ``chmod 555`` variant is skipped when running as root, because root
writes into read-only folders anyway.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffview import fileio
from diffview.cli import run_cli
from diffview.fileio import (
    OutputError,
    atomic_write,
    check_target,
    check_writable,
    describe_os_error,
    save_bytes,
    save_npy,
    save_png,
    save_text,
    write_via,
)
from tests.eval.gaussian_model import save_gaussian_model

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_SKIP = "running as root: a chmod 555 folder is still writable for root"


def _only_file(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _fsync_full_for(target_name: str, real_fsync=os.fsync):
    """An os.fsync that reports ENOSPC for the temporary file of ``target_name`` only."""

    def fsync(fd):
        try:
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            name = ""
        if name.startswith(f".{target_name}.") and name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    return fsync


# ------------------------------------------------------------------------ the helper itself


def test_a_write_lands_whole_with_no_temporary_left(tmp_path):
    path = tmp_path / "a.bin"
    with atomic_write(path) as fh:
        fh.write(b"x" * 10000)
    assert path.read_bytes() == b"x" * 10000
    assert _only_file(tmp_path) == ["a.bin"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_an_existing_files_permissions_are_kept(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    path.chmod(0o600)
    save_text(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_full_disk_keeps_the_old_file_and_says_so_in_one_line(tmp_path, monkeypatch, where):
    path = tmp_path / "grid.png"
    path.write_bytes(b"the previous good file")
    if where == "fsync":
        monkeypatch.setattr(fileio.os, "fsync", _fsync_full_for("grid.png"))
    if where == "replace":
        def replace(src, dst):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(fileio.os, "replace", replace)
    with pytest.raises(OutputError) as err, atomic_write(path) as fh:
        fh.write(b"y" * 4096)
        if where == "write":
            raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_bytes() == b"the previous good file"
    assert _only_file(tmp_path) == ["grid.png"]
    message = str(err.value)
    assert message == f"cannot write {path}: the disk is full (ENOSPC)"
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)


def test_ctrl_c_half_way_keeps_the_old_file(tmp_path):
    path = tmp_path / "s.npy"
    save_npy(path, np.arange(3))
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as fh:
        fh.write(b"half")
        raise KeyboardInterrupt
    assert np.array_equal(np.load(path), np.arange(3))
    assert _only_file(tmp_path) == ["s.npy"]


def test_a_path_that_is_a_folder_is_refused_and_the_folder_untouched(tmp_path):
    folder = tmp_path / "grid.png"
    (folder / "inside").mkdir(parents=True)
    for write in (lambda: save_bytes(folder, b"x"), lambda: save_npy(folder, np.zeros(2)),
                  lambda: save_png(folder, np.zeros((2, 2), np.uint8)),
                  lambda: check_target(folder)):
        with pytest.raises(OutputError, match="it is a folder, not a file") as err:
            write()
        assert str(folder) in str(err.value)
    assert folder.is_dir() and _only_file(folder) == ["inside"]
    assert _only_file(tmp_path) == ["grid.png"]


def test_a_missing_folder_and_a_file_in_the_way_are_named(tmp_path):
    with pytest.raises(OutputError, match=r"the folder .*nowhere does not exist \(ENOENT\)"):
        save_bytes(tmp_path / "nowhere" / "a.bin", b"x")
    (tmp_path / "plain").write_text("a file")
    with pytest.raises(OutputError, match="a part of the path is a file"):
        save_bytes(tmp_path / "plain" / "a.bin", b"x")
    save_bytes(tmp_path / "made" / "deep" / "a.bin", b"x", make_parents=True)
    assert (tmp_path / "made" / "deep" / "a.bin").read_bytes() == b"x"


@pytest.mark.parametrize(("code", "words"), [
    (errno.EROFS, "the file system is read-only (EROFS)"),
    (errno.EACCES, "permission denied"),
    (errno.EDQUOT, "quota"),
])
def test_a_read_only_folder_is_one_line(tmp_path, monkeypatch, code, words):
    def mkstemp(*a, **k):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    with pytest.raises(OutputError) as err:
        save_text(tmp_path / "session.json", "{}")
    assert words in str(err.value) and str(tmp_path / "session.json") in str(err.value)
    with pytest.raises(OutputError, match=f"cannot write to {tmp_path}"):
        check_writable(tmp_path)


@pytest.mark.skipif(IS_ROOT, reason=ROOT_SKIP)
def test_a_real_read_only_folder(tmp_path):  # pragma: no cover - not run as root
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="permission denied"):
            save_bytes(folder / "a.bin", b"x")
        with pytest.raises(OutputError):
            check_writable(folder)
    finally:
        folder.chmod(0o755)


def test_savers_write_what_they_are_given(tmp_path):
    npy = save_npy(tmp_path / "samples", np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert npy.name == "samples"  # exactly the given name: no ".npy" appended
    assert np.load(npy).tolist() == [[0, 1, 2], [3, 4, 5]]
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_png(tmp_path / "a.png", pixels)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), pixels)
    save_png(tmp_path / "b.png", Image.fromarray(pixels))
    assert Image.open(tmp_path / "b.png").format == "PNG"


def test_write_via_reports_a_writer_that_says_no(tmp_path):
    path = tmp_path / "view.png"
    path.write_bytes(b"old")
    assert not write_via(path, lambda tmp: False)
    assert path.read_bytes() == b"old" and _only_file(tmp_path) == ["view.png"]
    assert write_via(path, lambda tmp: Path(tmp).write_bytes(b"new") and True)
    assert path.read_bytes() == b"new"


def test_describe_os_error_covers_the_usual_causes(tmp_path):
    p = tmp_path / "x.png"
    assert describe_os_error(OSError(errno.ENOSPC, "x"), p) == \
        f"cannot write {p}: the disk is full (ENOSPC)"
    assert "read-only" in describe_os_error(OSError(errno.EROFS, "x"), p)
    assert "it is a folder" in describe_os_error(IsADirectoryError(errno.EISDIR, "x"), p)
    assert f"the folder {tmp_path} does not exist" in describe_os_error(
        FileNotFoundError(errno.ENOENT, "x"), p)
    weird = describe_os_error(OSError(errno.ECONNRESET, "Connection reset by peer\nmore"), p)
    assert "\n" not in weird and "Connection reset" in weird


def test_check_writable_creates_and_probes_and_leaves_nothing(tmp_path):
    folder = check_writable(tmp_path / "run" / "a", create=True)
    assert folder.is_dir() and _only_file(folder) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_writable(tmp_path / "file")
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "nope")


# -------------------------------------------------------------------------- diffview sample


@pytest.fixture(scope="module")
def gray_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "gray.onnx"
    return save_gaussian_model(path, np.full((1, 4, 4), 0.3), 0.2)


def _sample(model, out, npy=None):
    argv = ["sample", "--model", str(model), "--out", str(out), "--n", "4", "--steps", "3",
            "--quiet"]
    return run_cli(argv + (["--npy", str(npy)] if npy else []))


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("target", ["grid.png", "s.npy"])
def test_sample_on_a_full_disk_keeps_the_previous_outputs(gray_model, tmp_path, monkeypatch,
                                                          capsys, target):
    out, npy = tmp_path / "grid.png", tmp_path / "s.npy"
    assert _sample(gray_model, out, npy) == 0
    good = {p: p.read_bytes() for p in (out, npy)}
    capsys.readouterr()
    monkeypatch.setattr(fileio.os, "fsync", _fsync_full_for(target))
    assert _sample(gray_model, out, npy) == 1
    line = _one_error_line(capsys)
    assert line == f"error: cannot write {tmp_path / target}: the disk is full (ENOSPC)"
    assert {p: p.read_bytes() for p in (out, npy)} == good
    assert _only_file(tmp_path) == ["grid.png", "s.npy"]


def test_sample_when_the_encoder_dies_after_4_kib(gray_model, tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid.png"
    out.write_bytes(b"previous good grid")

    def save(self, fp, format=None, **kw):  # noqa: A002 - Pillow's own keyword
        fp.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", save)
    assert _sample(gray_model, out) == 1
    assert "the disk is full" in _one_error_line(capsys)
    assert out.read_bytes() == b"previous good grid"
    assert _only_file(tmp_path) == ["grid.png"]


@pytest.mark.parametrize("flag", ["--out", "--npy"])
def test_sample_to_a_path_that_is_a_folder_fails_before_sampling(gray_model, tmp_path, capsys,
                                                                 flag):
    folder = tmp_path / ("grid.png" if flag == "--out" else "s.npy")
    folder.mkdir()
    out = tmp_path / "ok.png" if flag == "--npy" else folder
    npy = folder if flag == "--npy" else None
    assert _sample(gray_model, out, npy) == 1
    line = _one_error_line(capsys)
    assert line == f"error: cannot write {folder}: it is a folder, not a file (EISDIR)"
    assert not (tmp_path / "ok.png").exists()  # refused before any work


def test_sample_into_a_read_only_folder(gray_model, tmp_path, monkeypatch, capsys):
    def mkstemp(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    assert _sample(gray_model, tmp_path / "grid.png") == 1
    assert "the file system is read-only (EROFS)" in _one_error_line(capsys)
    assert _only_file(tmp_path) == []


# ------------------------------------------------------------------ diffview train and export

torch_needed = pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="needs torch")
TRAIN = ["train", "--data", "toy:moons", "--steps", "3", "--batch", "8", "--hidden", "8",
         "--layers", "1", "--quiet"]


@torch_needed
def test_train_into_a_read_only_run_dir_fails_before_the_first_step(tmp_path, monkeypatch,
                                                                     capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real = fileio.tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):  # noqa: A002
        if Path(dir) == run_dir:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    started = []
    import diffview.training.loop as loop

    monkeypatch.setattr(loop._Run, "batch_loss", lambda self: started.append(1))
    assert run_cli([*TRAIN, "--run-dir", str(run_dir)]) == 1
    line = _one_error_line(capsys)
    assert line == (f"diffview train: cannot write to {run_dir}: the file system is read-only "
                    "(EROFS)")
    assert started == [] and _only_file(run_dir) == []


@torch_needed
@pytest.mark.skipif(IS_ROOT, reason=ROOT_SKIP)
def test_train_into_a_real_read_only_folder(tmp_path, capsys):  # pragma: no cover - as root
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o555)
    try:
        assert run_cli([*TRAIN, "--run-dir", str(run_dir)]) == 1
        assert "permission denied" in _one_error_line(capsys)
    finally:
        run_dir.chmod(0o755)


@torch_needed
@pytest.mark.parametrize("case", ["run-dir-is-a-file", "run-dir-under-a-file", "out-is-a-folder",
                                  "out-under-a-file"])
def test_train_output_problems_are_found_before_training(tmp_path, capsys, case):
    (tmp_path / "file").write_text("x")
    run_dir, out = tmp_path / "run", tmp_path / "m.onnx"
    if case == "run-dir-is-a-file":
        run_dir = tmp_path / "file"
    elif case == "run-dir-under-a-file":
        run_dir = tmp_path / "file" / "run"
    elif case == "out-is-a-folder":
        out.mkdir()
    else:
        out = tmp_path / "file" / "m.onnx"
    assert run_cli([*TRAIN, "--run-dir", str(run_dir), "--out", str(out)]) == 1
    line = _one_error_line(capsys)
    assert line.startswith("diffview train: cannot write")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@torch_needed
def test_a_full_disk_at_a_checkpoint_keeps_the_last_good_one(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    assert run_cli([*TRAIN, "--run-dir", str(run_dir)]) == 0
    good = (run_dir / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(fileio.os, "fsync", _fsync_full_for("checkpoint.pt"))
    argv = [*TRAIN, "--run-dir", str(run_dir), "--resume", str(run_dir / "checkpoint.pt")]
    argv[argv.index("--steps") + 1] = "5"
    assert run_cli(argv) == 1
    line = _one_error_line(capsys)
    assert f"cannot write {run_dir / 'checkpoint.pt'}: the disk is full (ENOSPC)" in line
    assert (run_dir / "checkpoint.pt").read_bytes() == good
    assert _only_file(run_dir) == ["checkpoint.pt"]


@torch_needed
def test_export_only_to_a_folder_or_a_full_disk(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    assert run_cli([*TRAIN, "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    ckpt = run_dir / "checkpoint.pt"
    folder = tmp_path / "m.onnx"
    folder.mkdir()
    assert run_cli(["train", "--resume", str(ckpt), "--export-only", "--out", str(folder)]) == 1
    assert "it is a folder, not a file" in _one_error_line(capsys)
    out = tmp_path / "good.onnx"
    out.write_bytes(b"previous model")
    monkeypatch.setattr(fileio.os, "fsync", _fsync_full_for("good.onnx"))
    assert run_cli(["train", "--resume", str(ckpt), "--export-only", "--out", str(out)]) == 1
    assert "the disk is full (ENOSPC)" in _one_error_line(capsys)
    assert out.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.onnx", "m.onnx", "run"]


# ------------------------------------------------------------------------------ GUI writers


def test_gif_export_on_a_full_disk_keeps_the_old_gif(tmp_path, monkeypatch):
    from diffview.gui.export import write_gif

    out = tmp_path / "anim.gif"
    out.write_bytes(b"old gif")
    real = fileio.os.replace

    def replace(src, dst):
        if Path(dst) == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(fileio.os, "replace", replace)
    with pytest.raises(OutputError, match="the disk is full"):
        write_gif([np.zeros((1, 8, 8), np.float32)] * 3, out, min_side=8)
    assert out.read_bytes() == b"old gif" and _only_file(tmp_path) == ["anim.gif"]


def test_session_save_into_a_folder_is_reported_not_raised(tmp_path):
    from diffview.gui.window.session import SessionService

    errors, status = [], []
    context = type("Ctx", (), {"model_path": None, "device": "cpu",
                               "report_error": lambda _s, *a: errors.append(a)})()
    sessions = SessionService(context, {}, load_model=lambda path: None,
                              show_status=status.append)
    folder = tmp_path / "s.diffview.json"
    folder.mkdir()
    assert not sessions.save(folder)
    assert errors == [("Cannot save session",
                       f"cannot write {folder}: it is a folder, not a file (EISDIR)")]
    assert status == []
    assert sessions.save(tmp_path / "ok.diffview.json")
    assert (tmp_path / "ok.diffview.json").read_text().startswith("{")


@pytest.mark.parametrize("flag", ["--json", "--save-samples"])
def test_fid_outputs_are_checked_before_any_work(tmp_path, capsys, flag):
    from diffview.eval import fid

    folder = tmp_path / "out.json"
    folder.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    assert fid.run(["--model", "default", "--data", str(data), "--n", "10", flag,
                    str(folder)]) == 1
    assert _one_error_line(capsys) == \
        f"error: cannot write {folder}: it is a folder, not a file (EISDIR)"
