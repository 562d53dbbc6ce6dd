"""Pieces every HTTP benchmark shares: start a target under the shared gunicorn settings,
stop it, and run load-generator processes."""

from __future__ import annotations

import http.client
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_gunicorn(target: str, port: int, env: dict[str, str], probe: str = "/") -> subprocess.Popen:
    """Serve `target` (module:app) with worklink.gunicorn_conf; return once `probe` answers."""
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:worklink.gunicorn_conf",
                                "--bind", f"127.0.0.1:{port}", target], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", probe)
            conn.getresponse().read()
            conn.close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn for {target} did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def run_processes(target, args_for, processes: int) -> list:
    """Run target(*args_for(i), queue) in `processes` processes; collect what each puts on the queue."""
    queue = mp.Queue()
    procs = [mp.Process(target=target, args=(*args_for(p), queue)) for p in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return results
