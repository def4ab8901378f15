"""Seed data and the published query mix of the search benchmark.

The vocabulary is a few thousand words with a Zipf-like frequency: word ``k`` (1-based) is drawn
with probability about ``1/k`` (a log-uniform rank). The first ranks are English stop words, as in
real text (the ``english`` configuration drops them); the next are everyday task words, then
synthetic but pronounceable words. So the most common content words are in about one task in ten
(10,000 of the searching user's 100,000) and the rarest in a handful.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
import uuid
from dataclasses import dataclass

import asyncpg

STOP_WORDS = [
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "for",
    "on",
    "with",
    "is",
    "it",
    "this",
    "that",
    "be",
    "at",
    "by",
    "from",
    "as",
    "an",
    "or",
    "are",
    "was",
    "we",
    "our",
]
TASK_WORDS = [
    "fix",
    "update",
    "design",
    "review",
    "meeting",
    "report",
    "deploy",
    "test",
    "client",
    "budget",
    "running",
    "release",
    "invoice",
    "customer",
    "onboarding",
    "dashboard",
    "migration",
    "database",
    "server",
    "login",
    "payment",
    "email",
    "mobile",
    "search",
    "backup",
    "security",
    "audit",
    "roadmap",
    "sprint",
    "planning",
    "feedback",
    "survey",
    "marketing",
    "campaign",
    "website",
    "analytics",
    "interview",
    "hiring",
    "contract",
    "vendor",
    "training",
    "workshop",
    "presentation",
    "quarterly",
    "monthly",
    "weekly",
    "schedule",
    "calendar",
    "office",
    "travel",
    "expense",
    "approval",
    "policy",
    "document",
    "draft",
    "proposal",
    "research",
    "prototype",
    "feature",
    "bug",
    "crash",
    "performance",
    "latency",
    "cache",
    "queue",
    "worker",
    "notification",
    "sync",
    "offline",
    "upload",
    "download",
    "export",
    "import",
    "settings",
    "profile",
    "account",
    "password",
    "permission",
    "role",
    "project",
    "task",
    "subtask",
    "deadline",
    "milestone",
    "estimate",
    "priority",
]
_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "cr",
    "dr",
    "fr",
    "gr",
    "pr",
    "tr",
    "bl",
    "cl",
    "fl",
    "gl",
    "pl",
    "sl",
    "st",
    "sp",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk"]

VOCABULARY_SIZE = 6000
MAIN_USER_TASKS = int(os.environ.get("SEARCH_MAIN_TASKS", "100000"))
MAIN_USER_PROJECTS = 10
OTHER_USERS = int(os.environ.get("SEARCH_OTHER_USERS", "900"))
OTHER_USER_TASKS = 1_000  # 900 x 1,000 + 100,000 = 1,000,000 tasks in all
TAGS = [
    "urgent", "backend", "frontend", "ops", "design", "bug", "feature", "docs", "finance", "legal",
    "hr", "sales", "support", "research", "mobile", "infra", "security", "q1", "q2", "q3",
]  # fmt: skip


def vocabulary(seed: int = 7) -> list[str]:
    """Stop words, task words, then synthetic words: distinct, deterministic."""
    rng = random.Random(seed)
    words: list[str] = list(dict.fromkeys(STOP_WORDS + TASK_WORDS))
    seen = set(words)
    while len(words) < VOCABULARY_SIZE:
        syllables = rng.choice((2, 2, 3, 3, 4))
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        word += rng.choice(_CODAS)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


# one word of the vocabulary, Zipf-like: rank k with probability ~ 1/k
_WORD = "(:vocab)[least(floor(exp(random() * ln(:vsize + 1)))::int, :vsize)]"
_TEXT = "(SELECT string_agg({word}, ' ') FROM generate_series(1, {length}) AS w(i) WHERE g >= 0)"
_INSERT_TASKS = """
INSERT INTO tasks (id, project_id, title, description, status, priority, tags, tag_keys,
                   created_by, created_at, updated_at)
SELECT gen_random_uuid(), p.project_id, s.title, s.description,
       (ARRAY['todo', 'in_progress', 'done'])[1 + g % 3], g % 5, s.tags, s.tags, p.owner_id,
       s.at, s.at
