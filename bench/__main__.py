"""``python -m bench [name ...]``: runs the named benchmarks (default: every one that exists).

Each benchmark is a module ``bench/<name>.py`` with ``def main() -> dict`` that writes
``bench/results/<name>.json`` and ``.png`` and raises on failure. The exit status is non-zero if
any benchmark failed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
import traceback

DEFAULT_ORDER = ("crud", "search", "ws", "bulk")


def available() -> list[str]:
    return [name for name in DEFAULT_ORDER if importlib.util.find_spec(f"bench.{name}") is not None]


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        print(f"available: {' '.join(available()) or '(none)'}")
        return 0
    names = argv or available()
    failed: list[str] = []
    for name in names:
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"bench: no benchmark named {name!r} (bench/{name}.py)", file=sys.stderr)
            failed.append(name)
            continue
        print(f"==> bench {name}", flush=True)
        started = time.monotonic()
        try:
            summary = importlib.import_module(f"bench.{name}").main()
        except Exception:
            traceback.print_exc()
            print(f"<== bench {name}: FAILED after {time.monotonic() - started:.0f} s", flush=True)
            failed.append(name)
            continue
        print(json.dumps(summary, indent=2, default=str))
        print(f"<== bench {name}: done in {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"bench: failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
