"""Time the SMS text engine: analyze on 160/1,600/10,000 characters, and a 100,000-row list.

Run by hand: .venv/bin/python bench/bench_sms.py. Goal on the 2-core machine: analyze under
50 µs for 160 characters. Prints medians; asserts nothing.
"""

import statistics
import timeit

from webapp.sms import analyze, summarise_personalised

LENGTHS = (160, 1_600, 10_000)
SAMPLES = {
    "UCS-2 Cyrillic": "Привет, это сообщение для вас. Скидка 20% сегодня! ",
    "GSM plain": "Hello Ann, our spring sale starts today: 20% off everything in store. ",
    "GSM with extension chars": "Save €5 on [selected] items {today} only ~ see www.example.dk/x ",
    "UCS-2 with emoji": "Tilbud “i dag” – 20 % på alt 😀 se mere på vores side ",
}
TEMPLATE = "Hi %first_name%, your code is %code%. Valid until Sunday - see you at %city%!"
FIRST_NAMES = ["Ann", "Karen", "Peter", "Søren", "Åse", "Zoë", "Mikkel", "Ida", "Jürgen", "Li"]
CITIES = ["Vejle", "Herning", "Århus", "Køge", "Odense"]


def median_microseconds(function, number):
    runs = timeit.repeat(function, number=number, repeat=15)
    return statistics.median(runs) / number * 1e6


def bench_analyze():
    print("analyze(text): median µs per call")
    for label, sample in SAMPLES.items():
        for length in LENGTHS:
            text = (sample * (length // len(sample) + 1))[:length]
            analysis = analyze(text)
            number = 20_000 if length <= 160 else 2_000
            micros = median_microseconds(lambda text=text: analyze(text), number)
            print(
                f"  {label:<26} {length:>6} chars: {micros:8.2f} µs"
                f"  ({analysis.encoding}, {analysis.segments} segments)"
            )


def rows(count):
    for number in range(count):
        yield {
            "first_name": FIRST_NAMES[number % len(FIRST_NAMES)],
            "code": f"X{number:06d}",
            "city": CITIES[number % len(CITIES)],
        }


def bench_summary(count=100_000):
    print(f"summarise_personalised over {count:,} rows (every text distinct, 1 in 10 UCS-2)")
    runs = timeit.repeat(lambda: summarise_personalised(TEMPLATE, rows(count)), number=1, repeat=5)
    seconds = statistics.median(runs)
    summary = summarise_personalised(TEMPLATE, rows(count))
    print(
        f"  median {seconds * 1000:.0f} ms, {seconds / count * 1e6:.2f} µs per row"
        f"  ({summary.total_segments:,} segments, {summary.ucs2_recipients:,} UCS-2)"
    )


if __name__ == "__main__":
    bench_analyze()
    bench_summary()
