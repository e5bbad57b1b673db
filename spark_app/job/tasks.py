"""How a batch is cut into Spark tasks: by its size and the capacity the job may scale out to.

A task is a few dozen to a few hundred files: enough tasks that every executor the application may
add gets work, none so small that its fixed cost (scheduling, an Arrow batch, one Parquet file)
dominates, none so large that a retry repeats much. The capacity is read from the Spark configuration
the job was submitted with (``spark.dynamicAllocation.maxExecutors`` x ``spark.executor.cores``, which
the stack sets), not from the parallelism at start-up, when only the first executor exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from spark_app.core.defaults import FILES_PER_PARTITION, MIN_FILES_PER_PARTITION

#: A Spark configuration lookup: ``SparkConf.get(key, default)``.
ConfGet = Callable[[str, str | None], str | None]


def task_slots(conf_get: ConfGet, default_parallelism: int) -> int:
    """Tasks the job can run at once at its largest: executors it may have x tasks per executor.

    With dynamic allocation, the executors it may have are ``spark.dynamicAllocation.maxExecutors``;
    with a fixed count, ``spark.executor.instances``; locally (neither set) Spark's default
    parallelism (the master's cores). Never less than the default parallelism.
    """
    cores = int(conf_get("spark.executor.cores", None) or 1)
    per_executor = max(1, cores // int(conf_get("spark.task.cpus", None) or 1))
    dynamic = (conf_get("spark.dynamicAllocation.enabled", None) or "").lower() != "false"
    executors = conf_get("spark.dynamicAllocation.maxExecutors", None) if dynamic else None
    executors = executors or conf_get("spark.executor.instances", None)
    return max(default_parallelism, int(executors) * per_executor if executors else 0, 1)


def partition_count(
    files: int,
    slots: int,
    max_files: int = FILES_PER_PARTITION,
    min_files: int = MIN_FILES_PER_PARTITION,
) -> int:
    """Tasks for ``files``: none above ``max_files`` files; up to one per slot while each keeps at least
    ``min_files`` (a small batch stays on one executor; a big one fills every slot, several times)."""
    if files <= 0:
        return 1
    at_most_max = math.ceil(files / max_files)
    one_per_slot = min(slots, math.ceil(files / min_files))
    return max(1, at_most_max, one_per_slot)
