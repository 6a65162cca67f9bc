#!/usr/bin/env python
"""Run every executable proof in this directory and summarise.

Run: ``python proofs/run_all.py [--dir DIR] [--verbose] [--budget SECONDS]``.

Each ``*.py`` script here other than this one is run with the same interpreter (in its own
process, from the repository root), one after the other.  One summary line per script: its exit
status, its wall and CPU time and the last line it printed (each proof ends with a one-line verdict).  The
full output of a failing script is printed after the summary (all output with ``--verbose``).
A script slower than ``--budget`` seconds (default 60, the proofs' target) is flagged ``slow``
but does not fail the run: wall time depends on the machine.  Exit status 0 when every script
exits 0, else 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(directory: Path = HERE) -> list[Path]:
    """The proof scripts of ``directory`` (sorted), without this runner and private helpers."""
    return sorted(p for p in Path(directory).glob("*.py")
                  if p.name != Path(__file__).name and not p.name.startswith("_"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_script(path: Path, timeout: float | None = None) -> tuple[int, float, float, str]:
    """(exit status, wall seconds, CPU seconds, combined output) of one script."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    cpu = _children_cpu()
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(path)], cwd=str(path.parent.parent), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        code, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code, output = 124, out + f"\n[run_all] timed out after {timeout} s"
    return code, time.perf_counter() - start, _children_cpu() - cpu, output


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=HERE, help="directory of the proof scripts")
    parser.add_argument("--verbose", action="store_true", help="print every script's full output")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per script before it is flagged slow")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a script is killed (fails)")
    args = parser.parse_args(argv)
    scripts = discover(args.dir)
    if not scripts:
        print(f"run_all: no proof scripts in {args.dir}")
        return 1
    results = []
    total = time.perf_counter()
    for path in scripts:
        code, seconds, cpu, output = run_script(path, args.timeout)
        results.append((path, code, seconds, output))
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        slow = " slow" if seconds > args.budget else ""
        print(f"{path.name:<24} {status:<16} {seconds:6.1f} s wall {cpu:6.1f} s cpu{slow}  | {_last_line(output)}",
              flush=True)
    failed = [r for r in results if r[1] != 0]
    for path, code, seconds, output in results:
        if args.verbose or code != 0:
            print(f"\n===== {path.name} (exit {code}, {seconds:.1f} s) =====")
            print(output.rstrip())
    print(f"run_all: {len(results) - len(failed)}/{len(results)} proofs hold "
          f"({time.perf_counter() - total:.1f} s)" + (f"; FAILED: {', '.join(p.name for p, *_ in failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
