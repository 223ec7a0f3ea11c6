"""Benchmark the whole list import: upload copy, sniff, parse, normalise, dedupe, store.

Generates recipient CSVs of 100,000 and 1,000,000 rows (the generator of bench_import_parse.py:
mixed phone formats, ~5 % duplicates written differently, ~3 % invalid cells, two fields), then
imports each with `services.imports.import_file`, the service behind the pages, the job and the
command line, on SQLite (a temporary file) and, when given a URL, on PostgreSQL. Each import
runs in a fresh process, which reports its own CPU time (user and system, the app's start
included: steadier than the elapsed time on a shared machine); this process samples the memory
of that process and its children (the fork server and the normalising workers) every 100 ms as
PSS, so pages they share count once, and reports the peak, up to the import's end (the list is
deleted afterwards, unmeasured).

    .venv/bin/python bench/bench_import.py [--sizes 100000 1000000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_import]

The PostgreSQL URL may also come from BENCH_DATABASE_URL. The database is migrated if needed;
the benchmark adds one list per run and deletes it afterwards, touching nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_import_parse import COUNTRY, generate, proportional_rss  # noqa: E402


def run_child(path: Path, database_url: str, instance: Path, workers: int | None) -> None:
    """One measured import, in its own process; prints one JSON line."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.services import imports, lists

    app = create_app(
        {"DATABASE_URL": database_url, "WORKER": "none", "SECRET_KEY": "bench"},
        instance_path=instance,
    )
    with app.app_context():
        name = f"bench {path.name} {time.time_ns()}"
        started = time.perf_counter()
        list_import = imports.import_file(
            db.session,
            path,
            upload_dir=instance / "uploads",
            default_country=COUNTRY,
            list_name=name,
            workers=workers,
        )
        elapsed = time.perf_counter() - started
        result = imports.report(list_import)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        own, cpu = usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime
        # The figures first: the parent stops sampling memory here, so deleting the list to
        # leave the database as it was is not measured.
        print(json.dumps({"elapsed": elapsed, "own_mb": own, "cpu": cpu, **result}), flush=True)
        lists.delete_list(db.session, list_import.recipient_list)


def descendants(root: int) -> list[int]:
    """The process and all its descendants, from /proc/<pid>/task/<tid>/children."""
    found, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    for child in children.read().split():
                        found.append(int(child))
                        frontier.append(int(child))
            except OSError:
                continue
    return found


def tree_pss_mb(root: int) -> float:
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/statm") as statm:
                resident = int(statm.read().split()[1])
        except OSError:
            continue
        total += proportional_rss(str(pid), resident)
    return total / 2**20


def measure(path: Path, database_url: str, instance: Path, workers: int | None) -> dict:
    """Run one import in a child process, sampling its process tree's memory from outside."""
    command = [sys.executable, __file__, "--run", str(path), database_url, str(instance)]
    if workers is not None:
        command += ["--workers", str(workers)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    figures: list[str] = []
    reader = threading.Thread(target=lambda: figures.append(child.stdout.readline()))
    reader.start()
    peak = 0.0
    while child.poll() is None and reader.is_alive():
        peak = max(peak, tree_pss_mb(child.pid))
        time.sleep(0.1)
    output, errors = child.communicate()
    reader.join()
    if child.returncode != 0:
        raise SystemExit(f"the import failed:\n{errors}")
    result = json.loads(figures[0] or output.strip().splitlines()[-1])
    result["tree_mb"] = round(max(peak, result["own_mb"]))
    return result


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="PostgreSQL URL (default: $BENCH_DATABASE_URL); SQLite always runs",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only the given database")
    parser.add_argument("--workers", type=int, default=None, help="normalising processes")
    return parser


def bench_sizes(args: argparse.Namespace, make: Callable[[Path, int], None], kind: str) -> None:
    """Generate a file of each size with make(path, rows) and import it on each database."""
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, default country {COUNTRY}")
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        databases = [] if args.no_sqlite else [("SQLite", f"sqlite:///{root / 'bench.sqlite3'}")]
        if args.database_url:
            databases.append(("PostgreSQL", args.database_url))
        for size in args.sizes:
            path = root / f"recipients_{size}.{kind}"
            started = time.perf_counter()
            make(path, size)
            took = time.perf_counter() - started
            megabytes = path.stat().st_size / 1e6
            print(f"\n{size:,} rows, {megabytes:.1f} MB .{kind} (generated in {took:.1f} s)")
            for label, url in databases:
                result = measure(path, url, root / "instance", args.workers)
                rate = result["rows"] / result["elapsed"]
                counts = {
                    key: result[key]
                    for key in ("imported", "invalid", "duplicates", "opted_out", "landlines")
                }
                print(
                    f"  {label:10} {result['elapsed']:6.1f} s  {rate:9,.0f} rows/s  "
                    f"main process CPU {result['cpu']:6.1f} s  "
                    f"peak {result['own_mb']:4} MB, with workers {result['tree_mb']:4} MB  "
                    f"{counts}"
                )


def main() -> None:
    parser = arguments(__doc__.split("\n")[0])
    parser.add_argument("--run", nargs=3, metavar=("FILE", "URL", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        path, url, instance = args.run
        run_child(Path(path), url, Path(instance), args.workers)
        return
    bench_sizes(args, generate, "csv")


if __name__ == "__main__":
    main()
