"""What bench/viewer.py, bench/memory.py and bench/instr.py share: the
settings make bench passes them (BUILD, BENCH_RUNS, BENCH_SCALE, BENCH_ONLY,
BENCH_TIMEOUT, BENCH_OUT), the environment without the shim, a snapshot of
the shim, and writing a table to stdout and to BENCH_OUT."""
import os
import shutil
import sys
import tempfile

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
RUNS = max(1, int(os.environ.get("BENCH_RUNS", "5")))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ONLY = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "60"))
OUT = os.environ.get("BENCH_OUT", "")
SCRUB = ("LD_PRELOAD", "LOOPSAN_OPTIONS")


def clean_env():
    """The caller's environment without the shim or its options."""
    return {k: v for k, v in os.environ.items() if k not in SCRUB}


def emit(lines):
    """Prints the lines, and appends them to BENCH_OUT when it is set."""
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if OUT:
        with open(OUT, "a") as f:
            f.write(text)


def snapshot_shim():
    """Copies build/libloopsan.so, which may be rebuilt while the benchmarks
    run, to a temporary directory; returns (directory, the copy's path). The
    caller removes the directory."""
    built = os.path.join(BUILD, "libloopsan.so")
    if not os.path.exists(built):
        sys.exit(f"bench: {built} missing: run make first")
    snapdir = tempfile.mkdtemp(prefix="loopsan-bench-shim.")
    shim = os.path.join(snapdir, "libloopsan.so")
    shutil.copy2(built, shim)
    return snapdir, shim


def fmt_int(x):
    """12 345 678, or - for None."""
    return "-" if x is None else f"{int(x):,}".replace(",", " ")


def last_line(text):
    """The last non-empty line of a program's output, for a failure message."""
    lines = text.strip().splitlines()
    return lines[-1][:300] if lines else ""
