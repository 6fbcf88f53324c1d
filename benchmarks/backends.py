"""Where runs execute: a pool of local worker processes (default) or Ray tasks.

Both backends take tasks with `submit` — one `RunSpec`, or a tuple of runs that differ only in their seed (a seed
group, trained as one multi-seed model) — and hand back, through `poll`, the `Progress` reports and the final
`Outcome` of every run; the driver (`benchmarks.run.run_grid`) decides about retries. A worker runs
`benchmarks.runner.execute_task` with one torch thread per CPU it was given and ``OMP_NUM_THREADS`` set to match.

- `LocalBackend`: up to `workers` ``spawn``ed processes, each executing one run at a time and reused for the next.
  A process that dies mid-run (SIGKILL, out of memory, segfault) turns into a ``killed`` outcome naming the signal
  and is replaced. A worker whose driver died stops at its next progress report (about every second), leaving its
  last checkpoint behind.
- `RayBackend`: one Ray task per run attempt with ``num_cpus``/``num_gpus`` resources (Ray sets
  ``OMP_NUM_THREADS`` to a task's CPUs); Ray itself retries a task whose worker process died (``max_retries``), and
  the retried task resumes from the run's checkpoint. It starts a local Ray cluster unless given an address (or
  one is already initialised). Workers import this repository from the driver's working directory and must see
  the results store and the Minari store at the driver's paths: a local cluster always does; on a multi-node
  cluster put the checkout and both stores on shared storage at the same paths.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmarks.runner import Outcome, Progress, RunContext, execute_task
from benchmarks.suites import RunSpec

Event = Progress | Outcome
#: A unit of work: one run, or a seed group (runs differing only in their seed, trained as one multi-seed model).
Task = RunSpec | tuple[RunSpec, ...]


def task_specs(task: Task) -> tuple[RunSpec, ...]:
    """The runs of a task."""
    return task if isinstance(task, tuple) else (task,)


class Backend(Protocol):
    """What the driver needs from a backend."""

    name: str
    capacity: int
    #: Whether the backend itself already retried a run whose worker died (then the driver does not).
    retries_killed: bool

    def submit(self, task: Task) -> None:
        """Start one attempt at `task` (the driver never has more than `capacity` tasks running at once)."""

    def running(self) -> int:
        """How many submitted tasks have runs that have not yet produced their `Outcome`."""

    def poll(self, timeout: float) -> list[Event]:
        """Progress reports and outcomes since the last call, waiting up to `timeout` seconds for the first."""

    def close(self) -> None:
        """Stop whatever is still running and release the backend's resources."""


#: Environment of local workers: one OpenMP/MKL thread, and no spin-waiting (erratic on busy cores).
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the processes started inside the block, then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _local_worker(context: RunContext, tasks: Any, events: Any, parent_pid: int) -> None:
    """Body of a local worker process: one torch thread; run the specs sent on `tasks` until None arrives."""
    import torch

    torch.set_num_threads(1)

    def driver_alive() -> bool:
        return os.getppid() == parent_pid

    def report(progress: Progress) -> None:
        if not driver_alive():  # the driver died: stop here, the run resumes from its checkpoint
            os._exit(3)
        events.put(progress)

    try:
        while driver_alive():
            try:
                task = tasks.get(timeout=1.0)
            except queue.Empty:
                continue
            if task is None:
                return
            for outcome in execute_task(task_specs(task), context, report):
                events.put(outcome)
    except KeyboardInterrupt:
        pass  # the driver was interrupted too; the run's status stays "running" and it resumes next time


