"""What bench/viewer.py and bench/memory.py share: the settings make bench
passes them (BUILD, BENCH_RUNS, BENCH_SCALE, BENCH_OUT), the environment
without the shim, and writing a table to stdout and to BENCH_OUT."""
import os
import sys

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
RUNS = max(1, int(os.environ.get("BENCH_RUNS", "5")))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
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
