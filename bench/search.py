"""Full-text search at a million tasks: the API against the naive query, in the same run.

A fresh database gets 1,000,000 tasks (bench/search_data.py): one user owns 100,000 in 10
projects, 900 other users 1,000 each; titles, descriptions and tags are drawn from a Zipf-like
vocabulary, so the most common words are in about 10% of the user's tasks and the rarest in a
handful. The published mix is 200 distinct queries for that user (common and rare words, phrases,
3+ letter prefixes, ``-exclusions``, two-word ANDs), written to the JSON.

Measured, after one untimed warm-up pass of everything:

- ``api``: ``GET /api/v1/search?q=…`` through a real server (2 workers), 1 client, every query
  ``ROUNDS`` times (P50/P95/P99), then 8 concurrent clients for ``LOAD_SECONDS`` (queries/s);
- ``naive`` (the ceiling to beat): the obvious query straight on the database with asyncpg: a
  GIN index on ``search`` alone (created here for it), every match of the user ranked with
  ``ts_rank``, top 20; same tsquery as the API builds, same 1 and 8 clients;
- ``exhaustive``: the API's scoped index but every match ranked (no tiers): its top 20 is the
  exact ``ts_rank_cd`` order, against which the API's top 20 overlap is reported (the price of
  ranking title/tag matches first, docs/adr/0005-search-plan.md).

Targets: API P95 < 50 ms at one client, and below the naive query's P95.

    python -m bench search      (SEARCH_ROUNDS, SEARCH_LOAD_SECONDS override the sizes)
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

import asyncpg

from bench import common
from bench.search_data import MAIN_USER_TASKS, Query, query_mix, seed
from taskapi.db import asyncpg_dsn, create_engine
from taskapi.search import repository, service

ROUNDS = int(os.environ.get("SEARCH_ROUNDS", "3"))
LOAD_SECONDS = float(os.environ.get("SEARCH_LOAD_SECONDS", "15"))
CLIENTS = 8
WORKERS = 2
TARGET_P95_MS = 50.0
CONFIG = "english"

_SCOPE = (
    "t.deleted_at IS NULL AND t.project_id IN (SELECT m.project_id FROM project_members m"
    " JOIN projects p ON p.id = m.project_id"
    " WHERE m.user_id = $2 AND m.removed_at IS NULL AND p.deleted_at IS NULL)"
)
NAIVE = (
    "SELECT t.id, ts_rank(t.search, $1::tsquery) AS rank FROM tasks t"
    f" WHERE t.search @@ $1::tsquery AND {_SCOPE} ORDER BY rank DESC LIMIT 20"
)
EXHAUSTIVE = (
    "SELECT t.id FROM tasks t WHERE ARRAY[t.project_id] && $2::uuid[] AND t.deleted_at IS NULL"
    " AND t.search @@ $1::tsquery"
    " ORDER BY ts_rank_cd(t.search, $1::tsquery, 32) DESC, t.updated_at DESC, t.id DESC LIMIT 20"
)
NAIVE_INDEX = "CREATE INDEX ix_bench_naive_search ON tasks USING gin (search)"


async def _tsqueries(url: str, user_id: uuid.UUID, queries: list[Query]) -> dict[str, str]:
    """The tsquery the API builds for each query (so the naive query matches the same rows)."""
    engine = create_engine(url, pool_size=1)
    try:
        out: dict[str, str] = {}
        async with engine.connect() as conn:
            for query in queries:
                prepared = await repository.prepare(
                    conn,
                    user_id=user_id,
                    config=CONFIG,
                    q=query.q,
                    prefix=service.prefix_of(query.q),
                )
                out[query.q] = prepared.query
        return out
    finally:
        await engine.dispose()


async def _prepare(url: str, user_id: uuid.UUID) -> dict[str, Any]:
    timings = await seed(asyncpg_dsn(url), main_user_id=user_id)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        started = time.perf_counter()
        await connection.execute("SET maintenance_work_mem = '256MB'")
        await connection.execute(NAIVE_INDEX)
        await connection.execute("ANALYZE tasks")
        timings["naive_index_s"] = time.perf_counter() - started
        queries = await query_mix(connection, main_user_id=user_id)
        project_ids = await connection.fetchval(
            "SELECT array_agg(project_id) FROM project_members WHERE user_id = $1", user_id
        )
        tasks = await connection.fetchval("SELECT count(*) FROM tasks")
    finally:
        await connection.close()
    return {
        "timings": timings,
        "queries": queries,
        "project_ids": project_ids,
        "tasks": tasks,
        "tsqueries": await _tsqueries(url, user_id, queries),
    }


def _path(q: str) -> str:
    return "/api/v1/search?" + urlencode({"q": q, "limit": 20})


async def _api_sequential(
    base: str, user: common.BenchUser, queries: list[Query], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Latencies per kind, and each query's top 20 ids (from the last round)."""
    connection = common.HttpConnection(base, headers=user.headers)
    await connection.connect()
    latencies: dict[str, list[float]] = defaultdict(list)
    top: dict[str, list[str]] = {}
    try:
        for _ in range(rounds):
            for query in queries:
                started = time.perf_counter()
                response = await connection.request("GET", _path(query.q))
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    raise common.BenchFailure(f"search {query.q!r}: {response.status}")
                latencies[query.kind].append(elapsed)
                top[query.q] = [item["task"]["id"] for item in response.json()["items"]]
    finally:
        connection.close()
    return latencies, top