def describe_exit(exitcode: int | None) -> str:
    """Why a worker process ended without reporting an outcome."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker process killed by {name} (out of memory, or killed from outside)"
    return f"worker process exited with code {exitcode} without reporting an outcome"


@dataclass
class _Worker:
    """A worker process, its task queue and the runs of its task still without an outcome (empty when idle)."""

    process: Any
    tasks: Any
    run_ids: set[str] = field(default_factory=set)


class LocalBackend:
    """Runs attempts in up to `workers` ``spawn``ed processes, each executing one run at a time. Processes are
    reused from run to run (imports cost seconds); one that dies is replaced by a fresh one."""

    name = "local"
    retries_killed = False

    def __init__(self, context: RunContext, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.context = context
        self.capacity = workers
        self._mp = multiprocessing.get_context("spawn")
        self._events = self._mp.Queue()
        self._workers: list[_Worker] = []
        self._started = 0

    def _start_worker(self) -> _Worker:
        tasks = self._mp.Queue()
        self._started += 1
        process = self._mp.Process(
            target=_local_worker,
            args=(self.context, tasks, self._events, os.getpid()),
            name=f"iqlzoo-worker-{self._started}",
            daemon=True,
        )
        with _environment(_ONE_THREAD):
            process.start()
        worker = _Worker(process, tasks)
        self._workers.append(worker)
        return worker

    def submit(self, task: Task) -> None:
        idle = [w for w in self._workers if not w.run_ids and w.process.is_alive()]
        worker = idle[0] if idle else self._start_worker()
        worker.run_ids = {spec.run_id for spec in task_specs(task)}
        worker.tasks.put(task)

    def running(self) -> int:
        return sum(bool(worker.run_ids) for worker in self._workers)

    def worker_pid(self, run_id: str) -> int | None:
        """The process id of the worker executing `run_id`, or None."""
        return next((w.process.pid for w in self._workers if run_id in w.run_ids), None)

    def _drain(self, first_timeout: float = 0.0) -> list[Event]:
        events: list[Event] = []
        try:
            events.append(self._events.get(timeout=first_timeout) if first_timeout > 0 else self._events.get_nowait())
            while True:
                events.append(self._events.get_nowait())
        except queue.Empty:
            pass
        for outcome in (event for event in events if isinstance(event, Outcome)):
            for worker in self._workers:
                worker.run_ids.discard(outcome.run_id)
        return events

    def poll(self, timeout: float) -> list[Event]:
        events = self._drain(timeout)
        for worker in list(self._workers):
            if worker.process.is_alive():
                continue
            worker.process.join()
            events += self._drain()
            for run_id in sorted(worker.run_ids):
                events.append(Outcome(run_id, "killed", 0, describe_exit(worker.process.exitcode)))
            self._workers.remove(worker)
        return events

    def close(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                worker.tasks.put(None)
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._workers.clear()
        self._events.close()


def _ray_entry(task: Task, context: RunContext, events: Any, threads: int) -> list[Outcome]:
    """Body of a Ray task: `threads` torch threads, execute the task, report progress through a Ray queue."""
    import torch

    torch.set_num_threads(threads)
    return execute_task(task_specs(task), context, events.put)


class RayBackend:
    """Runs each attempt as a Ray task with `cpus_per_run` CPUs and `gpus_per_run` GPUs."""

    name = "ray"
    retries_killed = True

    def __init__(
        self,
        context: RunContext,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_run: float = 1.0,
        gpus_per_run: float = 0.0,
        max_retries: int = 2,
    ) -> None:
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise RuntimeError(
                "the Ray backend needs Ray: pip install 'iqlzoo[ray]' (or pip install \"ray[default]\")"
            ) from None
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            # A cluster started here runs its workers at nice 0, as the local backend's: Ray's default (15) leaves
            # the training runs a few percent of a core beside any other work on the machine (measured: 3.9 min
            # instead of 0.3 for a 40-step smoke run beside two training jobs). An existing cluster keeps its own.
            system = {"worker_niceness": 0} if address is None else None
            ray.init(address=address, include_dashboard=False, log_to_driver=False, _system_config=system)
        threads = max(1, int(cpus_per_run))
        self.context = context
        cluster_cpus = ray.cluster_resources().get("CPU", 1.0)
        self.capacity = workers or max(1, int(cluster_cpus // max(cpus_per_run, 1e-9)))
        self._queue = Queue(actor_options={"num_cpus": 0})
        self._task = ray.remote(_ray_entry).options(
            num_cpus=cpus_per_run,
            num_gpus=gpus_per_run,
            max_retries=max_retries,
            retry_exceptions=False,
        )
        self._threads = threads
        self._max_retries = max_retries
        self._pending: dict[Any, tuple[str, ...]] = {}

    def submit(self, task: Task) -> None:
        ref = self._task.remote(task, self.context, self._queue, self._threads)
        self._pending[ref] = tuple(spec.run_id for spec in task_specs(task))

    def running(self) -> int:
        return len(self._pending)

    def _drain(self) -> list[Event]:
        size = self._queue.qsize()
        return list(self._queue.get_nowait_batch(size)) if size else []

    def poll(self, timeout: float) -> list[Event]:
        ray = self._ray
        events = self._drain()
        if not self._pending:
            return events
        ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=0)
        outcomes = []
        for ref in ready:
            run_ids = self._pending.pop(ref)
            try:
                outcomes.extend(ray.get(ref))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.OutOfMemoryError) as error:
                reason = f"Ray worker died (after {self._max_retries} Ray retries): {str(error).splitlines()[0]}"
                outcomes.extend(Outcome(run_id, "killed", 0, reason) for run_id in run_ids)
            except ray.exceptions.RayError as error:
                reason = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                outcomes.extend(Outcome(run_id, "failed", 0, reason) for run_id in run_ids)
        return events + self._drain() + outcomes

    def close(self) -> None:
        ray = self._ray
        for ref in self._pending:
            ray.cancel(ref, force=True)
        self._pending.clear()
        self._queue.shutdown()
        if self._owns_ray:
            ray.shutdown()