FROM generate_series(0, $count - 1) AS g
JOIN bench_projects p ON p.n = $first_project + g % $projects
CROSS JOIN LATERAL (
    SELECT initcap({title}) AS title,
           {description} AS description,
           (SELECT coalesce(array_agg(DISTINCT (:tags)[1 + floor(random() * :ntags)::int]), '{{}}')
              FROM generate_series(1, g % 3) AS t(i)) AS tags,
           now() - random() * interval '365 days' AS at
) s
"""


def _insert_tasks(*, count: int, first_project: int, projects: int) -> str:
    title = _TEXT.format(word=_WORD, length="3 + g % 6")
    description = _TEXT.format(word=_WORD, length="8 + (g * 7) % 25")
    sql = _INSERT_TASKS.format(title=title, description=description)
    for name, value in (("count", count), ("first_project", first_project), ("projects", projects)):
        sql = sql.replace(f"${name}", str(value))
    for name, param in ((":vocab", "$1::text[]"), (":vsize", "$2::int"), (":ntags", "$4::int")):
        sql = sql.replace(name, param)
    return sql.replace(":tags", "$3::text[]")


async def seed(dsn: str, *, main_user_id: uuid.UUID) -> dict[str, float]:
    """Fills the database: the main user's projects and tasks, other users and theirs.

    Tasks are inserted with the tasks indexes dropped and in three parallel statements, then the
    indexes are built once with their own definitions (far faster than maintaining them per row).
    Returns the time each phase took.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    words = vocabulary()
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """
            INSERT INTO users (id, email, display_name, password_hash)
            SELECT gen_random_uuid(), 'bench-' || g || '@example.com', 'Bench ' || g, 'x'
            FROM generate_series(1, $1) g""",
            OTHER_USERS,
        )
        await connection.execute(
            "CREATE UNLOGGED TABLE bench_projects"
            " (n int PRIMARY KEY, project_id uuid, owner_id uuid)"
        )
        await connection.execute(
            """
            INSERT INTO bench_projects
            SELECT g, gen_random_uuid(), $1 FROM generate_series(0, $2 - 1) g""",
            main_user_id,
            MAIN_USER_PROJECTS,
        )
        await connection.execute(
            """
            INSERT INTO bench_projects
            SELECT $1 + row_number() OVER (ORDER BY id) - 1, gen_random_uuid(), id
            FROM users WHERE email LIKE 'bench-%@example.com'""",
            MAIN_USER_PROJECTS,
        )
        await connection.execute("""
            INSERT INTO projects (id, owner_id, name)
            SELECT project_id, owner_id, 'Project ' || n FROM bench_projects""")
        await connection.execute("""
            INSERT INTO project_members (project_id, user_id, role)
            SELECT project_id, owner_id, 'owner' FROM bench_projects""")
        indexes = await connection.fetch("""
            SELECT indexname, indexdef FROM pg_indexes
            WHERE tablename = 'tasks' AND indexname <> 'pk_tasks'""")
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        timings["setup_s"] = time.perf_counter() - started

        started = time.perf_counter()
        half = OTHER_USERS // 2
        parts = [
            (MAIN_USER_TASKS, 0, MAIN_USER_PROJECTS),
            (half * OTHER_USER_TASKS, MAIN_USER_PROJECTS, half),
            (
                (OTHER_USERS - half) * OTHER_USER_TASKS,
                MAIN_USER_PROJECTS + half,
                OTHER_USERS - half,
            ),
        ]
        await asyncio.gather(
            *(_load(dsn, words, count=c, first_project=f, projects=p) for c, f, p in parts)
        )
        timings["insert_tasks_s"] = time.perf_counter() - started

        started = time.perf_counter()
        await connection.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            await connection.execute(index["indexdef"])
        timings["build_indexes_s"] = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_projects")
        started = time.perf_counter()
        for table in ("tasks", "projects", "project_members", "users"):
            await connection.execute(f"VACUUM ANALYZE {table}")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    finally:
        await connection.close()
    return timings


async def _load(
    dsn: str, words: list[str], *, count: int, first_project: int, projects: int
) -> None:
    connection = await asyncpg.connect(dsn, command_timeout=1800)
    try:
        await connection.execute("SET session_replication_role = replica")  # no FK triggers
        await connection.execute(
            _insert_tasks(count=count, first_project=first_project, projects=projects),
            words,
            len(words),
            TAGS,
            len(TAGS),
        )
    finally:
        await connection.close()


@dataclass(frozen=True)
class Query:
    kind: str
    q: str


async def query_mix(
    connection: asyncpg.Connection, *, main_user_id: uuid.UUID, count: int = 200, seed: int = 11
) -> list[Query]:
    """The published mix: common and rare words, phrases, prefixes, exclusions, two-word ANDs."""
    rng = random.Random(seed)
    words = vocabulary()
    content = words[len(STOP_WORDS) :]
    common = content[:150]
    rare = content[1500:]
    queries: dict[str, Query] = {}

    def add(kind: str, q: str) -> None:
        queries.setdefault(q, Query(kind, q))

    def fill(kind: str, target: int, make: object) -> None:
        goal = len(queries) + target
        while len(queries) < goal:
            add(kind, make())  # type: ignore[operator]

    fill("common", 50, lambda: rng.choice(common[:80]))
    fill("rare", 40, lambda: rng.choice(rare))
    fill(
        "prefix",
        35,
        lambda: (w := rng.choice(content[:1500]))[: rng.randint(3, max(3, len(w) - 1))],
    )
    fill("exclusion", 20, lambda: f"{rng.choice(common[:40])} -{rng.choice(common)}")
    fill("two_words", 25, lambda: f"{rng.choice(common)} {rng.choice(content[:800])}")
    # phrases that exist: two adjacent words of one of the user's titles
    titles = await connection.fetch(
        """
        SELECT t.title FROM tasks t JOIN projects p ON p.id = t.project_id
        WHERE p.owner_id = $1 ORDER BY t.id LIMIT 2000""",
        main_user_id,
    )
    remaining = count - len(queries)
    for row in rng.sample(titles, len(titles)):
        if remaining <= 0:
            break
        parts = row["title"].lower().split()
        pairs = [
            (a, b)
            for a, b in itertools.pairwise(parts)
            if a not in STOP_WORDS and b not in STOP_WORDS and a != b
        ]
        if pairs:
            a, b = rng.choice(pairs)
            phrase = f'"{a} {b}"'
            if phrase not in queries:
                add("phrase", phrase)
                remaining -= 1
    return list(queries.values())[:count]
