"""The viewer's benchmark (make bench; see BENCHMARKS.md): how fast
`loopsan report` and `loopsan stats` read a large mode=timeline trace, and
how much memory they take.

Makes one timeline trace of about BENCH_VIEWER_MB megabytes (default 1024)
with bench/idle (100 idle handles, 16 bytes per callback), then runs each
command BENCH_RUNS times on it (the first run also brings the trace into
the page cache, so every measured run reads from memory), and prints a
Markdown table: median [min-max] wall time, read rate, and the peak RSS of
the viewer process. The trace is deleted at the end.

Environment: BUILD, BENCH_RUNS, BENCH_VIEWER_MB (times BENCH_SCALE), BENCH_OUT
(appends).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import BUILD, RUNS, SCALE, clean_env, emit

MB = float(os.environ.get("BENCH_VIEWER_MB", "1024")) * SCALE


def timed(argv, env):
    """Runs argv with output discarded; returns (seconds, peak RSS in KiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.perf_counter()
    err = p.stderr.read().decode(errors="replace").strip()
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"bench viewer: {' '.join(argv)} exit {code}: {err[-300:]}")
    return t1 - t0, ru.ru_maxrss


def main():
    viewer = os.path.join(BUILD, "loopsan")
    shim = os.path.join(BUILD, "libloopsan.so")
    idle = os.path.join(BUILD, "bench", "idle")
    for f in (viewer, shim, idle):
        if not os.access(f, os.R_OK):
            sys.exit(f"bench viewer: {f} missing: run make bench")
    env = clean_env()
    tmp = tempfile.mkdtemp(prefix="loopsan-bench-viewer.")
    try:
        callbacks = max(1000, int(MB * 1e6 / 16))
        run_env = dict(env, LD_PRELOAD=shim, LOOPSAN_OPTIONS=f"mode=timeline:dir={tmp}")
        t0 = time.time()
        subprocess.run([idle, str(callbacks), "100"], env=run_env, check=True,
                       stdout=subprocess.DEVNULL)
        traces = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".trace")]
        if len(traces) != 1:
            sys.exit(f"bench viewer: expected one trace in {tmp}, found {traces}")
        trace = traces[0]
        size = os.path.getsize(trace)
        print(f"bench: viewer trace of {size / 1e6:.0f} MB made in {time.time() - t0:.1f} s",
              file=sys.stderr, flush=True)
        rows = []
        for name, argv in (("report", [viewer, "report", trace]),
                           ("report --format json", [viewer, "report", "--format", "json", trace]),
                           ("stats", [viewer, "stats", trace])):
            timed(argv, env)  # page cache, symbol files
            walls, rss = [], []
            for _ in range(RUNS):
                w, r = timed(argv, env)
                walls.append(w)
                rss.append(r)
            med = statistics.median(walls)
            rows.append(f"| loopsan {name} | {size:,} | {med:.3f} [{min(walls):.3f}-{max(walls):.3f}] "
                        f"| {size / med / 1e6:,.0f} | {max(rss) / 1024:.1f} |".replace(",", " "))
            print(f"bench: viewer {name} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    count = f"{callbacks:,}".replace(",", " ")
    lines = ["", f"Viewer on a mode=timeline trace of {count} callbacks "
             f"(bench/idle {callbacks} 100), {RUNS} runs each, trace in the page cache:",
             "",
             "| command | trace bytes | median [min-max] s | MB/s | peak RSS MiB |",
             "| --- | ---: | --- | ---: | ---: |"] + rows
    emit(lines)


if __name__ == "__main__":
    main()
