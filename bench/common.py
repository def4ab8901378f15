"""Shared benchmark helpers: databases, server processes, a cheap HTTP load generator, results.

Every benchmark is a module ``bench/<name>.py`` with ``def main() -> dict`` (sync). A typical one::

    from bench import common

    def main() -> dict:
        with common.fresh_database("mybench") as url, common.server(url, workers=2) as base:
            users = common.register_users(base, 10)
            ...  # seed through SQL (asyncpg on ``url``) or the API
            result = common.run_load(base, scenario, connections=64, duration=10)
            summary = {"get": result.summary("get")}
        common.write_results("mybench", summary)
        common.bar_chart("mybench", common.Chart(title=..., ylabel=..., categories=..., series=...))
        return summary

The pieces:

- ``fresh_database(prefix)``: a new, migrated database on ``BENCH_DATABASE_URL``'s server, else on
  an embedded cluster in ``.taskapi/bench``; dropped afterwards. ``clone_database(url, prefix)``
  copies a seeded one (``CREATE DATABASE … TEMPLATE``), so a ceiling app can get identical data.
- ``server(database_url, workers=2, env=None)``: ``python -m taskapi serve`` on a free port with the
  rate limits far above any load (still in the request path), JSON logs into a file; yields the
  base URL (a ``str`` subclass with ``.pids()``, ``.processes()``, ``.rss_bytes()``, ``.log()``).
  ``uvicorn_server("bench.x:app", …)`` does the same for a ceiling app.
- ``run_load(base_url, scenario, connections=64, duration=10, warmup=2)``: a closed loop of
  ``connections`` keep-alive HTTP/1.1 connections (raw asyncio + httptools on uvloop: far cheaper
  than httpx, so the load client takes little of the CPU it shares with the server), each calling
  ``await scenario(conn, index)`` again and again; every ``conn.request(..., tag="get")`` is timed.
  Any 429, 5xx or transport error raises ``BenchFailure`` at the end of the run.
- ``percentiles(latencies)``, ``write_results(name, data)`` → ``bench/results/<name>.json``,
  ``bar_chart(name, *charts)`` → ``bench/results/<name>.png``, ``format_table(...)``.

Benchmarks target only 127.0.0.1 and stop by themselves in bounded time.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httptools
import orjson
import psutil  # type: ignore[import-untyped]
import uvloop

from taskapi.db import EmbeddedPostgres, asyncpg_dsn, migrate

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
BENCH_DATA_DIR = ROOT / ".taskapi" / "bench"
BENCH_SECRET = "bench-secret-key-not-for-production-0123456789abcdef"
BENCH_PASSWORD = "correct horse battery staple"
HIGH_RATE_LIMIT = "100000000/minute"  # the limiter stays in the path, far above any load
REQUEST_TIMEOUT = 30.0
CONNECT_SPACING = 0.005  # seconds between the load client's connects (spreads them over workers)


class BenchFailure(Exception):
    """A benchmark run that must fail: 429s, 5xx, transport errors, or a broken setup."""


# ---------------------------------------------------------------- databases


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _unique_name(prefix: str) -> str:
    return f"bench_{prefix}_{uuid.uuid4().hex[:8]}"


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def database_server(cluster: str | None = None) -> Iterator[str]:
    """The URL of a PostgreSQL server to create databases on: ``BENCH_DATABASE_URL`` or embedded.

    The embedded cluster lives in ``.taskapi/bench``, or ``.taskapi/bench/<cluster>`` for a
    private one (so that its CPU use can be measured apart from other benchmarks').
    """
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(BENCH_DATA_DIR if cluster is None else BENCH_DATA_DIR / cluster)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


@contextlib.contextmanager
def fresh_database(prefix: str, *, cluster: str | None = None) -> Iterator[str]:
    """A new database migrated to head; yields its URL and drops it at the end.

    ``cluster`` names a private embedded cluster (see ``database_server``). Sync (uses
    ``asyncio.run``): call it from ``main()``, not from inside a running event loop.
    """
    with database_server(cluster) as server_url:
        name = _unique_name(prefix)
        asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
        url = _with_database(server_url, name)
        try:
            asyncio.run(migrate(url))
            yield url
        finally:
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def clone_database(url: str, prefix: str) -> Iterator[str]:
    """A copy of the database at ``url`` (it must have no open connections); dropped at the end."""
    name = _unique_name(prefix)
    source = urlsplit(url).path.lstrip("/")
    admin_url = _with_database(url, "postgres")
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    try:
        yield _with_database(url, name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------- server processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerURL(str):
    """A running server's base URL (``http://127.0.0.1:<port>``) that also knows its processes."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def __new__(cls, url: str, process: subprocess.Popen[bytes], log_path: Path) -> ServerURL:
        instance = super().__new__(cls, url)
        instance.process = process
        instance.log_path = log_path
        return instance

    @property
    def base_url(self) -> str:
        return str(self)

    @property
    def ws_url(self) -> str:
        return "ws" + str(self)[len("http") :]

    def processes(self) -> list[psutil.Process]:
        """The server's process and all its descendants (uvicorn's workers)."""
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes()]

    def worker_processes(self) -> list[psutil.Process]:
        """The processes that serve requests: the children if there are any, else the parent."""
        processes = self.processes()
        return processes[1:] or processes

    def rss_bytes(self) -> int:
        """Resident memory of the serving processes, summed."""
        total = 0
        for process in self.worker_processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes, summed.

        Take it before and after a run: CPU per request is far steadier than req/s on a machine
        whose cores are shared with other work.
        """
        return processes_cpu_seconds(self.processes())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def processes_cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def _postmaster_pid(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        backend: int = await connection.fetchval("SELECT pg_backend_pid()")
        parent: int = psutil.Process(backend).ppid()
    finally:
        await connection.close()
    return parent


class PostgresCpu:
    """CPU time used by a local PostgreSQL cluster: its postmaster, live backends, and exited ones.

    ``PostgresCpu(database_url).seconds()`` before and after a run; only meaningful when nothing
    else uses the cluster meanwhile (the embedded bench cluster), and only on this machine.
    """

    def __init__(self, database_url: str) -> None:
        self.postmaster = psutil.Process(run_async(_postmaster_pid(database_url)))

    def seconds(self) -> float:
        times = self.postmaster.cpu_times()
        exited = times.children_user + times.children_system  # reaped backends
        live = processes_cpu_seconds(self.postmaster.children())
        return float(times.user + times.system + exited + live)


def _wait_until_up(url: ServerURL, health_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    port = urlsplit(str(url)).port
    while True:
        if url.process.poll() is not None:
            raise BenchFailure(f"server exited early:\n{url.log()[-4000:]}")
        request = f"GET {health_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port or 80), timeout=1) as sock,
        ):
            sock.sendall(request.encode())
            if sock.recv(64).startswith(b"HTTP/1.1 200"):
                return
        if time.monotonic() > deadline:
            raise BenchFailure(f"server did not start in {timeout:.0f} s:\n{url.log()[-4000:]}")
        time.sleep(0.1)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to the process group, then SIGKILL if it has not exited within ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def _process(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    name: str,
    health_path: str,
    startup_timeout: float,
) -> Iterator[ServerURL]:
    port = int(env["TASKAPI_PORT"])
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
        log_path = Path(scratch) / "server.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(command),
                env=dict(env),
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = ServerURL(f"http://127.0.0.1:{port}", process, log_path)
        try:
            _wait_until_up(url, health_path, startup_timeout)
            yield url
        finally:
            stop_process_group(process)
            keep = os.environ.get("BENCH_KEEP_LOGS")
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                target = Path(keep) / f"{name}-{port}.log"
                target.write_bytes(log_path.read_bytes())


def server_environment(
    database_url: str, *, port: int, workers: int, data_dir: str, env: Mapping[str, str] | None
) -> dict[str, str]:
    """The environment of a benchmark ``taskapi serve``: high limits, fixed secret, JSON logs."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TASKAPI_HOST": "127.0.0.1",
        "TASKAPI_PORT": str(port),
        "TASKAPI_WORKERS": str(workers),
        "TASKAPI_SECRET_KEY": BENCH_SECRET,
        "TASKAPI_DATA_DIR": data_dir,
        "TASKAPI_RATE_LIMIT": HIGH_RATE_LIMIT,
        "TASKAPI_AUTH_RATE_LIMIT": HIGH_RATE_LIMIT,
        "TASKAPI_LOGIN_FAILURE_LIMIT": HIGH_RATE_LIMIT,
        "TASKAPI_ACCESS_TOKEN_TTL": "7200",
        "TASKAPI_LOG_FORMAT": "json",
        **(env or {}),
    }


