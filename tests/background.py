"""The suite's child processes, run in the background beside the in-process tests.

The in-process tests are bound by XLA compiles, which run on one core, and the
machine the suite is written for has two. The tests that run child processes
(``train.py``, ``agents.evaluate``, the data-parallel worker, the notebook, a fresh
interpreter without the learner, a wheel build) register their children here as
*jobs*; when collection ends, the jobs that some selected test needs run one
after another in a background thread, in the order they were added, while the
in-process tests run. A test fixture asks for a job's result with
``LANE.result(name)``: it waits if the job is still running, and runs it on the
spot if it was not started (a test selected some other way). ``tests/conftest.py``
runs the tests that read these results last (``LATE_GROUP``), so they rarely
wait. A job's exception is raised again by ``result`` in the test that asks.

A job can also compile in this process: XLA compiles without holding the GIL,
so a program compiled in the lane's thread costs the in-process tests little
(``test_every_switch_trains.py`` compiles its two training programs there).

One job at a time: each child is a jax process that compiles on one core too,
so the in-process tests keep the other.
"""
from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Callable


class Job:
    def __init__(self, name: str, run: Callable, needed_by: Callable):
        self.name, self.run, self.needed_by = name, run, needed_by
        self.done = threading.Event()
        self.claimed = False
        self.after = None
        self.value = self.error = None
        self.seconds = None

    def execute(self):
        t0 = time.perf_counter()
        try:
            self.value = self.run()
        except BaseException as err:  # kept for the test that asks (re-raised there)
            self.error = err
        self.seconds = time.perf_counter() - t0
        self.done.set()


class Lane:
    def __init__(self):
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.procs: list[subprocess.Popen] = []
        self.thread = None
        self.stopping = False

    def add(self, name: str, run: Callable, needed_by: Callable, after: str | None = None):
        """Register job ``name``: ``run()`` (in the lane's thread) returns its result; it runs if
        ``needed_by(item)`` holds for some selected test item. Jobs run in the order added, or right
        after job ``after`` (and the jobs added after it the same way before this one)."""
        assert name not in self.jobs, f"background job {name!r} added twice"
        job = Job(name, run, needed_by)
        if after is None:
            self.jobs[name] = job
            return
        names = list(self.jobs)
        i = names.index(after) + 1
        while i < len(names) and self.jobs[names[i]].after == after:
            i += 1
        job.after = after
        items = list(self.jobs.items())
        items.insert(i, (name, job))
        self.jobs = dict(items)

    def consumers(self, item) -> bool:
        """Whether a test item needs some background job (the suite runs these tests last)."""
        return any(job.needed_by(item) for job in self.jobs.values())

    def start(self, items):
        queue = [job for job in self.jobs.values() if any(job.needed_by(item) for item in items)]
        if not queue:
            return

        def work():
            for job in queue:
                if self.stopping:
                    return
                if self._claim(job):
                    job.execute()

        self.thread = threading.Thread(target=work, name="test-background-lane", daemon=True)
        self.thread.start()

    def _claim(self, job: Job) -> bool:
        with self.lock:
            if job.claimed:
                return False
            job.claimed = True
            return True

    def result(self, name: str):
        """The job's result: waits for it, or runs it here if the lane has not started it."""
        job = self.jobs[name]
        if self._claim(job):
            job.execute()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value

    def popen(self, args, **kw) -> subprocess.Popen:
        """``subprocess.Popen``, killed at the end of the session if still running."""
        proc = subprocess.Popen(args, **kw)
        self.procs.append(proc)
        return proc

    def run(self, args, timeout: float, log_dir: Path | None = None, **kw):
        """Run a child to the end (killed after ``timeout`` s): (returncode, stdout, stderr)."""
        proc = self.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\n[killed after {timeout} s]"
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / "stdout").write_text(out)
            (log_dir / "stderr").write_text(err)
        return proc.returncode, out, err

    def stop(self):
        """End of the session: no new jobs, children killed, and a compile in the lane's thread allowed
        to finish (the interpreter should not exit under it)."""
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self.thread is not None:
            self.thread.join(timeout=300)

    def report(self) -> list[str]:
        return [f"{job.name}: {job.seconds:.1f} s" for job in self.jobs.values() if job.seconds is not None]


def in_file(path) -> Callable:
    """``needed_by`` for a job that the tests of one file need."""
    path = Path(path).resolve()
    return lambda item: Path(item.path).resolve() == path


LANE = Lane()
