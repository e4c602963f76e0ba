"""How fast the commands that need no model answer, and how fast the window opens.

Each command runs as a fresh process, interleaved round by round with a bare
``python -c pass`` (the interpreter's own start, the floor), wall-clock and CPU
seconds (user + system of the child) measured side by side; medians over the
rounds. ``layers list`` / ``datasets list`` run on a warm plugin catalog (one
untimed call first) and once more per round on a cold one (the cache folder
emptied), which loads every plugin and imports torch. The window is timed by
``seqstudio --startup-time`` itself (seconds from process start to the window
shown, usable, and the training engine loaded behind it; the CPU seconds of the
process up to the window shown), offscreen, with compiled bytecode as an
installed seqstudio has it.

    python bench/bench_startup.py            # about a minute on an idle machine
    python bench/bench_startup.py --rounds 3

Writes ``bench/out/bench_startup.md`` and prints it. CPU seconds say what a
command costs; wall seconds also include waiting for a core, which on a
shared machine is most of it.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEQSTUDIO = [sys.executable, "-m", "seqstudio.cli"]

COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "seqstudio --version": [*SEQSTUDIO, "--version"],
    "seqstudio --help": [*SEQSTUDIO, "--help"],
    "seqstudio presets list": [*SEQSTUDIO, "presets", "list"],
    "seqstudio datasets list (warm)": [*SEQSTUDIO, "datasets", "list"],
    "seqstudio layers list (warm)": [*SEQSTUDIO, "layers", "list"],
    "seqstudio layers list (cold cache)": [*SEQSTUDIO, "layers", "list"],
}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-500:]}")
    return wall, cpu, out.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-window", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "bench_startup.md")
    args = parser.parse_args(argv)
    rows: dict[str, list[tuple[float, float]]] = {}
    window: list[tuple[float, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        env = {**os.environ, "SEQSTUDIO_CACHE_DIR": str(cache), "QT_QPA_PLATFORM": "offscreen",
               "SEQSTUDIO_CONFIG_DIR": str(Path(tmp) / "config")}
        # An installed seqstudio has its bytecode compiled (pip does it); a checkout run with
        # PYTHONDONTWRITEBYTECODE=1 would compile ~80 modules on every start instead.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "seqstudio", "plugins"], cwd=REPO,
                       env=env, capture_output=True, check=False)
        timed(COMMANDS["seqstudio layers list (warm)"], env)  # warm the catalog
        for r in range(args.rounds):
            names = list(COMMANDS)
            names = names[r % len(names):] + names[:r % len(names)]
            for name in names:
                if name.endswith("(cold cache)"):
                    shutil.rmtree(cache, ignore_errors=True)
                wall, cpu, _ = timed(COMMANDS[name], env)
                rows.setdefault(name, []).append((wall, cpu))
            if not args.no_window:
                wall, cpu, err = timed([*SEQSTUDIO, "--startup-time"], env)
                found = re.search(r"splash ([\d.]+) s, window shown ([\d.]+) s, usable ([\d.]+) s, "
                                  r"training engine ready ([\d.]+) s.*CPU ([\d.]+) s to shown", err)
                if found:
                    window.append(tuple(float(g) for g in found.groups()))
            print(f"round {r + 1} done, load {os.getloadavg()[0]:.1f}", flush=True)
    lines = [f"# bench_startup ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
             f"{args.rounds} rounds, load average at the end {os.getloadavg()[0]:.1f})", "",
             "| command | wall s (median) | CPU s (median) | wall min..max |", "| --- | ---: | ---: | ---: |"]
    for name, values in rows.items():
        walls, cpus = [v[0] for v in values], [v[1] for v in values]
        lines.append(f"| {name} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
                     f"{min(walls):.2f}..{max(walls):.2f} |")
    if window:
        cpu_shown = statistics.median(w[4] for w in window)
        for i, what in enumerate(("splash painted", "window shown", "window usable (data + layers)",
                                  "training engine ready (Train enabled)")):
            values = [w[i] for w in window]
            cpu = f"{cpu_shown:.2f}" if i == 1 else "-"
            lines.append(f"| `seqstudio --startup-time`: {what} | {statistics.median(values):.2f} | {cpu} | "
                         f"{min(values):.2f}..{max(values):.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