@contextlib.contextmanager
def server(
    database_url: str,
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[ServerURL]:
    """Runs ``python -m taskapi serve`` until the block ends; yields its base URL.

    ``env`` overrides or adds variables (e.g. ``{"REDIS_URL": …}``). Logs (JSON) go to a temporary
    file: ``url.log()`` reads it; set ``BENCH_KEEP_LOGS=<dir>`` to keep a copy.
    """
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        environment = server_environment(
            database_url, port=free_port(), workers=workers, data_dir=data_dir, env=env
        )
        with _process(
            [sys.executable, "-m", "taskapi", "serve"],
            environment,
            name="taskapi",
            health_path="/health",
            startup_timeout=startup_timeout,
        ) as url:
            yield url


@contextlib.contextmanager
def uvicorn_server(
    app: str,
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    health_path: str = "/health",
    startup_timeout: float = 60.0,
) -> Iterator[ServerURL]:
    """Runs a ceiling app (``"bench.module:app"``) under uvicorn with uvloop + httptools.

    The app gets ``env`` plus ``TASKAPI_PORT`` and ``TASKAPI_WORKERS``; it must answer 200 on
    ``health_path`` once ready.
    """
    port = free_port()
    environment = {
        **os.environ,
        "TASKAPI_PORT": str(port),
        "TASKAPI_WORKERS": str(workers),
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with _process(
        command,
        environment,
        name=app.replace(":", "-"),
        health_path=health_path,
        startup_timeout=startup_timeout,
    ) as url:
        yield url


# ---------------------------------------------------------------- a cheap HTTP/1.1 client


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class _ClientProtocol(asyncio.Protocol):
    """One keep-alive connection; httptools parses the responses (content-length or chunked)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = True
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            status = self.parser.get_status_code()
            waiter.set_result(Response(status, self._headers, b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1; reconnects when the server closed it.

    ``request(..., tag="get")`` times the request into the run's recorder under that tag.
    """

    def __init__(
        self,
        base_url: str,
        *,
        recorder: Recorder | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(str(base_url))
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.recorder = recorder
        self._host_header = f"Host: {self.host}:{self.port}\r\n"
        self._default_headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._protocol: _ClientProtocol | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_ClientProtocol, self.host, self.port)
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | Mapping[str, Any] | Sequence[Any] | None = None,
        headers: Mapping[str, str] | None = None,
        tag: str | None = None,
    ) -> Response:
        """Sends one request and waits for its response; JSON-encodes a dict/list ``body``."""
        protocol = self._protocol
        if protocol is None or protocol.closed or not protocol.keep_alive:
            self.close()
            await self.connect()
            protocol = self._protocol
            assert protocol is not None
        head = [f"{method} {path} HTTP/1.1\r\n", self._host_header, self._default_headers]
        if headers:
            head.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        payload = b""
        if body is not None:
            payload = body if isinstance(body, bytes) else orjson.dumps(body)
            if not (headers and any(name.lower() == "content-type" for name in headers)):
                head.append("Content-Type: application/json\r\n")
            head.append(f"Content-Length: {len(payload)}\r\n")
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            head.append("Content-Length: 0\r\n")
        head.append("\r\n")
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        started = time.perf_counter()
        assert protocol.transport is not None
        protocol.transport.write("".join(head).encode("latin-1") + payload)
        try:
            response = await waiter
        except BaseException:
            self.close()
            raise
        if tag is not None and self.recorder is not None:
            self.recorder.record(tag, started, time.perf_counter(), response)
        return response


# ---------------------------------------------------------------- closed-loop load


class Recorder:
    """Latencies and statuses per tag of the requests that complete inside the measured window."""

    def __init__(self, window_start: float, window_end: float) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.latencies: dict[str, array.array[float]] = {}
        self.statuses: dict[str, Counter[int]] = {}
        self.failures: Counter[str] = Counter()
        self.failure_samples: list[str] = []
        self.total_requests = 0  # warm-up and tail included (for CPU per request)

    def record(self, tag: str, started: float, finished: float, response: Response) -> None:
        self.total_requests += 1
        status = response.status
        if status == 429 or status >= 500:
            self.fail(f"{tag} {status}", repr(response.body[:300]))
        if not self.window_start <= finished <= self.window_end:
            return
        latencies = self.latencies.get(tag)
        if latencies is None:
            latencies = self.latencies[tag] = array.array("d")
            self.statuses[tag] = Counter()
        latencies.append(finished - started)
        self.statuses[tag][status] += 1

    def fail(self, kind: str, detail: str = "") -> None:
        """Counts a failed request under ``kind`` (e.g. ``"get 500"``), keeping a few samples."""
        self.failures[kind] += 1
        if len(self.failure_samples) < 10:
            self.failure_samples.append(f"{kind}: {detail}"[:500])


Scenario = Callable[[HttpConnection, int], Awaitable[None]]
"""One iteration of a virtual user: ``await scenario(connection, worker_index)``."""


@dataclass
class LoadResult:
    """What a ``run_load`` measured: per tag latencies (seconds) and statuses over ``duration``."""

    duration: float
    connections: int
    latencies: dict[str, array.array[float]]
    statuses: dict[str, Counter[int]]
    failures: Counter[str] = field(default_factory=Counter)
    failure_samples: list[str] = field(default_factory=list)
    total_requests: int = 0  # every timed request, warm-up and tail included

    def tags(self) -> list[str]:
        return sorted(self.latencies)

    def count(self, tag: str | None = None) -> int:
        if tag is None:
            return sum(len(values) for values in self.latencies.values())
        return len(self.latencies.get(tag, ()))

    def rps(self, tag: str | None = None) -> float:
        return self.count(tag) / self.duration if self.duration > 0 else 0.0

    def all_latencies(self) -> array.array[float]:
        merged: array.array[float] = array.array("d")
        for values in self.latencies.values():
            merged.extend(values)
        return merged

    def summary(self, tag: str | None = None) -> dict[str, Any]:
        """``{requests, rps, p50_ms, p95_ms, p99_ms, statuses}`` for one tag or all of them."""
        latencies = (
            self.all_latencies() if tag is None else self.latencies.get(tag, array.array("d"))
        )
        statuses: Counter[int] = Counter()
        for name, counts in self.statuses.items():
            if tag is None or name == tag:
                statuses.update(counts)
        quantiles = percentiles(latencies)
        return {
            "requests": self.count(tag),
            "rps": round(self.rps(tag), 1),
            "p50_ms": quantiles["p50"],
            "p95_ms": quantiles["p95"],
            "p99_ms": quantiles["p99"],
            "statuses": {str(code): count for code, count in sorted(statuses.items())},
        }

    def raise_for_failures(self) -> None:
        """``BenchFailure`` if any request got a 429 or 5xx or failed in transport."""
        if self.failures:
            samples = "\n  ".join(self.failure_samples)
            raise BenchFailure(f"failed requests: {dict(self.failures)}\n  {samples}")


async def run_load_async(
    base_url: str,
    scenario: Scenario,
    *,
    connections: int = 64,
    duration: float = 10.0,
    warmup: float = 2.0,
    headers: Mapping[str, str] | None = None,
    max_failures: int = 100,
) -> LoadResult:
    """Closed loop: ``connections`` workers each run ``scenario`` back to back until time is up.

    Only requests that complete in the ``duration`` after the ``warmup`` are measured. A scenario
    that raises counts as a failure (the run goes on until ``max_failures``). Every worker stops
    issuing at the end; requests still running ``REQUEST_TIMEOUT`` s later are cancelled.
    """
    started = time.perf_counter()
    recorder = Recorder(started + warmup, started + warmup + duration)
    clients = [
        HttpConnection(base_url, recorder=recorder, headers=headers) for _ in range(connections)
    ]
    for client in clients:
        # one at a time, a few ms apart: a burst of connects is all accepted by whichever
        # uvicorn worker wakes first, leaving the other workers idle for the whole run
        await client.connect()
        await asyncio.sleep(CONNECT_SPACING)
    end = recorder.window_end
    stop = asyncio.Event()

    async def worker(index: int, client: HttpConnection) -> None:
        while time.perf_counter() < end and not stop.is_set():
            try:
                await scenario(client, index)
            except Exception as exc:
                recorder.fail(f"error {type(exc).__name__}", str(exc))
                client.close()
                if sum(recorder.failures.values()) >= max_failures:
                    stop.set()

    tasks = [asyncio.create_task(worker(i, client)) for i, client in enumerate(clients)]
    _, pending = await asyncio.wait(tasks, timeout=warmup + duration + REQUEST_TIMEOUT)
    for task in pending:
        task.cancel()
        recorder.fail("timeout", f"a request took over {REQUEST_TIMEOUT:.0f} s after the end")
    await asyncio.gather(*pending, return_exceptions=True)
    for client in clients:
        client.close()
    measured = min(time.perf_counter(), end) - recorder.window_start
    return LoadResult(
        duration=max(measured, 0.0),
        connections=connections,
        latencies=recorder.latencies,
        statuses=recorder.statuses,
        failures=recorder.failures,
        failure_samples=recorder.failure_samples,
        total_requests=recorder.total_requests,
    )


def run_async(coroutine: Awaitable[Any]) -> Any:
    """Runs a coroutine to completion on a fresh uvloop event loop (from sync code)."""

    async def wrapper() -> Any:
        return await coroutine

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(wrapper())


def run_load(
    base_url: str,
    scenario: Scenario,
    *,
    connections: int = 64,
    duration: float = 10.0,
    warmup: float = 2.0,
    headers: Mapping[str, str] | None = None,
    check: bool = True,
) -> LoadResult:
    """``run_load_async`` on a uvloop loop; raises ``BenchFailure`` on any 429/5xx if ``check``."""
    result: LoadResult = run_async(
        run_load_async(
            base_url,
            scenario,
            connections=connections,
            duration=duration,
            warmup=warmup,
            headers=headers,
        )
    )
    if check:
        result.raise_for_failures()
    return result


# ---------------------------------------------------------------- users through the API


@dataclass(frozen=True)
class BenchUser:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register_users_async(
    base_url: str, count: int, *, prefix: str = "bench", parallel: int = 8
) -> list[BenchUser]:
    """Registers and logs in ``count`` users (Argon2 makes each take tens of milliseconds)."""
    run = uuid.uuid4().hex[:6]
    emails = [f"{prefix}-{run}-{i}@example.com" for i in range(count)]
    users: dict[int, BenchUser] = {}
    queue = list(range(count))

    async def worker() -> None:
        client = HttpConnection(base_url)
        await client.connect()
        try:
            while queue:
                i = queue.pop()
                credentials = {"email": emails[i], "password": BENCH_PASSWORD}
                registered = await client.request("POST", "/api/v1/auth/register", body=credentials)
                if registered.status != 201:
                    raise BenchFailure(f"register: {registered.status} {registered.body!r}")
                login = await client.request("POST", "/api/v1/auth/login", body=credentials)
                if login.status != 200:
                    raise BenchFailure(f"login: {login.status} {login.body!r}")
                data = login.json()
                users[i] = BenchUser(
                    id=data["user"]["id"],
                    email=emails[i],
                    password=BENCH_PASSWORD,
                    access_token=data["access_token"],
                    refresh_token=data["refresh_token"],
                )
        finally:
            client.close()

    await asyncio.gather(*(worker() for _ in range(min(parallel, count))))
    return [users[i] for i in range(count)]


def register_users(
    base_url: str, count: int, *, prefix: str = "bench", parallel: int = 8
) -> list[BenchUser]:
    """Sync ``register_users_async``."""
    result: list[BenchUser] = run_async(
        register_users_async(base_url, count, prefix=prefix, parallel=parallel)
    )
    return result


# ---------------------------------------------------------------- statistics and output


def percentiles(latencies: Sequence[float] | array.array[float]) -> dict[str, float]:
    """``{p50, p95, p99}`` in milliseconds (linear interpolation; NaN when empty)."""
    values = sorted(latencies)
    if not values:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan}

    def at(q: float) -> float:
        position = (len(values) - 1) * q
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        value = values[low] + (values[high] - values[low]) * (position - low)
        return round(value * 1000, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def machine() -> dict[str, Any]:
    """Where and when a result was measured (for the JSON files)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_results(name: str, data: Mapping[str, Any]) -> Path:
    """Writes ``bench/results/<name>.json`` (NaN becomes null; ``machine`` added if absent)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = dict(data)
    payload.setdefault("machine", machine())
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(_finite(payload), indent=2, default=str) + "\n")
    return path


