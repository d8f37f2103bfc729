#!/usr/bin/env python3
"""Generate the fruit dataset: apples, oranges and bananas described by four measurements.

Deterministic on purpose: the same seed gives the same bytes on every machine and Python 3.8+,
because it only uses the standard library's ``random.Random`` (whose ``gauss`` and ``random``
streams are stable across versions), not numpy's generators. That keeps the demo's metrics
comparable between a laptop, a CI runner and the LXD container the demo trains in, and lets
the tests pin the expected accuracy.

Columns: ``weight_g``, ``hue_deg`` (skin colour on the HSV hue wheel: red ≈ 0, yellow ≈ 55,
green ≈ 100), ``diameter_cm`` (widest cross-section), ``elongation`` (length / diameter) and
``label``. Apples come red or green, so colour alone cannot separate them from oranges and
bananas; a linear classifier gets most, not all, of them right — a realistic-looking report.

Usage: ``python3 make_data.py [--out data] [--seed 7] [--samples 1200] [--test-fraction 0.25]``
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

CLASSES = ("apple", "orange", "banana")
FEATURES = ("weight_g", "hue_deg", "diameter_cm", "elongation")


def _apple(rng: random.Random) -> list[float]:
    hue = rng.gauss(8, 10) if rng.random() < 0.7 else rng.gauss(85, 15)  # red or green
    return [rng.gauss(175, 30), hue, rng.gauss(7.4, 0.8), rng.gauss(1.0, 0.08)]


def _orange(rng: random.Random) -> list[float]:
    return [rng.gauss(190, 35), rng.gauss(32, 9), rng.gauss(7.8, 0.9), rng.gauss(1.02, 0.07)]


def _banana(rng: random.Random) -> list[float]:
    # a few curled or short bananas look round, and green ones have an apple-like hue
    elongation = rng.gauss(4.2, 1.0) if rng.random() < 0.9 else rng.gauss(1.8, 0.4)
    hue = rng.gauss(55, 12) if rng.random() < 0.85 else rng.gauss(90, 10)
    return [rng.gauss(125, 22), hue, rng.gauss(3.6, 0.5), elongation]


MAKERS = {"apple": _apple, "orange": _orange, "banana": _banana}


def generate(seed: int, samples: int) -> list[tuple[list[float], str]]:
    """``samples`` rows, classes in equal proportion, shuffled with the same seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(samples):
        label = CLASSES[i % len(CLASSES)]
        rows.append(([round(v, 3) for v in MAKERS[label](rng)], label))
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list[tuple[list[float], str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*FEATURES, "label"])
        for values, label in rows:
            writer.writerow([*(f"{v:.3f}" for v in values), label])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data"), help="output directory")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--samples", type=int, default=1200)
    parser.add_argument("--test-fraction", type=float, default=0.25)
    args = parser.parse_args()
    if args.samples < 30 or not 0 < args.test_fraction < 1:
        parser.error("need --samples >= 30 and 0 < --test-fraction < 1")
    rows = generate(args.seed, args.samples)
    cut = len(rows) - int(len(rows) * args.test_fraction)
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "train.csv", rows[:cut])
    write(args.out / "test.csv", rows[cut:])
    print(f"wrote {cut} training and {len(rows) - cut} test rows to {args.out}/")


if __name__ == "__main__":
    main()
