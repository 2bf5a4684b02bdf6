"""A runner dropped without shutdown() while its job runs must not abort the process (Qt
aborts when a running QThread is destroyed); checked in a child process."""

import subprocess
import sys

CODE = r"""
import gc, threading, time
from PySide6.QtCore import QCoreApplication
app = QCoreApplication([])
from diffview.gui.context import AppContext
from diffview.gui.jobs import Job
started = threading.Event()
def start(token):
    started.set()
    while not token.cancelled:
        time.sleep(0.01)
        yield None
ctx = AppContext(device="cpu")
ctx.jobs.start(Job("endless", start))
started.wait(5)
del ctx
gc.collect()
for _ in range(20):
    app.processEvents(); time.sleep(0.01)
print("survived")
"""


def test_dropping_a_context_with_a_running_job_does_not_abort(tmp_path):
    env = {"QT_QPA_PLATFORM": "offscreen", "DIFFVIEW_SETTINGS_DIR": str(tmp_path)}
    import os

    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "survived" in proc.stdout