@dataclass
class Chart:
    """One panel of grouped bars: ``series`` maps a legend label to one value per category."""

    title: str
    ylabel: str
    categories: Sequence[str]
    series: Mapping[str, Sequence[float]]
    reference: float | None = None  # a horizontal dashed line (e.g. a target)
    reference_label: str = ""


def bar_chart(name: str, *charts: Chart, suptitle: str = "") -> Path:
    """Draws the panels side by side into ``bench/results/<name>.png`` (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, len(charts), figsize=(6.5 * len(charts), 4.8), squeeze=False)
    for axis, chart in zip(axes[0], charts, strict=True):
        count = max(len(chart.series), 1)
        width = 0.8 / count
        for i, (label, values) in enumerate(chart.series.items()):
            positions = [x + (i - (count - 1) / 2) * width for x in range(len(chart.categories))]
            clean = [0.0 if not math.isfinite(v) else v for v in values]
            bars = axis.bar(positions, clean, width, label=label)
            axis.bar_label(
                bars,
                labels=[f"{v:,.0f}" if v >= 10 else f"{v:.1f}" for v in clean],
                fontsize=7,
                padding=2,
            )
        if chart.reference is not None:
            axis.axhline(
                chart.reference,
                color="grey",
                linestyle="--",
                linewidth=1,
                label=chart.reference_label or None,
            )
        axis.set_xticks(range(len(chart.categories)), list(chart.categories))
        axis.set_title(chart.title)
        axis.set_ylabel(chart.ylabel)
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout()
    path = RESULTS_DIR / f"{name}.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (numbers right-aligned) for the printed summaries."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if not math.isfinite(value) else f"{value:,.1f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row, raw in zip(cells, rows, strict=True):
        lines.append(
            "  ".join(
                c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
                for c, v, w in zip(row, raw, widths, strict=True)
            )
        )
    return "\n".join(lines)


def weighted_choice(rng: random.Random, weights: Mapping[str, float]) -> str:
    """One key of ``weights`` drawn with its weight (the mixed workloads)."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]
