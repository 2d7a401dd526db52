"""The shim's memory (make bench; see BENCHMARKS.md): the peak RSS of
programs with and without the shim, and what the shim added.

Each program runs BENCH_RUNS times per configuration (interleaved, in a
fresh directory that takes the trace); the table gives the median peak RSS
(ru_maxrss of the process, so it counts the trace's mapped pages the
process touched, the side table, stacks and sites, libunwind's caches,
and the watchdog thread's stack if one started). The churn rows are the
test fixture that makes N short-lived handles and requests: the ",fresh"
ones put every handle at an address never used before.

Environment: BUILD, BENCH_RUNS, BENCH_SCALE, BENCH_OUT (appends).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchlib import BUILD, RUNS, SCALE, clean_env, emit



def n(x):
    return str(max(1, int(x * SCALE)))


def programs():
    b = lambda name: os.path.join(BUILD, "bench", name)
    f = lambda name: os.path.join(BUILD, "fixtures", name)
    return [
        ("idle", [b("idle"), n(2e6)]),
        ("timer0", [b("timer0"), n(5e6)]),
        ("tcp_echo", [b("tcp_echo"), n(2e5), "32"]),
        ("async_pummel", [b("async_pummel"), "2", n(5e4)]),
        ("ev_echo", [b("ev_echo"), n(2e6), "32"]),
        ("churn 1000", [f("churn"), "1000"]),
        (f"churn {n(3e5)}", [f("churn"), n(3e5)]),
        ("churn 1000,fresh", [f("churn"), "1000,fresh"]),
        (f"churn {n(3e5)},fresh", [f("churn"), n(3e5) + ",fresh"]),
    ]


def peak_kib(argv, env, extra):
    tmp = tempfile.mkdtemp(prefix="loopsan-bench-mem.")
    try:
        p = subprocess.run([os.path.join(BUILD, "bench", "peakrss")] + extra + argv, env=env, cwd=tmp,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0 or "peakrss_kb=" not in err:
        sys.exit(f"bench memory: {' '.join(argv)} exit {p.returncode}: {err.strip()[-300:]}")
    return int(err.rsplit("peakrss_kb=", 1)[1].split()[0])


def main():
    shim = os.path.join(BUILD, "libloopsan.so")
    base = clean_env()
    rows = []
    for name, argv in programs():
        if not os.access(argv[0], os.X_OK):
            rows.append(f"| {name} | not built | | |")
            continue
        a, b = [], []
        for _ in range(RUNS):
            a.append(peak_kib(argv, base, []))
            b.append(peak_kib(argv, base, [f"LD_PRELOAD={shim}"]))
        ma, mb = statistics.median(a), statistics.median(b)
        rows.append(f"| {name} | {ma / 1024:.1f} | {mb / 1024:.1f} | {(mb - ma) / 1024:+.1f} |")
        print(f"bench: memory {name} done", file=sys.stderr, flush=True)
    lines = ["", f"Peak RSS, median of {RUNS} runs each:", "",
             "| program | baseline MiB | loopsan MiB | added MiB |",
             "| --- | ---: | ---: | ---: |"] + rows
    emit(lines)


if __name__ == "__main__":
    main()
