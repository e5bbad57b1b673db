"""How a batch is cut into Spark tasks: by its size and the capacity the job may scale out to."""

from __future__ import annotations

import math

import pytest

from spark_app.job.tasks import partition_count, task_slots

#: The stack's default capacity: 15 executors of 2 cores (spark.dynamicAllocation.maxExecutors x cores).
STACK_CONF = {"spark.dynamicAllocation.maxExecutors": "15", "spark.executor.cores": "2"}
STACK_SLOTS = 30


def _conf(values: dict[str, str]):
    return lambda key, default=None: values.get(key, default)


def test_task_slots_come_from_the_configured_maximum_not_the_start() -> None:
    # On EMR Serverless, at start-up the default parallelism is the first executor's 2 cores.
    assert task_slots(_conf(STACK_CONF), default_parallelism=2) == STACK_SLOTS
    assert task_slots(_conf({**STACK_CONF, "spark.task.cpus": "2"}), default_parallelism=2) == 15
    fixed = {"spark.dynamicAllocation.enabled": "false", "spark.executor.instances": "4", **STACK_CONF}
    assert task_slots(_conf(fixed), default_parallelism=2) == 8  # no dynamic allocation: its instances
    assert task_slots(_conf({}), default_parallelism=2) == 2  # local[2]: its cores


@pytest.mark.parametrize(
    ("files", "tasks", "why"),
    [
        (10, 1, "a small batch stays on one executor (each task keeps at least 64 files)"),
        (1_000, 16, "16 tasks of 62-63 files: 8 executors' worth, where defaultParallelism gave 4"),
        (100_000, 391, "no task above 256 files: 391 tasks, 13 for each of the 30 slots"),
    ],
)
def test_task_count_for_the_stacks_capacity(files: int, tasks: int, why: str) -> None:
    count = partition_count(files, STACK_SLOTS)
    assert count == tasks, why
    assert math.ceil(files / count) <= 256


def test_task_count_edges() -> None:
    assert partition_count(0, STACK_SLOTS) == 1
    assert partition_count(64 * STACK_SLOTS, STACK_SLOTS) == STACK_SLOTS  # every slot gets 64 files
    assert partition_count(50, 2, max_files=4) == 13  # a small --files-per-partition still caps each task
