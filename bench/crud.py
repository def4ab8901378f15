"""crud: get, list, patch and create tasks, each alone and mixed, against the project and a ceiling.

Data: 100 users (registered and logged in through the API) x 1,000 tasks each in their Inbox
(inserted with one SQL statement). The seeded database is then cloned, so the project
(``taskapi serve``, 2 workers) and the ceiling (``bench/crud_ceiling.py``: the same SQL in a bare
FastAPI + asyncpg app, 2 workers) each get identical data of their own.

Phases, each at 64 concurrent keep-alive connections for ``BENCH_CRUD_SECONDS`` (default 6)
after ``BENCH_CRUD_WARMUP`` (default 2) seconds of warm-up:

- ``get``: ``GET /api/v1/tasks/{id}`` of a random task of a random user;
- ``list``: ``GET /api/v1/tasks?project_id=<their Inbox>&limit=50``;
- ``patch``: ``PATCH /api/v1/tasks/{id}`` with ``version`` (tracked per task from the ETags) and a
  new title and priority; 409s are counted (they must stay near zero);
- ``create``: ``POST /api/v1/tasks`` into the user's Inbox;
- ``mixed``: 60/20/15/5 of the four.

The project and the ceiling run in alternating blocks (``BENCH_CRUD_ROUNDS``, default 3, each
with all phases), so both see the same machine noise; figures are medians over the rounds and
the ratio is project/ceiling. Any 429 or 5xx fails the run. Results: ``bench/results/crud.json``
and ``crud.png``.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench import common
from taskapi.db import asyncpg_dsn

NAME = "crud"
USERS = int(os.environ.get("BENCH_CRUD_USERS", "100"))
TASKS_PER_USER = int(os.environ.get("BENCH_CRUD_TASKS", "1000"))
CONNECTIONS = int(os.environ.get("BENCH_CRUD_CONNECTIONS", "64"))
WORKERS = int(os.environ.get("BENCH_CRUD_WORKERS", "2"))
SECONDS = float(os.environ.get("BENCH_CRUD_SECONDS", "6"))
WARMUP = float(os.environ.get("BENCH_CRUD_WARMUP", "2"))
ROUNDS = int(os.environ.get("BENCH_CRUD_ROUNDS", "3"))
PHASES = tuple(
    os.environ.get("BENCH_CRUD_PHASES", "get,list,patch,create,mixed").replace(" ", "").split(",")
)
ENDPOINTS = ("get", "list", "patch", "create")
MIX = {"get": 60, "list": 20, "patch": 15, "create": 5}
TARGET_RATIO = 0.60
TARGET_P95_MS = 200.0
MAX_CONFLICT_SHARE = 0.01
TARGETS = ("project", "ceiling")


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Dataset:
    users: list[common.BenchUser]
    inboxes: list[str]  # per user
    tasks: list[list[str]]  # per user: their task ids


SEED_TASKS = """
INSERT INTO tasks (id, project_id, title, description, status, priority, tags, tag_keys,
                   completed_at, created_by, created_at, updated_at)
SELECT gen_random_uuid(), p.id,
       'Task ' || g || ': ' || (ARRAY['write', 'review', 'ship', 'plan', 'fix'])[1 + g % 5]
           || ' the ' || (ARRAY['report', 'release', 'budget', 'design', 'tests'])[1 + g % 7 % 5],
       'Seeded by bench/crud.',
       (ARRAY['todo', 'in_progress', 'done'])[1 + g % 3],
       g % 5, '{}', '{}',
       CASE WHEN g % 3 = 2 THEN now() END,
       p.owner_id,
       now() - make_interval(mins => g), now() - make_interval(mins => g)
