"""Resumable cells of work, run in dependency order by a pool of worker processes or on a Ray cluster.

A cell is one job that writes one folder. When it finishes, a record under ``out/cells/`` keeps
how long it took, when it finished and the arguments it was planned with; a rerun skips it
while that record, its output and the cells it needs are all still valid, so an interrupted run
continues where it stopped. The runner knows nothing of what the jobs do.

Two executors run the cells: ``process`` (a pool of local worker processes that share the cores
as cells start and end) and ``ray`` (each cell a Ray task asking for one CPU, and a GPU where the
cell needs one, on a local instance or the cluster at ``address``). On Ray the run folder must be
on storage every node mounts: the runner checks that each node sees it before any cell starts.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from darla.errors import DarlaError
from darla.files import write_json_atomic

CELLS_DIR = "cells"
#: how cells can be run
EXECUTORS = ("process", "ray")
LOGS_DIR = "logs"
#: seconds between a worker's looks at how many cells are running
RESHARE_SECONDS = 2.0
#: in a worker: the number of cells running now, shared with the runner
_running: Any = None


class Job(Protocol):
    """What a cell does. ``args`` is the JSON it was planned from (kept in the cell's record, so a
    cell planned otherwise later is redone); ``run`` does the work in this process."""

    @property
    def args(self) -> dict[str, Any]:
        """The JSON the job was planned from."""
        ...

    def run(self) -> None:
        """Do the job's work in this process."""
        ...


@dataclass(frozen=True)
class Cell:
    """One unit of work: ``job`` writes ``output``, after the cells in ``needs``.

    :param name: a path-like id, also the name of its log file and record.
    :param job: the work, with its configs already built (a bad setting fails at planning).
    :param output: the file a finished cell leaves in its folder (the folder holds nothing else
        of another cell's).
    :param needs: names of cells that must be done first.
    :param resumable: whether the job continues what an interrupted run left in the output's
        folder; else that folder is emptied before the cell runs again.
    :param gpu: the cell computes on a GPU (on Ray it asks for one).
    """

    name: str
    job: Job
    output: str
    needs: tuple[str, ...] = ()
    resumable: bool = True
    gpu: bool = False

    @property
    def args(self) -> dict[str, Any]:
        """The job's arguments, as planned."""
        return self.job.args


def run_cell(cell: Cell) -> None:
    """Do one cell's work in this process."""
    if not cell.resumable:
        shutil.rmtree(Path(cell.output).parent, ignore_errors=True)
    cell.job.run()


def _share_cores(*_: Any) -> None:
    """Give this worker's torch an equal share of the cores among the cells running now."""
    import torch

    threads = max(1, (os.cpu_count() or 1) // max(1, _running.value))
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)


def _end_with(sentinel: int) -> None:
    """Exit this worker as soon as ``sentinel`` (its parent's) is ready, that is when the parent has ended."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _init_worker(running: Any) -> None:
    global _running
    _running = running
    # the alarm's handler below reads torch: imported whole first, for a handler that interrupts this process's
    # own import of torch finds it partly initialised (AttributeError, or a KeyError in importlib's module locks)
    import torch  # noqa: F401

    # a worker whose run was killed would finish the cell it holds and then wait for work forever; every cell
    # writes its output whole, so one left unfinished is redone on resume, as after Ctrl-C
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()
    # a cell's threads follow the others as they start and end, so a long vision cell left alone takes every
    # core; the handler runs between Python bytecodes (never inside a torch op) and system calls restart
    signal.signal(signal.SIGALRM, _share_cores)
    signal.siginterrupt(signal.SIGALRM, False)
    signal.setitimer(signal.ITIMER_REAL, RESHARE_SECONDS, RESHARE_SECONDS)


def _run_logged(cell: Cell, log: str, threads: int | None = None) -> float:
    """Run a cell with its output in its log file (workers share one terminal); returns seconds.
    ``threads``: torch's thread count (a Ray task's CPUs), else the pool worker's share of the cores."""
    if threads is None:
        _share_cores()
    else:
        import torch

        torch.set_num_threads(threads)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "a") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        run_cell(cell)
    return time.perf_counter() - start


#: submit(cell, log) -> a future of the cell's seconds
Submit = Callable[[Cell, str], "Future[float]"]


def _workers(workers: int) -> tuple[ProcessPoolExecutor, Any]:
    """``workers`` worker processes, each sharing the cores and ending with this process, and the count of
    running cells they read."""
    context = multiprocessing.get_context("spawn")
    running = context.RawValue("i", 0)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(running,)), running


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[tuple[Submit | None, Any]]:
    """The worker processes and the count of running cells they read (neither for one worker: cells run here)."""
    if workers == 1:
        yield None, None
        return
    pool, running = _workers(workers)
    try:
        yield (lambda cell, log: pool.submit(_run_logged, cell, log)), running
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _sees(path: str, token: str) -> bool:
    """Whether this machine reads ``token`` in ``path`` (a Ray node's look at the run folder)."""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


