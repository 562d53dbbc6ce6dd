"""Background jobs: discovered from a service's jobs.py, run periodically, failures survived."""

from __future__ import annotations

import sys
import threading

from worklink.service import ServiceSpec
from worklink.workers import run_periodically


def test_jobs_are_discovered_from_the_service_package(tmp_path, monkeypatch):
    package = tmp_path / "worklink_fake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text("def tick(settings, stop):\n    pass\n\nJOBS = {'tick': tick}\n"
                                     "DEV_JOBS = {'sink': tick}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        spec = ServiceSpec("fake", "worklink_fake", 9999, "Fake")
        assert list(spec.jobs) == ["tick"] and list(spec.dev_jobs) == ["sink"]  # deployed vs `worklink up` only
        (package / "jobs.py").unlink()
        sys.modules.pop("worklink_fake.jobs", None)
        assert spec.jobs == {} and spec.dev_jobs == {}
    finally:
        sys.modules.pop("worklink_fake.jobs", None)
        sys.modules.pop("worklink_fake", None)


def test_run_periodically_survives_a_failing_run_and_stops_when_told():
    stop = threading.Event()
    runs = []

    def task():
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        if len(runs) == 3:
            stop.set()

    worker = threading.Thread(target=run_periodically, args=(stop, 0.01, task))
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert runs == [0, 1, 2]


def test_a_failed_run_is_tried_again_soon_doubling_up_to_the_interval_and_a_good_run_resets_it():
    stop = threading.Event()
    waits, outcomes = [], iter([False, False, False, True, False])

    class RecordingStop:
        def is_set(self):
            return stop.is_set()

        def wait(self, seconds):
            waits.append(seconds)
            if len(waits) == 5:
                stop.set()

    def task():
        if not next(outcomes):
            raise RuntimeError("the database is away")

    run_periodically(RecordingStop(), 30, task, retry_after=5)
    assert waits == [5, 10, 20, 30, 5]
