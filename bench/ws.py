"""WebSocket fan-out: 250 users x 20 sockets in one shared project, one change per second.

A load client in its own process (``bench/ws_client.py``) opens the sockets and measures, for
every socket and every change, the time from the writer's HTTP response to receipt; then again
while the crud mix (lists, creates, bulk creates of 20, in other projects) runs against the same
server. The server's memory per connection is its RSS delta over the connections. The floor, in
the same run: a bare ``websockets`` server that sends each message to every socket in a plain
loop (``bench/ws_floor.py``), measured by the same client the same way.

Environment: ``BENCH_WS_USERS`` (250), ``BENCH_WS_SOCKETS_PER_USER`` (20), ``BENCH_WS_CHANGES``
(15 per phase), ``BENCH_WS_WORKERS`` (1, like the floor: on this 2-core box the load client
needs the other core to receive; with 2, each worker holds its share of the sockets and has its
own LISTEN connection, and the three processes contend for 2 cores), ``BENCH_WS_MIX`` (1; 0 skips
the crud-mix phase, for quick iterations).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import common
from taskapi.db import EmbeddedPostgres

USERS = int(os.environ.get("BENCH_WS_USERS", "250"))
SOCKETS_PER_USER = int(os.environ.get("BENCH_WS_SOCKETS_PER_USER", "20"))
CHANGES = int(os.environ.get("BENCH_WS_CHANGES", "15"))
WORKERS = int(os.environ.get("BENCH_WS_WORKERS", "1"))
MIX = os.environ.get("BENCH_WS_MIX", "1") != "0"
PROTOCOL = os.environ.get("BENCH_WS_PROTOCOL")  # e.g. websockets-sansio: uvicorn run directly
MIX_USERS = 8
MIX_CONNECTIONS = 16
BULK_SIZE = 20
TARGET_P95_MS = 100.0
CLIENT_TIMEOUT = 420.0


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = USERS * SOCKETS_PER_USER * 2 + 2000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, wanted), hard), hard))


async def _seed(base_url: str, users: list[common.BenchUser]) -> tuple[str, list[str]]:
    """The shared project (owner ``users[0]``, every member user added) and the mix projects."""
    http = common.HttpConnection(base_url)
    owner, members, mixers = users[0], users[1 : USERS + 1], users[USERS + 1 :]
    created = await http.request(
        "POST", "/api/v1/projects", body={"name": "shared"}, headers=owner.headers
    )
    _expect(created, 201, "create the shared project")
    project_id: str = created.json()["id"]
    for member in members:
        added = await http.request(
            "POST",
            f"/api/v1/projects/{project_id}/members",
            body={"email": member.email, "role": "editor"},
            headers=owner.headers,
        )
        _expect(added, 201, "add a member")
    mix_projects = []
    for mixer in mixers:
        own = await http.request(
            "POST", "/api/v1/projects", body={"name": "mix"}, headers=mixer.headers
        )
        _expect(own, 201, "create a mix project")
        mix_projects.append(own.json()["id"])
    http.close()
    return project_id, mix_projects


def _expect(response: common.Response, status: int, what: str) -> None:
    if response.status != status:
        raise common.BenchFailure(f"{what}: {response.status} {response.body[:300]!r}")


def _mix_scenario(mixers: list[common.BenchUser], projects: list[str]) -> common.Scenario:
    """The crud mix in the mixers' own projects: 60% list, 25% create, 15% bulk create."""

    async def scenario(conn: common.HttpConnection, index: int) -> None:
        rng = random.Random()
        which = index % len(mixers)
        headers = mixers[which].headers
        project_id = projects[which]
        kind = common.weighted_choice(rng, {"list": 60, "create": 25, "bulk": 15})
        if kind == "list":
            response = await conn.request(
                "GET", f"/api/v1/tasks?project_id={project_id}&limit=50", headers=headers, tag=kind
            )
            _expect(response, 200, "list")
        elif kind == "create":
            body = {"project_id": project_id, "title": "mix"}
            response = await conn.request(
                "POST", "/api/v1/tasks", body=body, headers=headers, tag=kind
            )
            _expect(response, 201, "create")
        else:
            operations = [
                {"op": "create", "ref": f"r{i}", "data": {"project_id": project_id, "title": "b"}}
                for i in range(BULK_SIZE)
            ]
            response = await conn.request(
                "POST",
                "/api/v1/tasks/bulk",
                body={"operations": operations},
                headers=headers,
                tag=kind,
            )
            _expect(response, 200, "bulk")

    return scenario


