"""Bulk creates vs single creates: tasks/s both ways, in the same run.

A real server process (2 workers) on a fresh database; ``CLIENTS`` concurrent keep-alive clients,
each its own user. First ``TASKS`` single ``POST /tasks``, then ``BULK_FACTOR`` (3) times as many
tasks through ``POST /tasks/bulk`` with 500 creates per request (atomic, the default), so that
the bulk phase too lasts long enough to measure. The figure is tasks/s
both ways and their ratio (target: bulk at least 10 times single). Any response but the
expected status fails the run, 429 and 5xx included.

    python -m bench bulk      (BULK_TASKS, BULK_FACTOR, BULK_CLIENTS override the sizes)
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench import common

TASKS = int(os.environ.get("BULK_TASKS", "6000"))
# the bulk phase creates this many times TASKS: at ~20 requests/s a few requests are too short
# a run to measure; tasks/s stays comparable
BULK_FACTOR = int(os.environ.get("BULK_FACTOR", "3"))
CLIENTS = int(os.environ.get("BULK_CLIENTS", "4"))
BATCH = 500
WORKERS = 2
TARGET_RATIO = 10.0


async def _create_all(
    base_url: str, users: list[common.BenchUser], *, tasks: int, batch: int
) -> dict[str, Any]:
    """Creates ``tasks`` tasks with requests of ``batch`` (1: single ``POST /tasks``)."""
    requests_left = tasks // batch
    latencies: list[float] = []

    async def client(index: int, user: common.BenchUser) -> int:
        nonlocal requests_left
        connection = common.HttpConnection(base_url, headers=user.headers)
        await connection.connect()
        created = 0
        try:
            while requests_left > 0:
                requests_left -= 1
                started = time.perf_counter()
                if batch == 1:
                    body: dict[str, Any] = {"title": f"single {index}-{created}"}
                    response = await connection.request("POST", "/api/v1/tasks", body=body)
                    expected = 201
                else:
                    operations = [
                        {"op": "create", "data": {"title": f"bulk {index}-{created + i}"}}
                        for i in range(batch)
                    ]
                    response = await connection.request(
                        "POST", "/api/v1/tasks/bulk", body={"operations": operations}
                    )
                    expected = 200
                latencies.append(time.perf_counter() - started)
                if response.status != expected:
                    raise common.BenchFailure(
                        f"{'bulk' if batch > 1 else 'single'} create answered"
                        f" {response.status}: {response.body[:300]!r}"
                    )
                created += batch
        finally:
            connection.close()
        return created

    started = time.perf_counter()
    counts = await asyncio.gather(*(client(i, user) for i, user in enumerate(users)))
    elapsed = time.perf_counter() - started
    created = sum(counts)
    return {
        "tasks": created,
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "tasks_per_second": round(created / elapsed, 1),
        "latency_ms": common.percentiles(latencies),
    }


def main() -> dict[str, Any]:
    tasks = max(TASKS // BATCH, 1) * BATCH
    with common.fresh_database("bulk") as url, common.server(url, workers=WORKERS) as base:
        users = common.register_users(base, CLIENTS, prefix="bulk")
        # warm both paths (connections, imports, plans) before measuring
        common.run_async(_create_all(base, users, tasks=CLIENTS * 20, batch=1))
        common.run_async(_create_all(base, users, tasks=BATCH * CLIENTS, batch=BATCH))
        single = common.run_async(_create_all(base, users, tasks=tasks, batch=1))
        bulk = common.run_async(_create_all(base, users, tasks=tasks * BULK_FACTOR, batch=BATCH))

    ratio = bulk["tasks_per_second"] / single["tasks_per_second"]
    summary = {
        "workload": (
            f"{tasks} tasks created by {CLIENTS} concurrent clients with single POST /tasks,"
            f" then {tasks * BULK_FACTOR} with POST /tasks/bulk of {BATCH} creates per request"
            f" (atomic); {WORKERS} server workers"
        ),
        "single": single,
        "bulk": bulk,
        "ratio": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }
    common.write_results("bulk", summary)
    common.bar_chart(
        "bulk",
        common.Chart(
            title=f"Tasks created per second ({CLIENTS} clients)",
            ylabel="tasks/s",
            categories=["single POST /tasks", f"bulk ({BATCH} per request)"],
            series={"tasks/s": [single["tasks_per_second"], bulk["tasks_per_second"]]},
            reference=single["tasks_per_second"] * TARGET_RATIO,
            reference_label=f"target: {TARGET_RATIO:.0f}× single",
        ),
        suptitle=f"bulk / single = {ratio:.1f}×",
    )
    print(
        common.format_table(
            ["mode", "tasks", "requests", "seconds", "tasks/s", "p50 ms", "p95 ms"],
            [
                [
                    name,
                    result["tasks"],
                    result["requests"],
                    result["seconds"],
                    result["tasks_per_second"],
                    result["latency_ms"]["p50"],
                    result["latency_ms"]["p95"],
                ]
                for name, result in (("single", single), ("bulk", bulk))
            ],
        )
    )
    print(f"bulk / single: {ratio:.1f}x (target {TARGET_RATIO:.0f}x)")
    return summary


if __name__ == "__main__":
    main()