FROM projects p CROSS JOIN generate_series(1, $1) AS g
WHERE p.is_inbox AND p.deleted_at IS NULL
"""


async def _seed_tasks(url: str, users: list[common.BenchUser]) -> Dataset:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(SEED_TASKS, TASKS_PER_USER)
        await connection.execute("VACUUM ANALYZE")
        inbox_rows = await connection.fetch(
            "SELECT owner_id::text AS owner, id::text AS id FROM projects WHERE is_inbox"
        )
        task_rows = await connection.fetch(
            "SELECT created_by::text AS owner, array_agg(id::text) AS ids FROM tasks"
            " GROUP BY created_by"
        )
    finally:
        await connection.close()
    inbox = {row["owner"]: row["id"] for row in inbox_rows}
    tasks = {row["owner"]: list(row["ids"]) for row in task_rows}
    return Dataset(
        users=users,
        inboxes=[inbox[user.id] for user in users],
        tasks=[tasks[user.id] for user in users],
    )


def seed(url: str) -> tuple[Dataset, dict[str, float]]:
    """Registers the users through a short-lived server, then inserts their tasks with SQL."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    with common.server(url, workers=WORKERS) as base:
        users = common.register_users(base, USERS, prefix="crud")
    timings["users_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    dataset: Dataset = common.run_async(_seed_tasks(url, users))
    timings["tasks_s"] = round(time.monotonic() - started, 1)
    return dataset, timings


# ---------------------------------------------------------------- the workload


@dataclass
class Workload:
    """The requests of one target; task versions are tracked per target (each has its own data)."""

    data: Dataset
    versions: dict[str, int] = field(default_factory=dict)
    conflicts: Counter[str] = field(default_factory=Counter)
    counter: int = 0

    def scenario(self, phase: str) -> common.Scenario:
        scenarios: dict[str, common.Scenario] = {
            "get": self.get,
            "list": self.list_page,
            "patch": self.patch,
            "create": self.create,
            "mixed": self.mixed,
        }
        return scenarios[phase]

    def _pick(self, rng: random.Random) -> tuple[int, str]:
        user = rng.randrange(len(self.data.users))
        return user, rng.choice(self.data.tasks[user])

    def _headers(self, user: int) -> dict[str, str]:
        return self.data.users[user].headers

    async def get(self, conn: common.HttpConnection, index: int) -> None:
        user, task = self._pick(_rng(index))
        response = await conn.request(
            "GET", f"/api/v1/tasks/{task}", headers=self._headers(user), tag="get"
        )
        _expect(response, 200, "get")

    async def list_page(self, conn: common.HttpConnection, index: int) -> None:
        user = _rng(index).randrange(len(self.data.users))
        path = f"/api/v1/tasks?project_id={self.data.inboxes[user]}&limit=50"
        response = await conn.request("GET", path, headers=self._headers(user), tag="list")
        _expect(response, 200, "list")

    async def patch(self, conn: common.HttpConnection, index: int) -> None:
        rng = _rng(index)
        user, task = self._pick(rng)
        self.counter += 1
        body = {
            "version": self.versions.get(task, 1),
            "title": f"Task edited {self.counter}",
            "priority": rng.randrange(5),
        }
        response = await conn.request(
            "PATCH", f"/api/v1/tasks/{task}", body=body, headers=self._headers(user), tag="patch"
        )
        if response.status == 409:
            self.conflicts["patch"] += 1
            self.versions[task] = int(response.json()["current"]["version"])
            return
        _expect(response, 200, "patch")
        self.versions[task] = int(response.headers["etag"].strip('"'))

    async def create(self, conn: common.HttpConnection, index: int) -> None:
        rng = _rng(index)
        user = rng.randrange(len(self.data.users))
        self.counter += 1
        body = {
            "project_id": self.data.inboxes[user],
            "title": f"New task {self.counter}",
            "priority": rng.randrange(5),
        }
        response = await conn.request(
            "POST", "/api/v1/tasks", body=body, headers=self._headers(user), tag="create"
        )
        _expect(response, 201, "create")

    async def mixed(self, conn: common.HttpConnection, index: int) -> None:
        endpoint = common.weighted_choice(_rng(index), MIX)
        if endpoint == "get":
            await self.get(conn, index)
        elif endpoint == "list":
            await self.list_page(conn, index)
        elif endpoint == "patch":
            await self.patch(conn, index)
        else:
            await self.create(conn, index)


_RNGS: dict[int, random.Random] = {}


def _rng(index: int) -> random.Random:
    rng = _RNGS.get(index)
    if rng is None:
        rng = _RNGS[index] = random.Random(index)
    return rng


def _expect(response: common.Response, status: int, what: str) -> None:
    """An unexpected status fails the run (429 and 5xx are already counted by the recorder)."""
    if response.status != status and response.status != 429 and response.status < 500:
        raise common.BenchFailure(f"{what}: expected {status}, got {response.status}")


# ---------------------------------------------------------------- running


@dataclass
class Measurements:
    """Per target and phase, one ``LoadResult`` per round."""

    runs: dict[tuple[str, str], list[common.LoadResult]] = field(default_factory=dict)
    cpu: dict[tuple[str, str], list[dict[str, float]]] = field(default_factory=dict)

    def add(
        self, target: str, phase: str, result: common.LoadResult, cpu: dict[str, float]
    ) -> None:
        self.runs.setdefault((target, phase), []).append(result)
        self.cpu.setdefault((target, phase), []).append(cpu)

    def stats(self, target: str, phase: str, tag: str | None) -> dict[str, Any]:
        """Median req/s over the rounds; percentiles over all rounds' requests pooled."""
        results = self.runs.get((target, phase), [])
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        for result in results:
            summary = result.summary(tag)
            statuses.update(summary["statuses"])
            latencies.extend(result.latencies.get(tag, ()) if tag else result.all_latencies())
        quantiles = common.percentiles(latencies)
        rounds = [round(result.rps(tag), 1) for result in results]
        stats: dict[str, Any] = {
            "rps": round(common.median(rounds), 1),
            "rps_rounds": rounds,
            "p50_ms": quantiles["p50"],
            "p95_ms": quantiles["p95"],
            "p99_ms": quantiles["p99"],
            "requests": len(latencies),
            "statuses": dict(sorted(statuses.items())),
        }
        if tag is None:
            for key in ("app", "db", "client"):
                values = [cpu[key] for cpu in self.cpu.get((target, phase), [])]
                stats[f"{key}_cpu_ms_per_request"] = round(common.median(values), 3)
        return stats


def _block(
    target: str,
    base_url: common.ServerURL,
    postgres: common.PostgresCpu,
    workload: Workload,
    measurements: Measurements,
    log: Callable[[str], None],
) -> None:
    for phase in PHASES:
        before = (base_url.cpu_seconds(), postgres.seconds(), time.process_time())
        result = common.run_load(
            base_url,
            workload.scenario(phase),
            connections=CONNECTIONS,
            duration=SECONDS,
            warmup=WARMUP,
        )
        after = (base_url.cpu_seconds(), postgres.seconds(), time.process_time())
        count = max(result.total_requests, 1)
        cpu = {
            key: (end - start) * 1000 / count
            for key, start, end in zip(("app", "db", "client"), before, after, strict=True)
        }
        measurements.add(target, phase, result, cpu)
        summary = result.summary()
        log(
            f"  {target:8} {phase:7} {summary['rps']:8.1f} req/s"
            f"  p50 {summary['p50_ms']:6.1f}  p95 {summary['p95_ms']:6.1f}"
            f"  p99 {summary['p99_ms']:6.1f} ms  CPU ms/req app {cpu['app']:.2f}"
            f" db {cpu['db']:.2f} client {cpu['client']:.2f}  {summary['statuses']}"
        )


def measure(
    project_url: str, ceiling_url: str, data: Dataset, log: Callable[[str], None]
) -> tuple[Measurements, dict[str, Workload], dict[str, int]]:
    """Alternating blocks: project, ceiling, ceiling, project, … so drifts in load cancel out."""
    measurements = Measurements()
    workloads = {target: Workload(data) for target in TARGETS}
    postgres = common.PostgresCpu(project_url)
    memory: dict[str, int] = {}
    for round_index in range(ROUNDS):
        order = TARGETS if round_index % 2 == 0 else TARGETS[::-1]
        for target in order:
            log(f"round {round_index + 1}/{ROUNDS}: {target}")
            if target == "project":
                with common.server(project_url, workers=WORKERS) as base:
                    _block(target, base, postgres, workloads[target], measurements, log)
                    memory[target] = base.rss_bytes()
            else:
                with common.uvicorn_server(
                    "bench.crud_ceiling:app",
                    workers=WORKERS,
                    env={"DATABASE_URL": ceiling_url},
                ) as base:
                    _block(target, base, postgres, workloads[target], measurements, log)
                    memory[target] = base.rss_bytes()
    return measurements, workloads, memory


def summarise(
    measurements: Measurements, workloads: dict[str, Workload], memory: dict[str, int]
) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    for phase in PHASES:
        entry: dict[str, Any] = {}
        for target in TARGETS:
            entry[target] = measurements.stats(target, phase, None)
            if phase == "mixed":
                entry[target]["endpoints"] = {
                    tag: measurements.stats(target, phase, tag) for tag in ENDPOINTS
                }
        ceiling_rps = entry["ceiling"]["rps"]
        entry["ratio"] = round(entry["project"]["rps"] / ceiling_rps, 3) if ceiling_rps else None
        rounds = zip(entry["project"]["rps_rounds"], entry["ceiling"]["rps_rounds"], strict=False)
        entry["ratio_rounds"] = [round(p / c, 3) if c else None for p, c in rounds]
        # capacity by CPU cost (app + database per request): steadier than req/s under noise
        costs = {
            target: entry[target]["app_cpu_ms_per_request"] + entry[target]["db_cpu_ms_per_request"]
            for target in TARGETS
        }
        entry["cpu_ratio"] = (
            round(costs["ceiling"] / costs["project"], 3) if costs["project"] else None
        )
        phases[phase] = entry
    patches = sum(
        result.count("patch")
        for (target, _), results in measurements.runs.items()
        if target == "project"
        for result in results
    )
    conflicts = workloads["project"].conflicts["patch"]
    checks = {
        phase: {
            "ratio_ok": entry["ratio"] is not None and entry["ratio"] >= TARGET_RATIO,
            "p95_ok": (entry["project"]["p95_ms"] or 1e9) < TARGET_P95_MS,
        }
        for phase, entry in phases.items()
    }
    return {
        "benchmark": NAME,
        "config": {
            "users": USERS,
            "tasks_per_user": TASKS_PER_USER,
            "connections": CONNECTIONS,
            "workers": WORKERS,
            "seconds_per_phase": SECONDS,
            "warmup_seconds": WARMUP,
            "rounds": ROUNDS,
            "mix": MIX,
            "list_query": "GET /api/v1/tasks?project_id=<inbox>&limit=50",
        },
        "targets": {"ratio": TARGET_RATIO, "p95_ms": TARGET_P95_MS},
        "phases": phases,
        "patch_conflicts": {
            "project": conflicts,
            "ceiling": workloads["ceiling"].conflicts["patch"],
            "project_share": round(conflicts / patches, 5) if patches else 0.0,
        },
        "memory_rss_mib": {target: round(value / 2**20, 1) for target, value in memory.items()},
        "checks": checks,
        "meets_targets": all(c["ratio_ok"] and c["p95_ok"] for c in checks.values()),
    }


def _pair(project: dict[str, Any], ceiling: dict[str, Any], key: str) -> str:
    return f"{project[key]:.2f} / {ceiling[key]:.2f}"


def report(summary: dict[str, Any]) -> str:
    rows = []
    for phase, entry in summary["phases"].items():
        project, ceiling = entry["project"], entry["ceiling"]
        rows.append(
            [
                phase,
                project["rps"],
                ceiling["rps"],
                f"{entry['ratio']:.0%}" if entry["ratio"] is not None else "-",
                project["p50_ms"],
                project["p95_ms"],
                project["p99_ms"],
                ceiling["p95_ms"],
                _pair(project, ceiling, "app_cpu_ms_per_request"),
                _pair(project, ceiling, "db_cpu_ms_per_request"),
                f"{entry['cpu_ratio']:.0%}" if entry["cpu_ratio"] is not None else "-",
            ]
        )
        for tag, stats in project.get("endpoints", {}).items():
            ceiling_stats = ceiling["endpoints"][tag]
            ratio = stats["rps"] / ceiling_stats["rps"] if ceiling_stats["rps"] else 0.0
            rows.append(
                [
                    f"  mixed:{tag}",
                    stats["rps"],
                    ceiling_stats["rps"],
                    f"{ratio:.0%}",
                    stats["p50_ms"],
                    stats["p95_ms"],
                    stats["p99_ms"],
                    ceiling_stats["p95_ms"],
                    "",
                    "",
                    "",
                ]
            )
    headers = [
        "phase",
        "project req/s",
        "ceiling req/s",
        "ratio",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "ceiling p95",
        "app CPU ms/req",
        "db CPU ms/req",
        "CPU ratio",
    ]
    return common.format_table(headers, rows)


def chart(summary: dict[str, Any]) -> None:
    phases = list(summary["phases"])
    entries = [summary["phases"][phase] for phase in phases]
    labels = [
        f"{phase}\n{entry['ratio']:.0%}" if entry["ratio"] is not None else phase
        for phase, entry in zip(phases, entries, strict=True)
    ]
    common.bar_chart(
        NAME,
        common.Chart(
            title=f"Throughput, {CONNECTIONS} connections, {WORKERS} workers (ratio below)",
            ylabel="requests / s (median of rounds)",
            categories=labels,
            series={
                "project": [entry["project"]["rps"] for entry in entries],
                "ceiling (bare SQL)": [entry["ceiling"]["rps"] for entry in entries],
            },
        ),
        common.Chart(
            title="Latency P95",
            ylabel="ms",
            categories=phases,
            series={
                "project": [entry["project"]["p95_ms"] for entry in entries],
                "ceiling (bare SQL)": [entry["ceiling"]["p95_ms"] for entry in entries],
            },
            reference=TARGET_P95_MS,
            reference_label=f"target {TARGET_P95_MS:.0f} ms",
        ),
        suptitle=(
            f"bench/crud: {USERS} users × {TASKS_PER_USER:,} tasks; project vs ceiling"
            f" ({summary['machine']['date']})"
        ),
    )


def main() -> dict[str, Any]:
    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)

    # a private embedded cluster, so the database CPU measured is this benchmark's alone
    with common.fresh_database(NAME, cluster=NAME) as url:
        log(f"seeding {USERS} users × {TASKS_PER_USER} tasks")
        data, timings = seed(url)
        log(f"seeded: {timings}")
        with common.clone_database(url, f"{NAME}_ceiling") as ceiling_url:
            measurements, workloads, memory = measure(url, ceiling_url, data, log)
    summary = summarise(measurements, workloads, memory)
    summary["seed_timings"] = timings
    summary["machine"] = common.machine()
    common.write_results(NAME, summary)
    chart(summary)
    print(report(summary))
    conflicts = summary["patch_conflicts"]
    if conflicts["project_share"] > MAX_CONFLICT_SHARE:
        raise common.BenchFailure(f"too many version conflicts: {conflicts}")
    return {
        "phases": {
            phase: {
                "project_rps": entry["project"]["rps"],
                "ceiling_rps": entry["ceiling"]["rps"],
                "ratio": entry["ratio"],
                "project_p95_ms": entry["project"]["p95_ms"],
            }
            for phase, entry in summary["phases"].items()
        },
        "patch_conflicts": conflicts,
        "meets_targets": summary["meets_targets"],
    }