async def _sql_sequential(
    url: str,
    statement: str,
    queries: list[Query],
    tsqueries: dict[str, str],
    args: tuple[Any, ...],
    rounds: int,
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    connection = await _sql_connection(url)
    latencies: dict[str, list[float]] = defaultdict(list)
    top: dict[str, list[str]] = {}
    try:
        for _ in range(rounds):
            for query in queries:
                started = time.perf_counter()
                rows = await connection.fetch(statement, tsqueries[query.q], *args)
                latencies[query.kind].append(time.perf_counter() - started)
                top[query.q] = [str(row["id"]) for row in rows]
    finally:
        await connection.close()
    return latencies, top


async def _sql_connection(url: str) -> asyncpg.Connection:
    # same terms as the API's connections: a custom plan per query, no JIT
    return await asyncpg.connect(
        asyncpg_dsn(url),
        server_settings={"jit": "off", "plan_cache_mode": "force_custom_plan"},
    )


async def _sql_load(
    url: str, statement: str, queries: list[Query], tsqueries: dict[str, str], args: tuple[Any, ...]
) -> dict[str, Any]:
    """``CLIENTS`` connections issuing the queries back to back for ``LOAD_SECONDS``."""
    connections = [await _sql_connection(url) for _ in range(CLIENTS)]
    end = time.perf_counter() + LOAD_SECONDS
    latencies: list[float] = []

    async def client(index: int, connection: asyncpg.Connection) -> None:
        i = index * 25
        while time.perf_counter() < end:
            query = queries[i % len(queries)]
            started = time.perf_counter()
            await connection.fetch(statement, tsqueries[query.q], *args)
            latencies.append(time.perf_counter() - started)
            i += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(i, c) for i, c in enumerate(connections)))
    finally:
        for connection in connections:
            await connection.close()
    elapsed = time.perf_counter() - started
    return {
        "queries": len(latencies),
        "qps": round(len(latencies) / elapsed, 1),
        "latency_ms": common.percentiles(latencies),
    }


def _api_load(base: str, user: common.BenchUser, queries: list[Query]) -> dict[str, Any]:
    counters: dict[int, int] = defaultdict(int)

    async def scenario(connection: common.HttpConnection, index: int) -> None:
        query = queries[(index * 25 + counters[index]) % len(queries)]
        counters[index] += 1
        await connection.request("GET", _path(query.q), tag="search")

    result = common.run_load(
        base, scenario, connections=CLIENTS, duration=LOAD_SECONDS, warmup=2, headers=user.headers
    )
    summary = result.summary("search")
    if set(summary["statuses"]) != {"200"}:
        raise common.BenchFailure(f"search under load answered {summary['statuses']}")
    return {"queries": summary["requests"], "qps": summary["rps"], "latency_ms": summary}


