"""Peak memory of reading and preparing a large numeric CSV series, as a multiple of its size.

Writes a CSV of one-minute time stamps and one value column (about 200 MB by
default), then, in a fresh process for each stage, measures the high-water
mark of the resident set (Linux ``VmHWM``, reset after the imports) while
``read_series_csv`` and ``prepare_series`` (look_back 12) run. The ratio
``(peak - baseline) / file size`` is the figure docs/guarantees.md promises
(at most 3x for a numeric series). Linux only (``/proc``).

    .venv/bin/python bench/bench_memory.py            # ~200 MB file, a few minutes
    .venv/bin/python bench/bench_memory.py --quick    # ~20 MB: check that it works
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time
def status(key):
    with open("/proc/self/status") as f:
        return [int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":")][0]
from seqstudio.core.data.reading import read_series_csv
from seqstudio.core.data.series import SeriesOptions, prepare_series
base = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark: count the load only
t0 = time.perf_counter()
if sys.argv[2] == "read":
    read_series_csv(sys.argv[1])
else:
    prepare_series(SeriesOptions(path=sys.argv[1], look_back=12))
print(base, status("VmHWM"), time.perf_counter() - t0)
"""


def write_series(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    times = pd.date_range("1900-01-01", periods=rows, freq="min").strftime("%Y-%m-%d %H:%M:%S")
    values = np.round(np.random.default_rng(0).normal(100, 10, rows), 3)
    with open(path, "w", encoding="ascii") as fh:
        fh.write("time,value\n")
        step = 500_000
        for i in range(0, rows, step):
            fh.write("".join(f"{t},{v}\n" for t, v in zip(times[i:i + step], values[i:i + step],
                                                           strict=True)))


def measure(path: Path, stage: str) -> tuple[int, int, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), stage], capture_output=True,
                         text=True, check=True)
    base, peak, seconds = out.stdout.split()
    return int(base), int(peak), float(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 MB file instead of ~200 MB")
    args = parser.parse_args(argv)
    rows = 700_000 if args.quick else 7_000_000
    out_dir = Path(__file__).resolve().parent / "out"
    out_dir.mkdir(exist_ok=True)
    lines = ["# Memory of a large numeric series", "",
             "| stage | file MB | baseline MB | peak MB | extra / file | seconds |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "series.csv"
        write_series(path, rows)
        size = os.path.getsize(path)
        for stage in ("read", "prepare"):
            base, peak, seconds = measure(path, stage)
            lines.append(f"| {stage} | {size / 1e6:.0f} | {base / 1e6:.0f} | {peak / 1e6:.0f} | "
                         f"{(peak - base) / size:.2f}x | {seconds:.1f} |")
    lines += ["", f"measured {time.strftime('%Y-%m-%d %H:%M')}; target: at most 3x the file's size"]
    report = "\n".join(lines) + "\n"
    (out_dir / "memory.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