@contextlib.contextmanager
def _ray(out: Path, address: str | None) -> Iterator[tuple[Submit, None]]:
    """Cells as Ray tasks, on the cluster at ``address`` (None: a local instance on this machine's cores),
    once every node has shown that it sees the run folder."""
    try:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    except ImportError:
        raise DarlaError("--executor ray needs Ray: pip install 'darla[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        probe = out / f".ray_probe_{uuid.uuid4().hex}"
        token = uuid.uuid4().hex
        probe.write_text(token)
        look = ray.remote(num_cpus=0)(_sees)
        nodes = [n for n in ray.nodes() if n["Alive"]]
        try:
            seen = ray.get([look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(str(probe), token)
                            for n in nodes])
        finally:
            probe.unlink(missing_ok=True)
        blind = [n["NodeManagerAddress"] for n, ok in zip(nodes, seen) if not ok]
        if blind:
            raise DarlaError(f"Ray node(s) {', '.join(blind)} cannot read the run folder {out}: put --out on storage every node mounts")
        task = ray.remote(_run_logged)

        def submit(cell: Cell, log: str) -> Future[float]:
            return task.options(num_cpus=1, num_gpus=int(cell.gpu), max_retries=0).remote(cell, log, 1).future()

        yield submit, None
    finally:
        if started:
            ray.shutdown()


def _record_path(out: Path, cell: Cell) -> Path:
    return out / CELLS_DIR / f"{cell.name}.json"


def _portable_args(cell: Cell, out: Path) -> Any:
    """The cell's arguments as JSON, with the run folder's path written ``{out}`` so a moved run still matches."""
    return json.loads(json.dumps(cell.args).replace(json.dumps(str(out))[1:-1], "{out}"))


def finished_cells(cells: list[Cell], out: Path) -> dict[str, float]:
    """Seconds each finished cell took, for the cells still valid: recorded as finished with the
    arguments planned now, output present, and finished after every cell it needs (else a needed
    cell was redone since).

    :param cells: every cell, in dependency order.
    :param out: the run folder.
    """
    finished: dict[str, float] = {}
    when: dict[str, float] = {}
    for cell in cells:
        path = _record_path(out, cell)
        if not path.is_file() or not Path(cell.output).exists():
            continue
        try:
            record = json.loads(path.read_text())
            record["seconds"], record["finished"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            continue  # a damaged record: run the cell again
        # a cell planned with other arguments (the frames gained pairs, an evaluation more seeds) is redone;
        # records written before cells kept their arguments are taken as they are
        if record.get("args", _portable_args(cell, out)) != _portable_args(cell, out):
            continue
        if all(n in finished and when[n] <= record["finished"] for n in cell.needs):
            finished[cell.name], when[cell.name] = record["seconds"], record["finished"]
    return finished


def _finish(out: Path, cell: Cell, seconds: float) -> None:
    write_json_atomic(_record_path(out, cell), {"seconds": seconds, "finished": time.time(), "args": _portable_args(cell, out)})


def chain_lengths(cells: list[Cell]) -> dict[str, int]:
    """Per cell, the number of cells on the longest chain that starts at it (itself included)."""
    waiting: dict[str, list[str]] = {c.name: [] for c in cells}
    for cell in cells:
        for need in cell.needs:
            waiting.setdefault(need, []).append(cell.name)
    length: dict[str, int] = {}
    for cell in reversed(cells):  # in dependency order: whatever waits on a cell comes after it
        length[cell.name] = 1 + max((length[w] for w in waiting[cell.name]), default=0)
    return length


def run_cells(cells: list[Cell], out: Path, workers: int, executor: str = "process", address: str | None = None) -> dict[str, float]:
    """Run every cell not finished, each once its needs are; returns seconds per cell run.

    :param cells: every cell, in dependency order.
    :param out: the run folder (records under ``cells/``, worker logs under ``logs/``).
    :param workers: cells run at once, each in its own process (1 with ``process``: all in this process).
    :param executor: ``process`` or ``ray`` (see the module's docstring).
    :param address: the Ray cluster's address (``ray`` only; None starts a local instance).
    """
    if executor not in EXECUTORS:
        raise DarlaError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    finished = finished_cells(cells, out)
    done = set(finished)
    todo = [c for c in cells if c.name not in done]
    for cell in todo:
        record = _record_path(out, cell)
        if record.is_file():
            # finished once but stale (output gone, or built on a cell redone since): start it afresh
            record.unlink()
            shutil.rmtree(Path(cell.output).parent, ignore_errors=True)
    seconds: dict[str, float] = {}
    chain = chain_lengths(cells)
    bar = tqdm(total=len(cells), initial=len(done), desc="cells", unit="cell")
    with (_ray(out, address) if executor == "ray" else _pool(workers)) as (submit, count):
        running: dict[Future[float], Cell] = {}
        while todo or running:
            # the cell with the longest chain of cells waiting on it first, so no worker idles at the end
            ready = sorted((c for c in todo if set(c.needs) <= done), key=lambda c: -chain[c.name])
            batch = ready[: max(0, workers - len(running))]
            if count is not None:
                count.value += len(batch)  # counted before any starts, so each starts with its share of the cores
            for cell in batch:
                todo.remove(cell)
                bar.set_postfix_str(cell.name)
                if submit is None:
                    start = time.perf_counter()
                    run_cell(cell)
                    seconds[cell.name] = time.perf_counter() - start
                    _finish(out, cell, seconds[cell.name])
                    done.add(cell.name)
                    bar.update()
                else:
                    running[submit(cell, str(out / LOGS_DIR / f"{cell.name}.log"))] = cell
            if running:
                completed, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in completed:
                    cell = running.pop(future)
                    if count is not None:
                        count.value -= 1
                    try:
                        seconds[cell.name] = future.result()
                    except Exception as exc:
                        log = out / LOGS_DIR / f"{cell.name}.log"
                        print(f"darla: cell {cell.name} failed; waiting for the {len(running)} running cell(s) to finish",
                              file=sys.stderr)
                        raise DarlaError(f"cell {cell.name} failed ({type(exc).__name__}: {exc}); see {log}, fix it and rerun") from None
                    _finish(out, cell, seconds[cell.name])
                    done.add(cell.name)
                    bar.update()
            elif todo and not ready:
                raise DarlaError(f"cells {[c.name for c in todo]} wait on cells that never ran")
    bar.close()
    return seconds


def cpu_seconds() -> float:
    """User and system CPU seconds of this process and of its children that have ended (the workers, once
    the pool is shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