def _by_kind(latencies: dict[str, list[float]]) -> dict[str, Any]:
    every = [value for values in latencies.values() for value in values]
    out: dict[str, Any] = {"all": {"count": len(every), **common.percentiles(every)}}
    for kind, values in sorted(latencies.items()):
        out[kind] = {"count": len(values), **common.percentiles(values)}
    out["all"]["mean"] = round(sum(every) / len(every) * 1000, 2)
    return out


def _overlap(mine: dict[str, list[str]], exact: dict[str, list[str]]) -> dict[str, float]:
    """How much of the exact ts_rank_cd top 20 the API's top 20 holds (1.0: the same set)."""
    ratios = []
    identical = 0
    for q, ids in exact.items():
        if not ids:
            continue
        ratios.append(len(set(ids) & set(mine.get(q, []))) / len(ids))
        identical += mine.get(q, []) == ids
    return {
        "queries_with_matches": len(ratios),
        "mean_top20_overlap": round(sum(ratios) / len(ratios), 3) if ratios else 1.0,
        "identical_top20_order": identical,
    }


async def _plans(url: str, user_id: uuid.UUID, q: str) -> list[str]:
    """EXPLAIN ANALYZE of the ranking statements the API runs for ``q``: which indexes they read."""
    from sqlalchemy import event

    from taskapi.kit.cursors import CursorCodec

    engine = create_engine(url, pool_size=1)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT t.id, t.updated_at"):
            captured.append((statement, parameters))

    try:
        async with engine.connect() as conn:
            event.listen(conn.sync_engine, "before_cursor_execute", capture)
            await service.search_tasks(
                conn,
                user_id=user_id,
                config=CONFIG,
                cursors=CursorCodec("bench", purpose="search"),
                q=q,
                project_id=None,
                statuses=None,
                limit=20,
                cursor=None,
            )
            event.remove(conn.sync_engine, "before_cursor_execute", capture)
            plans = []
            for statement, parameters in captured:
                result = await conn.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", parameters
                )
                plans.append("\n".join(row[0] for row in result))
            return plans
    finally:
        await engine.dispose()


