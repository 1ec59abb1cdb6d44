"""A killed ``sublim run`` must not leave seed workers writing into its run directory."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = """
import sys, time
from sublim.pipeline.runner import exit_when_orphaned
exit_when_orphaned(int(sys.argv[1]), interval_s=0.1)   # the pid is passed, as the runner does
time.sleep(60)
"""
PARENT = f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}, str(os.getpid())], stdout=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(0.5)
os._exit(0)                     # the parent dies without cleanup, as under SIGKILL
"""


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"    # a zombie has already exited
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_worker_ends_when_its_parent_is_killed():
    out = subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "the orphaned worker kept running after its parent died"
