"""Run one measurement in a child process and sample the memory of its process tree.

Each measurement runs as ``python -m bench.<module>`` in its own process (TensorFlow and
LiteRT cannot share one, and Spark sessions of different configurations are best apart).
While it runs, a thread polls ``/proc`` for the child's descendants and keeps the peak
resident set (``VmHWM``) per kind of process: PySpark Python workers (``pyspark.daemon`` /
``pyspark/worker`` in the command line), the JVM, the driver, and anything else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PYSPARK_WORKER_MARKERS = ("pyspark.daemon", "pyspark/worker", "pyspark.worker")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _ppid_map() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (not ``root`` itself)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


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
    """Polls the process tree under ``root`` and keeps the peak VmHWM (KiB) per kind."""

    root: int
    interval: float = 0.2
    peak_kib: dict[str, int] = field(default_factory=dict)
    processes_seen: dict[str, int] = field(default_factory=dict)
    _seen: set[int] = field(default_factory=set)
    _cpu_ticks: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for pid in [self.root, *descendants(self.root)]:
            hwm = _status_kib(pid, "VmHWM")
            if hwm is None:
                continue
            ticks = _cpu_ticks(pid)
            if ticks is not None:
                self._cpu_ticks[pid] = ticks
            kind = classify(pid, self.root, _cmdline(pid))
            self.peak_kib[kind] = max(self.peak_kib.get(kind, 0), hwm)
            if pid not in self._seen:
                self._seen.add(pid)
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
        return round(sum(self._cpu_ticks.values()) / os.sysconf("SC_CLK_TCK"), 2)

    def peaks_mib(self) -> dict[str, float]:
        return {kind: round(kib / 1024, 1) for kind, kib in sorted(self.peak_kib.items())}


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
    cpu_seconds: float = 0.0  # user + system CPU of the whole process tree (sampled)
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
        sampler.cpu_seconds(),
        tail,
    )