def main() -> dict[str, Any]:
    started_run = time.perf_counter()
    with common.fresh_database("search") as url, common.server(url, workers=WORKERS) as base:
        [user] = common.register_users(base, 1, prefix="search")
        user_id = uuid.UUID(user.id)
        data = common.run_async(_prepare(url, user_id))
        queries: list[Query] = data["queries"]
        tsqueries: dict[str, str] = data["tsqueries"]
        project_ids: list[uuid.UUID] = data["project_ids"]
        naive_args = (user_id,)
        exhaustive_args = (project_ids,)
        print(f"seeded {data['tasks']:,} tasks: {data['timings']}", flush=True)

        # warm caches and plans for every path, untimed
        common.run_async(_api_sequential(base, user, queries, 1))
        common.run_async(_sql_sequential(url, NAIVE, queries, tsqueries, naive_args, 1))
        common.run_async(_sql_sequential(url, EXHAUSTIVE, queries, tsqueries, exhaustive_args, 1))

        # one client, interleaved round by round so all paths see the same machine
        api_lat: dict[str, list[float]] = defaultdict(list)
        naive_lat: dict[str, list[float]] = defaultdict(list)
        exhaustive_lat: dict[str, list[float]] = defaultdict(list)
        api_top: dict[str, list[str]] = {}
        exact_top: dict[str, list[str]] = {}
        for _ in range(ROUNDS):
            latencies, api_top = common.run_async(_api_sequential(base, user, queries, 1))
            for kind, values in latencies.items():
                api_lat[kind] += values
            latencies, _ = common.run_async(
                _sql_sequential(url, NAIVE, queries, tsqueries, naive_args, 1)
            )
            for kind, values in latencies.items():
                naive_lat[kind] += values
            latencies, exact_top = common.run_async(
                _sql_sequential(url, EXHAUSTIVE, queries, tsqueries, exhaustive_args, 1)
            )
            for kind, values in latencies.items():
                exhaustive_lat[kind] += values

        api_load = _api_load(base, user, queries)
        naive_load = common.run_async(_sql_load(url, NAIVE, queries, tsqueries, naive_args))
        common_word = next(q for q in queries if q.kind == "common")
        plans = common.run_async(_plans(url, user_id, common_word.q))

    api = _by_kind(api_lat)
    naive = _by_kind(naive_lat)
    exhaustive = _by_kind(exhaustive_lat)
    ratio = api["all"]["p95"] / naive["all"]["p95"]
    summary: dict[str, Any] = {
        "workload": (
            f"{data['tasks']:,} tasks, one user with {MAIN_USER_TASKS:,};"
            f" {len(queries)} distinct queries x {ROUNDS} rounds at 1 client;"
            f" {CLIENTS} clients for {LOAD_SECONDS:.0f} s; {WORKERS} server workers"
        ),
        "one_client_ms": {"api": api, "naive": naive, "exhaustive_scoped": exhaustive},
        "eight_clients": {"api": api_load, "naive": naive_load},
        "p95_api_over_naive": round(ratio, 3),
        "qps_api_over_naive": round(api_load["qps"] / naive_load["qps"], 3),
        "ranking_vs_exact_ts_rank_cd": _overlap(api_top, exact_top),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": api["all"]["p95"] < TARGET_P95_MS and ratio < 1,
        "seed_timings_s": {k: round(v, 1) for k, v in data["timings"].items()},
        "plans_common_word": {"q": common_word.q, "statements": plans},
        "queries": [{"kind": q.kind, "q": q.q} for q in queries],
        "run_seconds": round(time.perf_counter() - started_run, 1),
    }
    common.write_results("search", summary)
    kinds = ["all", *sorted(k for k in api if k != "all")]
    common.bar_chart(
        "search",
        common.Chart(
            title="P95 latency at 1 client, by query kind",
            ylabel="ms",
            categories=kinds,
            series={
                "API (HTTP, tiered plan)": [api[k]["p95"] for k in kinds],
                "naive SQL (GIN, rank all)": [naive[k]["p95"] for k in kinds],
                "scoped SQL, rank all": [exhaustive[k]["p95"] for k in kinds],
            },
            reference=TARGET_P95_MS,
            reference_label=f"target {TARGET_P95_MS:.0f} ms",
        ),
        common.Chart(
            title=f"Throughput at {CLIENTS} clients",
            ylabel="queries/s",
            categories=["API (HTTP)", "naive SQL"],
            series={"queries/s": [api_load["qps"], naive_load["qps"]]},
        ),
        suptitle=f"search at {data['tasks']:,} tasks: API P95 / naive P95 = {ratio:.2f}",
    )
    rows = [
        [name, f["all"]["p50"], f["all"]["p95"], f["all"]["p99"], f["all"]["mean"]]
        for name, f in (("api", api), ("naive", naive), ("exhaustive", exhaustive))
    ]
    print(common.format_table(["path", "p50 ms", "p95 ms", "p99 ms", "mean ms"], rows))
    print(
        f"8 clients: api {api_load['qps']} q/s, naive {naive_load['qps']} q/s;"
        f" P95 api/naive = {ratio:.2f}; top-20 overlap with exact ranking:"
        f" {summary['ranking_vs_exact_ts_rank_cd']['mean_top20_overlap']}"
    )
    if not summary["meets_target"]:
        print(f"search: target missed (P95 {api['all']['p95']} ms, ratio {ratio:.2f})")
    return {k: v for k, v in summary.items() if k not in ("queries", "plans_common_word")}
