"""Is phonenumbers' public API fast enough to replace the hand-written type lookup in phones.py?

webapp/sms/phones.py types the national number of a clean cell with `_TypeMatcher` (built on
`PhoneMetadata` internals, patterns compiled once) from `_fast_result`. This script measures
what replacing it with the public `phonenumbers.number_type` would cost:

1. per call: `_type_matcher(cc, region).number_type(nsn)` vs
   `phonenumbers.number_type(PhoneNumber(country_code=cc, national_number=int(nsn)))` over a
   mix of Danish, Swedish, German, UK and US numbers (mobiles, landlines, some invalid), with
   the number of inputs on which the two disagree. Also timed: the public call with
   `phonenumbers.enable_pattern_cache()` switched on (public API of the installed version;
   the bench switches it off again through `phonenumbers.re_util._COMPILED_PATTERNS`);
2. end to end: `normalise_msisdn` cells per second over a recipient-file-like mix of mostly
   distinct cells, today's code vs `_type_matcher` monkeypatched (in this process only) to a
   thin wrapper around `phonenumbers.number_type`, without and with the pattern cache. Every
   functools cache in phones.py (including the LRU cache of normalised cells) is cleared
   before each run; the PhoneResults of the variants are compared on a sample of cells;
3. the phonenumbers version.

Each measurement is repeated (default 3 times, variants interleaved); best and median are
printed. Prints figures only, asserts nothing. To keep the whole run inside --budget seconds
on a slow or busy machine, the end-to-end cell count is cut (and the cut printed) when a
calibration run says the requested count would not fit; throughput does not depend on the
count as long as it is far above phones.py's LRU cache size.

    PYTHONPATH=. .venv/bin/python bench/bench_phone_types.py [--numbers 200000]
        [--cells 1000000] [--repeat 3] [--budget 150] [--seed 1]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phonenumbers  # noqa: E402
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumber, PhoneNumberType  # noqa: E402
from phonenumbers import re_util as _re_util  # noqa: E402

from webapp.sms import phones  # noqa: E402

COUNTRY = "DK"
VERIFY_CELLS = 50_000
MIN_CELLS = 50_000

_TYPE_NAMES = {
    value: name for name, value in vars(PhoneNumberType).items() if isinstance(value, int)
}
_PATTERN_CACHE: dict[str, object] = {}


def _pattern_cache(on: bool) -> None:
    """phonenumbers.enable_pattern_cache(), and its (non-public) undo for the bench's sake."""
    if on:
        _re_util._COMPILED_PATTERNS = _PATTERN_CACHE
        phonenumbers.enable_pattern_cache()
    else:
        _re_util._COMPILED_PATTERNS = None


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


def _best_median(times: list[float]) -> tuple[float, float]:
    return min(times), statistics.median(times)


# --- 1. per-call type lookup ---------------------------------------------------------------

# (label, country code, region, weight, national significant number generator); region is the
# one _fast_result passes (COUNTRY_CODE_TO_REGION_CODE[cc][0]).
_NSN_GROUPS: list[tuple[str, int, str, float, Callable[[random.Random], str]]] = [
    # Danish numbers are 8 digits; every 2x-9x range, mobiles and landlines alike.
    ("DK 2x-9x", 45, "DK", 0.62, lambda r: r.choice("23456789") + _digits(r, 7)),
    ("DK invalid", 45, "DK", 0.03, lambda r: r.choice(["1" + _digits(r, 7), "2" + _digits(r, 6)])),
    ("SE mobile", 46, "SE", 0.05, lambda r: "7" + r.choice("02369") + _digits(r, 7)),
    (
        "SE landline",
        46,
        "SE",
        0.03,
        lambda r: r.choice(["8" + _digits(r, 7), "31" + _digits(r, 6)]),
    ),
    (
        "DE mobile",
        49,
        "DE",
        0.05,
        lambda r: r.choice(["151", "160", "170", "176"]) + _digits(r, 8 if r.random() < 0.5 else 7),
    ),
    ("DE landline", 49, "DE", 0.03, lambda r: r.choice(["30", "89"]) + _digits(r, 8)),
    ("UK mobile", 44, "GB", 0.04, lambda r: "7" + r.choice("45789") + _digits(r, 8)),
    (
        "UK landline",
        44,
        "GB",
        0.02,
        lambda r: r.choice(["20" + _digits(r, 8), "161" + _digits(r, 7)]),
    ),
    (
        "US",
        1,
        "US",
        0.05,
        lambda r: r.choice(["212", "415", "312"]) + r.choice("23456789") + _digits(r, 6),
    ),
    (
        "DK bad length",
        45,
        "DK",
        0.03,
        lambda r: r.choice("23456789") + _digits(r, r.choice([3, 5, 9, 11])),
    ),
    ("SE/DE/UK other", 0, "", 0.05, lambda r: r.choice("123456789") + _digits(r, 8)),
]