def _run_client(config: dict[str, Any], during_phase2: Any = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as scratch:
        config_path = Path(scratch) / "config.json"
        result_path = Path(scratch) / "result.json"
        config_path.write_text(json.dumps(config))
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.ws_client", str(config_path), str(result_path)],
            cwd=common.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        timer = threading.Timer(CLIENT_TIMEOUT, process.kill)
        timer.start()
        try:
            assert process.stdout is not None
            assert process.stdin is not None
            for line in process.stdout:
                if line.strip() == "PHASE2":
                    mix = threading.Thread(target=during_phase2) if during_phase2 else None
                    if mix is not None:
                        mix.start()
                    time.sleep(1)
                    process.stdin.write("\n")
                    process.stdin.flush()
                    if mix is not None:
                        mix.join()
            process.wait()
        finally:
            timer.cancel()
        if process.returncode != 0 or not result_path.exists():
            raise common.BenchFailure(f"the load client failed ({process.returncode})")
        result: dict[str, Any] = json.loads(result_path.read_text())
        return result


@contextlib.contextmanager
def _floor_server() -> Iterator[tuple[int, int]]:
    port = common.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.ws_floor", str(port)], cwd=common.ROOT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise common.BenchFailure("the floor server did not start")
            time.sleep(0.1)
        yield port, process.pid
    finally:
        common.stop_process_group(process)


@contextlib.contextmanager
def _server(url: str, env: dict[str, str]) -> Iterator[common.ServerURL]:
    """``taskapi serve``; or, with ``BENCH_WS_PROTOCOL``, the same app on that uvicorn protocol."""
    if PROTOCOL is None:
        with common.server(url, workers=WORKERS, env=env) as base:
            yield base
        return
    port = common.free_port()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        environment = common.server_environment(
            url, port=port, workers=WORKERS, data_dir=data_dir, env=env
        )
        command = [
            sys.executable, "-m", "uvicorn", "taskapi.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
            "--loop", "uvloop", "--http", "httptools", "--ws", PROTOCOL,
            "--ws-per-message-deflate", "false", "--no-access-log",
        ]  # fmt: skip
        with common._process(  # the shared runner, with another command line
            command, environment, name="taskapi-ws", health_path="/health", startup_timeout=60
        ) as base:
            yield base


@contextlib.contextmanager
def _private_cluster() -> Iterator[None]:
    """A cluster of its own (unless ``BENCH_DATABASE_URL`` names one).

    The fan-out delivers a change once every older write transaction in the *cluster* has ended
    (the xid horizon), so another benchmark seeding in the shared bench cluster would hold every
    delivery back for the length of its transactions.
    """
    if os.environ.get("BENCH_DATABASE_URL"):
        yield
        return
    cluster = EmbeddedPostgres(common.ROOT / ".taskapi" / "bench-ws")
    os.environ["BENCH_DATABASE_URL"] = cluster.start()
    try:
        yield
    finally:
        del os.environ["BENCH_DATABASE_URL"]
        cluster.stop()


def _check(phase: dict[str, Any], what: str) -> None:
    if phase["missing"]:
        raise common.BenchFailure(f"{what}: {phase['missing']} deliveries missing")


def main() -> dict[str, Any]:
    _raise_file_limit()
    connections = USERS * SOCKETS_PER_USER
    summary: dict[str, Any] = {
        "users": USERS,
        "sockets_per_user": SOCKETS_PER_USER,
        "changes_per_phase": CHANGES,
        "server_workers": WORKERS,
        "ws_implementation": f"uvicorn {PROTOCOL or 'websockets'}, permessage-deflate off",
    }
    env = {
        "TASKAPI_WS_MAX_PER_USER": str(SOCKETS_PER_USER),
        "TASKAPI_WS_IDLE_TIMEOUT": "600",  # the clients do not ping during the run
        "TASKAPI_WS_SWEEP_INTERVAL": "30",
    }
    with (
        _private_cluster(),
        common.fresh_database("ws") as url,
        _server(url, env) as base,
    ):
        users = common.register_users(base, USERS + 1 + MIX_USERS, prefix="ws", parallel=8)
        project_id, mix_projects = common.run_async(_seed(base, users))
        mixers = users[USERS + 1 :]
        mix_result: dict[str, Any] = {}

        def crud_mix() -> None:
            result = common.run_load(
                base,
                _mix_scenario(mixers, mix_projects),
                connections=MIX_CONNECTIONS,
                duration=CHANGES + 2,
                warmup=0.5,
            )
            mix_result.update(
                {tag: result.summary(tag) for tag in ("list", "create", "bulk")},
                all=result.summary(None),
            )

        project = _run_client(
            {
                "mode": "rest",
                "mix": MIX,
                "port": int(base.rsplit(":", 1)[1]),
                "ws_path": "/api/v1/ws",
                "base_url": str(base),
                "tokens": [user.access_token for user in users[1 : USERS + 1]],
                "users": USERS,
                "sockets_per_user": SOCKETS_PER_USER,
                "writer_token": users[0].access_token,
                "project_id": project_id,
                "server_pids": [p.pid for p in base.worker_processes()],
                "changes": CHANGES,
            },
            during_phase2=crud_mix,
        )
        summary["project"] = project
        summary["crud_mix"] = mix_result
    with _floor_server() as (port, pid):
        floor = _run_client(
            {
                "mode": "floor",
                "mix": False,
                "port": port,
                "ws_path": "/",
                "tokens": ["x"] * USERS,
                "users": USERS,
                "sockets_per_user": SOCKETS_PER_USER,
                "server_pids": [pid],
                "changes": CHANGES,
            }
        )
    summary["floor"] = floor
    steady, floor_steady = project["steady"], floor["steady"]
    summary["connections"] = connections
    summary["p95_vs_floor"] = round(steady["p95"] / floor_steady["p95"], 2)
    summary["target_p95_ms"] = TARGET_P95_MS
    summary["meets_target"] = steady["p95"] < TARGET_P95_MS
    common.write_results("ws", summary)
    _chart(summary)
    print(_report(summary))
    _check(steady, "steady")
    if MIX:
        _check(project["mix"], "under the crud mix")
    _check(floor_steady, "floor")
    return summary


def _chart(summary: dict[str, Any]) -> None:
    project, floor = summary["project"], summary["floor"]
    phases = {"Task API, 1 change/s": project["steady"]}
    if "mix" in project:
        phases["Task API + crud mix"] = project["mix"]
    phases["floor (plain loop)"] = floor["steady"]
    common.bar_chart(
        "ws",
        common.Chart(
            title=f"Delivery latency to {summary['connections']:,} sockets",
            ylabel="ms (writer's response to receipt)",
            categories=["P50", "P95", "P99"],
            series={name: [p["p50"], p["p95"], p["p99"]] for name, p in phases.items()},
            reference=TARGET_P95_MS,
            reference_label="P95 target",
        ),
        common.Chart(
            title="Server memory per connection",
            ylabel="KiB",
            categories=["per connection"],
            series={
                "Task API": [project["memory_per_connection_kib"]],
                "floor": [floor["memory_per_connection_kib"]],
            },
        ),
    )


def _report(summary: dict[str, Any]) -> str:
    project, floor = summary["project"], summary["floor"]
    rows = [
        ["Task API, 1 change/s", *_row(project["steady"]), project["memory_per_connection_kib"]]
    ]
    if "mix" in project:
        rows.append(
            ["Task API + crud mix", *_row(project["mix"]), project["memory_per_connection_kib"]]
        )
    rows.append(["floor (plain loop)", *_row(floor["steady"]), floor["memory_per_connection_kib"]])
    table = common.format_table(["run", "P50 ms", "P95 ms", "P99 ms", "samples", "KiB/conn"], rows)
    return f"{summary['connections']:,} sockets\n{table}"


def _row(phase: dict[str, Any]) -> list[Any]:
    return [phase["p50"], phase["p95"], phase["p99"], phase["samples"]]


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
