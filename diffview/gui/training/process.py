"""The training child process: ``diffview train --progress-json --stdin-control`` in a QProcess.

Why a process and not a QThread: torch holds the GIL for long stretches of Python-level work
and can crash (out of memory, a native abort) in ways no thread survives. In a child process
the GUI event loop never waits on torch, a crash takes down only the child (the last
checkpoint stays), and stopping it on close or killing it outright is clean. Commands go in as
lines on stdin (``pause``, ``resume``, ``stop``), which works the same on Windows, unlike
SIGSTOP/SIGTERM; progress comes back as JSON lines (:mod:`diffview.training.protocol`).
"""

from __future__ import annotations

import collections
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from diffview.training.protocol import COMMANDS, decode_line

__all__ = ["TrainingProcess", "clean_temporaries", "train_command"]

log = logging.getLogger(__name__)

STOP_GRACE_MS = 2000  # on close: time the child gets to write its checkpoint before a kill
KILL_WAIT_MS = 500


def train_command(args: list[str]) -> tuple[str, list[str]]:
    """Program and arguments that run ``diffview train ARGS`` with this interpreter or build."""
    if getattr(sys, "frozen", False):  # a PyInstaller build: the executable takes sub-commands
        return sys.executable, ["train", *args]
    return sys.executable, ["-m", "diffview", "train", *args]


def clean_temporaries(run_dir: str | Path) -> list[Path]:
    """Remove the ``.NAME.*.tmp`` files of atomic writes a killed child never finished."""
    removed = []
    root = Path(run_dir)
    for folder in (root, root / "previews"):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                try:
                    tmp.unlink()
                    removed.append(tmp)
                except OSError:
                    pass
    return removed


class TrainingProcess(QObject):
    """One training child at a time.

    Signals
    -------
    event_received(dict)
        A protocol event from the child's stdout.
    log_received(str)
        A line the child wrote on stderr (or a non-protocol stdout line).
    exited(int, bool)
        Exit code and whether it crashed (killed by a signal, or failed to start).
    """

    event_received = Signal(dict)
    log_received = Signal(str)
    exited = Signal(int, bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._proc: QProcess | None = None
        self._buffer = b""
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self.start_error = ""

    # ---- control -----------------------------------------------------------------------

    def start(self, args: list[str]) -> None:
        """Start ``diffview train ARGS`` (adds the protocol flags)."""
        if self.is_running():
            raise RuntimeError("a training process is already running")
        self._buffer = b""
        self.stderr_tail.clear()
        self.start_error = ""
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._proc = proc
        program, argv = train_command([*args, "--progress-json", "--stdin-control"])
        log.info("starting training: %s %s", program, " ".join(argv))
        proc.start(program, argv)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def pid(self) -> int:
        return int(self._proc.processId()) if self._proc is not None else 0

    def send(self, command: str) -> bool:
        """Write ``pause``, ``resume`` or ``stop`` to the child; False when none runs."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}")
        if not self.is_running():
            return False
        self._proc.write((command + "\n").encode())
        return True

    def close_input(self) -> None:
        """No more commands: the child sees end of input (it is finishing anyway)."""
        if self.is_running():
            self._proc.closeWriteChannel()

    def kill(self) -> None:
        if self.is_running():
            self._proc.kill()

    def shutdown(self, grace_ms: int = STOP_GRACE_MS) -> bool:
        """Stop the child for good: ``stop``, wait ``grace_ms``, then kill. Blocks at most
        ``grace_ms + KILL_WAIT_MS``; used when the window closes. True if it stopped cleanly."""
        proc = self._proc
        if proc is None or proc.state() == QProcess.ProcessState.NotRunning:
            return True
        for sig in (proc.finished, proc.readyReadStandardOutput, proc.readyReadStandardError,
                    proc.errorOccurred):
            try:
                sig.disconnect()
            except (RuntimeError, TypeError):
                pass
        proc.write(b"stop\n")
        proc.closeWriteChannel()
        clean = proc.waitForFinished(grace_ms)
        if not clean:
            proc.kill()
            proc.waitForFinished(KILL_WAIT_MS)
        self._proc = None
        proc.deleteLater()
        return clean

    # ---- output ------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        proc = self.sender() if isinstance(self.sender(), QProcess) else self._proc
        if proc is None:
            return
        self._buffer += bytes(proc.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            event = decode_line(raw)
            if event is not None:
                self.event_received.emit(event)
            elif raw.strip():
                self.log_received.emit(raw.decode("utf-8", "replace").rstrip())

    def _read_stderr(self) -> None:
        proc = self._proc
        if proc is None:
            return
        text = bytes(proc.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self.stderr_tail.append(line)
                self.log_received.emit(line)

    def _on_finished(self, code: int, status) -> None:
        self._read_stdout()
        self._read_stderr()
        crashed = status == QProcess.ExitStatus.CrashExit
        self.exited.emit(int(code), bool(crashed))

    def _on_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            program = self._proc.program() if self._proc is not None else "?"
            self.start_error = f"could not start {program}: {self._proc.errorString()}"
            self.stderr_tail.append(self.start_error)
            self.exited.emit(-1, True)