def make_numbers(count: int, rng: random.Random) -> list[tuple[str, int, str, str]]:
    """(group label, cc, region, nsn) tuples; the "other" group picks SE, DE or GB at random."""
    weights = [group[3] for group in _NSN_GROUPS]
    out = []
    for label, cc, region, _, make in rng.choices(_NSN_GROUPS, weights, k=count):
        if cc == 0:
            cc, region = rng.choice([(46, "SE"), (49, "DE"), (44, "GB")])
        out.append((label, cc, region, make(rng)))
    return out


def _fit_numbers(numbers: list[tuple[str, int, str, str]], repeat: int, deadline: float) -> int:
    """How many numbers the per-call section can time by deadline (a calibration on 5,000)."""
    sample = numbers[:5_000]
    start = time.perf_counter()
    for _, cc, region, nsn in sample:
        phones._type_matcher(cc, region).number_type(nsn)
        number = PhoneNumber(country_code=cc, national_number=int(nsn))
        phonenumbers.number_type(number)
        phonenumbers.number_type(number)
    # matcher + public + prebuilt, and the pattern-cached run at roughly half a public one
    per_number = (time.perf_counter() - start) / len(sample) * 1.2
    fits = int((deadline - time.perf_counter()) / (per_number * (repeat + 1) * 2))
    return max(min(len(numbers), fits), min(20_000, len(numbers)))


