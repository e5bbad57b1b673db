"""Machine and software description recorded with every result (no heavy imports)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

PACKAGES = ("pyspark", "pyarrow", "pandas", "numpy", "pillow", "ai-edge-litert", "tensorflow-cpu", "keras")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30, check=False)
        return (out.stderr or out.stdout).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages (how busy the shared machine was)."""
    return [round(v, 2) for v in os.getloadavg()]


def describe() -> dict[str, object]:
    """nproc, CPU model, memory, OS, Python, Java and package versions."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gib": _mem_total_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java_version(),
        "packages": {p: _version(p) for p in PACKAGES},
    }
