"""Run one measurement in a child process and sample the memory and CPU of its process tree.

Each measurement runs as ``python -m bench.<module>`` in its own process (TensorFlow and
LiteRT cannot share one, and Spark sessions of different configurations are best apart).
While it runs, a thread walks the child's process tree with psutil and keeps the peak resident
set per kind of process (PySpark Python workers, the JVM, the driver, anything else) and the last
CPU times of every process; the CPU of the whole tree is also read from the kernel's accounting of
reaped children (``RUSAGE_CHILDREN``), which misses nothing that exited between two samples.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PYSPARK_WORKER_MARKERS = ("pyspark.daemon", "pyspark/worker", "pyspark.worker")
REPO_ROOT = Path(__file__).resolve().parent.parent


def classify(pid: int, root: int, cmdline: str) -> str:
    """Kind of process: python_worker, jvm, driver or other."""
    if pid == root:
        return "driver"
    if any(marker in cmdline for marker in PYSPARK_WORKER_MARKERS):
        return "python_worker"
    if cmdline.split(" ", 1)[0].endswith("java"):
        return "jvm"
    return "other"


@dataclass
class RssSampler:
    """Polls the process tree under ``root`` (psutil) and keeps the peak RSS (MiB) per kind."""

    root: int
    interval: float = 0.2
    peak_mib: dict[str, float] = field(default_factory=dict)
    processes_seen: dict[str, int] = field(default_factory=dict)
    _kinds: dict[int, str] = field(default_factory=dict)
    _cpu: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in tree:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss / 2**20
                    times = proc.cpu_times()
                    # Not cached by pid: a launcher script exec()s into the JVM under the same pid.
                    kind = classify(proc.pid, self.root, " ".join(proc.cmdline()))
            except psutil.Error:
                continue
            self._cpu[proc.pid] = times.user + times.system
            self.peak_mib[kind] = max(self.peak_mib.get(kind, 0.0), rss)
            if self._kinds.get(proc.pid) != kind:
                self._kinds[proc.pid] = kind
                self.processes_seen[kind] = self.processes_seen.get(kind, 0) + 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of every process of the tree, as last sampled."""
        return round(sum(self._cpu.values()), 2)

    def peaks_mib(self) -> dict[str, float]:
        return {kind: round(mib, 1) for kind, mib in sorted(self.peak_mib.items())}


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its reaped children and its live descendants (JVM, workers)."""
    root = psutil.Process(pid)
    own = root.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in root.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _children_cpu_seconds() -> float:
    """User + system CPU of this process's reaped descendants (kernel accounting)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class ChildResult:
    """What a measurement child reported, plus the memory peaks seen from outside."""

    name: str
    ok: bool
    wall_seconds: float
    result: dict
    rss_peak_mib: dict[str, float]
    processes_seen: dict[str, int]
    load_average: list[float] = field(default_factory=list)  # 1-min load at start and end
    cpu_seconds: float = 0.0  # user + system CPU of the whole process tree
    log_tail: str = ""


def run_child(
    name: str,
    module: str,
    args: list[str],
    result_path: Path,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 3600.0,
) -> ChildResult:
    """Run ``python -m module args`` (which writes JSON to ``result_path``) under the sampler."""
    result_path.unlink(missing_ok=True)
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    cmd = [sys.executable, "-m", module, *args, "--result", str(result_path)]
    print(f"[bench] {name}: {' '.join(cmd[2:])}", flush=True)
    load_start = os.getloadavg()[0]
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        with RssSampler(proc.pid) as sampler:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    wall = time.perf_counter() - started
    cpu = max(_children_cpu_seconds() - cpu_before, sampler.cpu_seconds())
    ok = proc.returncode == 0 and result_path.is_file()
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    tail = "" if ok else "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
    if not ok:
        print(f"[bench] {name} FAILED (exit {proc.returncode}); log {log_path}\n{tail}", flush=True)
    load = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    return ChildResult(
        name,
        ok,
        round(wall, 2),
        result,
        sampler.peaks_mib(),
        dict(sampler.processes_seen),
        load,
        round(cpu, 2),
        tail,
    )
