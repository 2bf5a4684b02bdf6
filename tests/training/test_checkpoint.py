import pytest
import torch

from diffview.training.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    save_checkpoint,
)


def test_save_leaves_no_temporary_file_and_loads_back(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint(path, {"model": {"w": torch.arange(3.0)}, "config": {}, "step": 7})
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]
    state = load_checkpoint(path)
    assert state["step"] == 7
    assert torch.equal(state["model"]["w"], torch.arange(3.0))


def test_crash_in_the_middle_of_a_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": {}, "config": {}, "step": 1})
    before = path.read_bytes()

    def torn_write(fh):
        fh.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the user pressed Ctrl-C half-way

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, torn_write)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_missing_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(CheckpointError, match="not a diffview training checkpoint"):
        load_checkpoint(other)


def test_written_files_are_readable_by_others(tmp_path):
    path = atomic_write_bytes(tmp_path / "model.onnx", lambda fh: fh.write(b"x"))
    assert path.stat().st_mode & 0o044 == 0o044
