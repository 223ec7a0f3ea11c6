"""Benchmark the database-free half of the list import: sniff, read, normalise, dedupe.

Generates recipient CSVs (mixed phone formats, ~5 % duplicates written differently, ~3 %
invalid cells, two personalisation fields) of 100,000 and 1,000,000 rows in a temp directory,
then times, each in a fresh process so peak memory is its own:

- baseline: csv.reader + phonenumbers.parse + is_valid_number per row (the issue's yardstick),
- serial:   sniff_csv + iter_rows + classify_rows (one core),
- parallel: sniff_csv + iter_rows + classify_rows_parallel (all cores).

Peak memory is the run's own ru_maxrss and, for parallel, the largest sum of resident memory
over the run's process tree (fork server and workers, sampled every 100 ms, as PSS: pages the
workers share with the fork server count once).

    .venv/bin/python bench/bench_import_parse.py [--sizes 100000 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COUNTRY = "DK"
SCENARIOS = ("baseline", "serial", "parallel")


DANISH_PREFIXES = [
    "20",
    "21",
    "22",
    "23",
    "24",
    "25",
    "26",
    "30",
    "31",
    "40",
    "42",
    "50",
    "60",
    "71",
]


def danish_number(rng: random.Random) -> str:
    return f"{rng.choice(DANISH_PREFIXES)}{rng.randint(1, 9)}{rng.randint(0, 99999):05d}"


def write_phone(digits: str, rng: random.Random) -> str:
    """A Danish number as people and spreadsheets write it."""
    style = rng.randrange(6)
    if style == 0:
        return digits
    if style == 1:
        return " ".join(digits[i : i + 2] for i in range(0, 8, 2))
    if style == 2:
        return f"+45{digits}"
    if style == 3:
        return f"+45 {digits[:4]} {digits[4:]}"
    if style == 4:
        return f"0045 {digits}"
    return f"45{digits}"


INVALID_CELLS = ["", "123", "4.52012E+09", "4,52E+09", "n/a", "+44 7700 900123", "0000"]
FOREIGN = ["+46 70 {:03d} {:02d} {:02d}", "+49 151 {:04d}{:04d}", "+47 4{:02d} {:02d} {:03d}"]


def generate(path: Path, rows: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    seen: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Mobile", "First name", "City"])
        for index in range(rows):
            roll = rng.random()
            if roll < 0.03:
                phone = rng.choice(INVALID_CELLS)
            elif roll < 0.08 and seen:
                phone = write_phone(rng.choice(seen), rng)  # a duplicate, written differently
            elif roll < 0.12:
                pattern = rng.choice(FOREIGN)
                phone = pattern.format(rng.randint(0, 999), rng.randint(0, 99), rng.randint(0, 999))
            else:
                digits = danish_number(rng)
                if len(seen) < 10_000:
                    seen.append(digits)
                phone = write_phone(digits, rng)
            writer.writerow([phone, f"Name {index}", rng.choice(["Århus", "Køge", "Vejle"])])


def run_baseline(path: Path) -> dict[str, int]:
    import phonenumbers

    rows = valid = 0
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        for cells in reader:
            rows += 1
            try:
                number = phonenumbers.parse(cells[0], COUNTRY)
            except phonenumbers.NumberParseException:
                continue
            valid += phonenumbers.is_valid_number(number)
    return {"rows": rows, "valid": valid}


def run_import(path: Path, workers: int | None) -> dict[str, int]:
    from webapp.csvimport import (
        ImportCounts,
        classify_rows,
        classify_rows_parallel,
        iter_rows,
        sniff_csv,
        unique_tag_names,
    )

    fmt = sniff_csv(path, COUNTRY)
    names = unique_tag_names(fmt.columns)
    fields = {names[1]: 1, names[2]: 2}
    rows = iter_rows(path, fmt)
    opted_out = {"4520123456", "4521345678"}
    if workers is None:
        outcomes = classify_rows(rows, fmt.phone_column, fields, COUNTRY, opted_out)
    else:
        outcomes = classify_rows_parallel(
            rows, fmt.phone_column, fields, COUNTRY, opted_out, workers=workers
        )
    counts = ImportCounts()
    for outcome in outcomes:
        counts.add(outcome)
    assert counts.balanced
    return counts.as_dict()


def proportional_rss(pid: str, resident_pages: int) -> int:
    """Bytes of memory a process accounts for, shared pages split among their sharers (PSS)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (the fork server and its workers)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        rss[int(entry.name)] = proportional_rss(entry.name, int(fields[21]))
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree) / 2**20


class TreeMemorySampler(threading.Thread):
    """Samples the process tree's resident memory every 100 ms; `peak` is the largest sum."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))


def child(scenario: str, path: Path, workers: int) -> None:
    """One measured run, in its own process; prints one JSON line."""
    sampler = TreeMemorySampler()
    sampler.start()
    started = time.perf_counter()
    if scenario == "baseline":
        result = run_baseline(path)
    else:
        result = run_import(path, workers if scenario == "parallel" else None)
    elapsed = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    tree = max(sampler.peak, own)
    print(json.dumps({"elapsed": elapsed, "own_mb": own, "tree_mb": round(tree), **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--run", nargs=2, metavar=("SCENARIO", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        child(args.run[0], Path(args.run[1]), args.workers)
        return

    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, default country {COUNTRY}")
    with tempfile.TemporaryDirectory() as directory:
        for size in args.sizes:
            path = Path(directory) / f"recipients_{size}.csv"
            started = time.perf_counter()
            generate(path, size)
            megabytes = path.stat().st_size / 1e6
            took = time.perf_counter() - started
            print(f"\n{size:,} rows, {megabytes:.1f} MB (generated in {took:.1f} s)")
            for scenario in args.scenarios:
                command = [sys.executable, __file__, "--workers", str(args.workers)]
                output = subprocess.run(
                    [*command, "--run", scenario, str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                result = json.loads(output.strip().splitlines()[-1])
                rate = result["rows"] / result["elapsed"]
                memory = f"peak {result['own_mb']:4} MB"
                if scenario == "parallel":
                    memory += f", with workers {result['tree_mb']:4} MB"
                detail = {
                    key: value
                    for key, value in result.items()
                    if key not in {"elapsed", "own_mb", "tree_mb", "rows"}
                }
                print(
                    f"  {scenario:9} {result['elapsed']:6.1f} s  {rate:9,.0f} rows/s  {memory}"
                    f"  {detail}"
                )


if __name__ == "__main__":
    main()