def bench_per_call(requested: int, repeat: int, deadline: float, rng: random.Random) -> None:
    numbers = make_numbers(requested, rng)
    count = requested
    if deadline < float("inf"):
        count = _fit_numbers(numbers, repeat, deadline)
        if count < requested:
            print(
                f"\n(calibration: {requested:,} numbers x {repeat} would not fit this"
                f" section's share of the budget, timing the first {count:,} instead)"
            )
            numbers = numbers[:count]
    inputs = [(cc, region, nsn) for _, cc, region, nsn in numbers]
    prebuilt = [PhoneNumber(country_code=cc, national_number=int(nsn)) for cc, _, nsn in inputs]
    type_matcher = phones._type_matcher
    number_type = phonenumbers.number_type

    def run_matcher() -> None:
        for cc, region, nsn in inputs:
            type_matcher(cc, region).number_type(nsn)

    def run_public() -> None:
        for cc, _, nsn in inputs:
            number_type(PhoneNumber(country_code=cc, national_number=int(nsn)))

    def run_public_prebuilt() -> None:
        for number in prebuilt:
            number_type(number)

    def run_empty() -> None:
        for _cc, _region, _nsn in inputs:
            pass

    # Agreement, split by whether _fast_result would ever hand the number to the matcher: it
    # does so only for country codes with one region (+45, +46, +49); for shared ones (+1, +44)
    # it calls phonenumbers, because which region (GB, GG, JE, IM; US, CA, ...) takes its rules.
    _pattern_cache(False)
    disagreements: Counter[str] = Counter()
    examples: list[str] = []
    types: Counter[str] = Counter()
    for (label, cc, region, nsn), number in zip(numbers, prebuilt, strict=True):
        mine = type_matcher(cc, region).number_type(nsn)
        theirs = number_type(number)
        types[_TYPE_NAMES.get(theirs, str(theirs))] += 1
        if mine != theirs:
            shared = len(COUNTRY_CODE_TO_REGION_CODE[cc]) > 1
            disagreements["shared" if shared else "single"] += 1
            if len(examples) < 3 or (not shared and len(examples) < 6):
                examples.append(
                    f"{label} +{cc} {nsn} (matcher for {region}):"
                    f" matcher {_TYPE_NAMES.get(mine, mine)},"
                    f" phonenumbers {_TYPE_NAMES.get(theirs, theirs)}"
                    f" (number is {phonenumbers.region_code_for_number(number)})"
                )

    variants: dict[str, tuple[Callable[[], None], bool]] = {
        "_type_matcher(cc, region).number_type(nsn)": (run_matcher, False),
        "phonenumbers.number_type(PhoneNumber(cc, int(nsn)))": (run_public, False),
        "  same, prebuilt PhoneNumber (no construction)": (run_public_prebuilt, False),
        "  same as public, with enable_pattern_cache()": (run_public, True),
        "  (empty loop over the same inputs)": (run_empty, False),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, (run, cached) in variants.items():
            _pattern_cache(cached)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    _pattern_cache(False)

    print(f"\n== 1. Per-call type lookup, {count:,} numbers, best / median of {repeat} ==")
    group_counts = Counter(label for label, *_ in numbers)
    print("input mix: " + ", ".join(f"{label} {n:,}" for label, n in group_counts.most_common()))
    print("types (phonenumbers): " + ", ".join(f"{t} {n:,}" for t, n in types.most_common()))
    print(f"{'variant':<54} {'best µs/call':>13} {'median µs/call':>15}")
    for name, values in times.items():
        best, median = _best_median(values)
        print(f"{name:<54} {best / count * 1e6:>13.3f} {median / count * 1e6:>15.3f}")
    matcher = min(times["_type_matcher(cc, region).number_type(nsn)"])
    public = min(times["phonenumbers.number_type(PhoneNumber(cc, int(nsn)))"])
    cached = min(times["  same as public, with enable_pattern_cache()"])
    print(
        f"public / matcher (best): {public / matcher:.1f}x;"
        f" with pattern cache: {cached / matcher:.1f}x"
    )
    single = sum(1 for _, cc, _, _ in numbers if len(COUNTRY_CODE_TO_REGION_CODE[cc]) == 1)
    print(
        f"disagreements: {sum(disagreements.values()):,} of {count:,}:"
        f" {disagreements['single']:,} of {single:,} with a single-region country code"
        f" (+45/+46/+49, what _fast_result uses the matcher for),"
        f" {disagreements['shared']:,} of {count - single:,} with a shared one (+1/+44,"
        " which _fast_result sends to phonenumbers instead)"
    )
    for example in examples:
        print(f"  e.g. {example}")


# --- 2. normalise_msisdn end to end --------------------------------------------------------


def _dk(rng: random.Random) -> str:
    return rng.choice("23456789") + _digits(rng, 7)


def _spaced(nsn: str) -> str:
    return " ".join(nsn[i : i + 2] for i in range(0, len(nsn), 2))


_JUNK = [
    "",
    "  ",
    "n/a",
    "-",
    "ring mig",
    "4.52E+09",
    "4,52012E+09",
    "12",
    "tlf. 20123456",
    "20123456 ext 12",
    "+45",
    "0000",
    "#N/A",
    "abc@example.com",
]

# (format label, weight, cell generator)
_CELL_FORMATS: list[tuple[str, float, Callable[[random.Random], str]]] = [
    ("DK '20 12 34 56'", 0.24, lambda r: _spaced(_dk(r))),
    ("DK '20123456'", 0.18, _dk),
    ("DK '+45 20123456'", 0.16, lambda r: "+45 " + _dk(r)),
    ("DK '004520123456'", 0.08, lambda r: "0045" + _dk(r)),
    ("DK '4520123456.0'", 0.06, lambda r: "45" + _dk(r) + ".0"),
    ("DK '4520123456'", 0.04, lambda r: "45" + _dk(r)),
    ("DK '(+45) 20.12.34.56'", 0.03, lambda r: "(+45) " + _spaced(_dk(r)).replace(" ", ".")),
    (
        "SE '+46 70 123 45 67'",
        0.04,
        lambda r: (
            "+46 7"
            + r.choice("0236")
            + " "
            + _digits(r, 3)
            + " "
            + _digits(r, 2)
            + " "
            + _digits(r, 2)
        ),
    ),
    (
        "DE '+49 151 23456789'",
        0.03,
        lambda r: "+49 1" + r.choice(["51", "60", "70", "76"]) + " " + _digits(r, 8),
    ),
    (
        "UK '+44 7400 123456'",
        0.03,
        lambda r: "+44 7" + r.choice("45789") + _digits(r, 2) + " " + _digits(r, 6),
    ),
    (
        "UK/DE landline",
        0.02,
        lambda r: r.choice(["+44 20 " + _digits(r, 8), "+49 30 " + _digits(r, 8)]),
    ),
    (
        "US '+1 212-555-0123'",
        0.03,
        lambda r: (
            "+1 "
            + r.choice(["212", "415", "312"])
            + "-"
            + r.choice("23456789")
            + _digits(r, 2)
            + "-"
            + _digits(r, 4)
        ),
    ),
    ("junk", 0.03, lambda r: r.choice(_JUNK)),
    (
        "invalid digits",
        0.03,
        lambda r: r.choice(["1" + _digits(r, 7), _digits(r, 5), "+45 " + _digits(r, 6)]),
    ),
]


def make_cells(count: int, rng: random.Random) -> tuple[list[str], Counter[str]]:
    """Mostly distinct cells; about 3 % repeat an earlier cell (the same recipient twice)."""
    weights = [fmt[1] for fmt in _CELL_FORMATS]
    cells: list[str] = []
    labels: Counter[str] = Counter()
    for label, _, make in rng.choices(_CELL_FORMATS, weights, k=count):
        if cells and rng.random() < 0.03:
            cells.append(cells[rng.randrange(len(cells))])
            labels["repeat"] += 1
        else:
            cells.append(make(rng))
            labels[label] += 1
    return cells, labels


class _PublicMatcher:
    """Stands in for _TypeMatcher: the same number_type(nsn), via the public phonenumbers API."""

    __slots__ = ("_country_code",)

    def __init__(self, country_code: int) -> None:
        self._country_code = country_code

    def number_type(self, nsn: str) -> int:
        return phonenumbers.number_type(
            PhoneNumber(country_code=self._country_code, national_number=int(nsn))
        )


@functools.cache
def _public_type_matcher(country_code: int, region: str) -> _PublicMatcher:
    return _PublicMatcher(country_code)


_ORIGINAL_TYPE_MATCHER = phones._type_matcher
_VARIANTS = {
    "today": ("today (_TypeMatcher)", _ORIGINAL_TYPE_MATCHER, False),
    "public": ("phonenumbers.number_type", _public_type_matcher, False),
    "today_cached": ("today + pattern cache", _ORIGINAL_TYPE_MATCHER, True),
    "cached": ("phonenumbers.number_type + pattern cache", _public_type_matcher, True),
}


def _use(variant: str) -> None:
    """Install a variant's _type_matcher and clear every functools cache in phones.py."""
    _, type_matcher, pattern_cache = _VARIANTS[variant]
    phones._type_matcher = type_matcher
    _pattern_cache(pattern_cache)
    for value in [*vars(phones).values(), _ORIGINAL_TYPE_MATCHER, _public_type_matcher]:
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()


def _run(cells: list[str], variant: str) -> float:
    normalise = phones.normalise_msisdn
    _use(variant)
    start = time.perf_counter()
    for cell in cells:
        normalise(cell, COUNTRY)
    return time.perf_counter() - start


def bench_end_to_end(requested: int, repeat: int, deadline: float, rng: random.Random) -> None:
    cells, labels = make_cells(requested, rng)

    # Calibrate (and warm up) on a slice, then cut the count if the runs would not fit.
    sample = cells[:10_000]
    per_cell = sum(_run(sample, variant) for variant in _VARIANTS) / len(sample)
    verify = min(VERIFY_CELLS, len(cells))
    verify_cost = per_cell * verify * 0.6  # two variants of the four, with some slack
    # x2: on a shared machine the load can double between the calibration and the runs
    fits = int((deadline - time.perf_counter() - verify_cost) / (per_cell * repeat * 2))
    count = max(min(requested, fits), min(MIN_CELLS, requested))
    if count < requested:
        cells = cells[:count]
        print(
            f"\n(calibration: {per_cell * 1e6 / len(_VARIANTS):.1f} µs/cell per variant;"
            f" {requested:,} cells x {len(_VARIANTS)} variants x {repeat} would not fit the"
            f" budget, timing the first {count:,} cells instead)"
        )
    distinct = len(set(cells))

    # How many cells reach the type lookup, and do the variants give the same results?
    calls = 0
    original_number_type = phones._TypeMatcher.number_type

    def counting_number_type(self: phones._TypeMatcher, nsn: str) -> int:
        nonlocal calls
        calls += 1
        return original_number_type(self, nsn)

    normalise = phones.normalise_msisdn
    _use("today")
    phones._TypeMatcher.number_type = counting_number_type  # type: ignore[method-assign]
    try:
        today = [normalise(cell, COUNTRY) for cell in cells[:verify]]
    finally:
        phones._TypeMatcher.number_type = original_number_type  # type: ignore[method-assign]
    _use("public")
    differing = sum(
        1 for cell, mine in zip(cells, today, strict=False) if normalise(cell, COUNTRY) != mine
    )
    valid = sum(1 for result in today if result.is_valid)
    landline = sum(1 for result in today if result.landline)

    times: dict[str, list[float]] = {variant: [] for variant in _VARIANTS}
    rounds = 0
    for _ in range(repeat):
        for variant in _VARIANTS:
            times[variant].append(_run(cells, variant))
        rounds += 1
        if time.perf_counter() > deadline:
            break  # the machine got slower than calibrated: report the rounds done
    _use("today")
    _pattern_cache(False)

    print(
        f"\n== 2. normalise_msisdn end to end, {count:,} cells, default {COUNTRY},"
        f" best / median of {rounds} =="
    )
    if rounds < repeat:
        print(f"(stopped after {rounds} of {repeat} rounds: past the time budget)")
    print(
        f"cell mix (of the {requested:,} generated): "
        + ", ".join(f"{k} {n:,}" for k, n in labels.most_common())
    )
    print(
        f"distinct cells: {distinct:,} ({distinct / count:.1%}); phones.py LRU cache"
        f" {phones._CACHE_SIZE:,} cells"
    )
    print(
        f"in the first {verify:,} cells: valid {valid:,}, landline {landline:,},"
        f" reaching _TypeMatcher.number_type {calls:,} ({calls / verify:.1%});"
        f" PhoneResult differs with phonenumbers.number_type: {differing:,}"
    )
    print(f"{'variant':<44} {'best cells/s':>13} {'median cells/s':>15} {'best µs/cell':>13}")
    for variant, (name, _, _) in _VARIANTS.items():
        best, median = _best_median(times[variant])
        print(
            f"{name:<44} {count / best:>13,.0f} {count / median:>15,.0f}"
            f" {best / count * 1e6:>13.2f}"
        )
    for variant, baseline in (("public", "today"), ("cached", "today_cached")):
        best, base = min(times[variant]), min(times[baseline])
        print(
            f"{_VARIANTS[variant][0]} vs {_VARIANTS[baseline][0]} (best):"
            f" {best / base:.2f}x time, {(best - base) / count * 1e6:+.2f} µs/cell"
            " (the same figure in s per 1,000,000 cells)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=200_000)
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"phonenumbers {phonenumbers.__version__}; Python {platform.python_version()}"
        f" ({platform.python_implementation()}) on {platform.machine()},"
        f" {os.cpu_count()} CPUs, load average {load}"
    )
    rng = random.Random(args.seed)
    bench_per_call(args.numbers, args.repeat, started + args.budget * 0.3, rng)
    bench_end_to_end(args.cells, args.repeat, started + args.budget, rng)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ntotal bench time: {time.perf_counter() - started:.1f} s (load average {load})")


if __name__ == "__main__":
    main()
