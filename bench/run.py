"""loopsan benchmark runner (make bench; see BENCHMARKS.md).

Runs every benchmark program with and without the shim, interleaved, in a
fresh temporary directory per run (the trace goes there, is measured, and is
deleted), and prints a Markdown table of medians, min-max and ratios.

Environment: BUILD, BENCH_RUNS, BENCH_ONLY, BENCH_SCALE, BENCH_TIMEOUT,
BENCH_OUT (see bench/run.sh).
"""
import datetime
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import snapshot_shim

ROOT = os.getcwd()
BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
RUNS = max(1, int(os.environ.get("BENCH_RUNS", "5")))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "60"))
ONLY = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
OUT = os.environ.get("BENCH_OUT", "")
BIN = os.path.join(BUILD, "bench")
PYTHON = "/usr/bin/python3"  # Debian's: it has python3-uvloop
PY_SCRIPT = os.path.join(ROOT, "bench", "py_asyncio.py")

# Variables that must not leak from the caller into any run.
SCRUB = ("LD_PRELOAD", "LOOPSAN_OPTIONS", "PYTHONASYNCIODEBUG", "PYTHONDEVMODE")

notes = []
trouble = []  # failed runs and changed behaviour: make bench fails
START_DATE = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
LOAD_START = os.getloadavg()[0]  # other work on this 2-core machine skews the numbers


def n(x):
    return str(max(1, int(x * SCALE)))


class Config:
    def __init__(self, label, env=None, prefix=None, ref=None, shim=False):
        self.label = label
        self.env = env or {}
        self.prefix = prefix or []
        self.ref = ref
        self.shim = shim


class Bench:
    def __init__(self, name, argv, configs, what, deterministic=True):
        self.name = name
        self.argv = argv
        self.configs = configs
        self.what = what
        self.deterministic = deterministic


def shim_configs(shim):
    return [
        Config("baseline"),
        Config("loopsan", {"LD_PRELOAD": shim}, ref="baseline", shim=True),
        Config("loopsan stacks=0", {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "stacks=0"},
               ref="baseline", shim=True),
        Config("loopsan mode=timeline", {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "mode=timeline"},
               ref="baseline", shim=True),
    ]


def libevent_configs(shim):
    return shim_configs(shim)


def benchmarks(shim):
    uv = shim_configs(shim)
    ev = libevent_configs(shim)
    b = lambda p: os.path.join(BIN, p)
    # The registration benchmarks also without the per-call-site stack
    # cache: every registration unwinds.
    reg = uv + [Config("loopsan stack_cache=0",
                       {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "stack_cache=0"},
                       ref="baseline", shim=True)]
    out = [
        Bench("timer0", [b("timer0"), n(2e7)], uv,
              "zero-delay timer re-armed in its callback (1 callback + 1 uv_timer_start each)"),
        Bench("idle", [b("idle"), n(2e6)], uv, "idle callback counting to N (one epoll_wait per callback)"),
        Bench("idle100", [b("idle"), n(2e7), "100"], uv,
              "100 idle handles counting to N together (one epoll_wait per 100 callbacks)"),
        Bench("async_pummel", [b("async_pummel"), "2", n(5e4)], uv,
              "2 threads x N uv_async_send, each waits for the callback", deterministic=False),
        Bench("tcp_pingpong", [b("tcp_pingpong"), n(5e4), "1"], uv,
              "1-byte ping-pong over 127.0.0.1, N round trips"),
        Bench("tcp_pingpong64", [b("tcp_pingpong"), n(5e4), "64"], uv,
              "64-byte ping-pong over 127.0.0.1, N round trips"),
        Bench("tcp_echo", [b("tcp_echo"), n(1e6), "32"], uv,
              "N uv_write of 32 bytes to an echo server, read back", deterministic=False),
        Bench("regstack", [b("regstack"), n(5e6)], reg,
              "uv_timer_start+uv_timer_stop N times, one call site (no loop run)"),
        Bench("regstack_sites", [b("regstack"), n(5e6), "sites"], reg,
              "uv_timer_start+uv_timer_stop N times over 1000 call sites"),
        Bench("regstack_fp", [b("regstack_fp"), n(5e6)], reg,
              "regstack built with frame pointers (one call site)"),
        # The watchdog (stuck_at) against none: it should cost nothing
        # measurable when no callback is slow.
        Bench("idle_watchdog", [b("idle"), n(2e6)], [
            Config("baseline"),
            Config("loopsan watchdog=0", {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "watchdog=0"},
                   ref="baseline", shim=True),
            Config("loopsan (watchdog on)", {"LD_PRELOAD": shim}, ref="loopsan watchdog=0",
                   shim=True),
        ], "idle (above), the default watchdog against watchdog=0"),
        Bench("tcp_pingpong_watchdog", [b("tcp_pingpong"), n(5e4), "1"], [
            Config("baseline"),
            Config("loopsan watchdog=0", {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "watchdog=0"},
                   ref="baseline", shim=True),
            Config("loopsan (watchdog on)", {"LD_PRELOAD": shim}, ref="loopsan watchdog=0",
                   shim=True),
        ], "tcp_pingpong (above), the default watchdog against watchdog=0"),
        Bench("epoll_echo", [b("epoll_echo"), n(2e5)], uv,
              "hand-written epoll loop, 1-byte echo over a socketpair, N round trips "
              "(selector layer only; callbacks = loop iterations)"),
        Bench("ev_timer0", [b("ev_timer0"), n(2e6)], ev,
              "libevent: zero-timeout evtimer re-added in its callback"),
        Bench("ev_active", [b("ev_active"), "2", n(5e4)], ev,
              "libevent: 2 threads x N event_active, each waits for the callback",
              deterministic=False),
        Bench("ev_echo", [b("ev_echo"), n(2e6), "32"], ev,
              "libevent: N bufferevent writes of 32 bytes echoed over a socketpair",
              deterministic=False),
    ]
    # Alternatives (issue 7, "How to show it").
    small = n(2e4)
    alt = [Config("baseline"), Config("loopsan", {"LD_PRELOAD": shim}, ref="baseline", shim=True)]
    ltrace = shutil.which("ltrace")
    if ltrace:
        alt.append(Config("ltrace -e uv_timer_start+uv_run",
                          prefix=[ltrace, "-e", "uv_timer_start+uv_run", "-o", "ltrace.out"],
                          ref="baseline"))
    else:
        notes.append("ltrace is not installed (apt-get install ltrace): its column is skipped.")
    out.append(Bench("timer0_small", [b("timer0"), small], alt,
                     "timer0 with small N, next to ltrace"))
    if os.access(PYTHON, os.X_OK):
        have_uvloop = subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0
        if not have_uvloop:
            notes.append(f"{PYTHON} has no uvloop (apt-get install python3-uvloop): uvloop rows skipped.")
        # Issue 16's shapes, each on both loops: plain, with the shim (its
        # default options) and in asyncio's debug mode (PYTHONASYNCIODEBUG=1,
        # which uvloop's loop reads too), every ratio against the plain run
        # of the same loop in the same rounds.
        for kind, size, what in (
                ("tasks", n(200), "1000 tasks x N `await asyncio.sleep(0)`; callbacks = task steps"),
                ("soon", n(1e5), "call_soon chain of N callbacks"),
                ("echo", n(1e4), "1-byte echo over 127.0.0.1, N round trips")):
            cfgs = []
            for flavour in ("asyncio", "uvloop") if have_uvloop else ("asyncio",):
                argv = [PYTHON, PY_SCRIPT, kind, flavour, size]
                cfgs += [
                    Config(flavour, prefix=argv),
                    Config(flavour + " + loopsan", {"LD_PRELOAD": shim}, prefix=argv,
                           ref=flavour, shim=True),
                    Config(flavour + " PYTHONASYNCIODEBUG=1", {"PYTHONASYNCIODEBUG": "1"},
                           prefix=argv, ref=flavour),
                ]
            out.append(Bench("py_" + kind, [], cfgs, "Python: " + what,
                             deterministic=True))
    else:
        notes.append(f"{PYTHON} not found: Python asyncio/uvloop rows skipped.")
    return out


def wanted(name):
    """BENCH_ONLY unset, or naming this benchmark; BENCH_ONLY=py names
    every Python row (py_tasks, py_soon, py_echo)."""
    return not ONLY or name in ONLY or ("py" in ONLY and name.startswith("py_"))


def command(bench, cfg):
    return cfg.prefix + bench.argv


SHIM_SHOWN = {}  # snapshot path -> the built shim's path, for the notes


def show_command(bench, cfg):
    env = " ".join(f"{k}={shlex.quote(SHIM_SHOWN.get(v, v))}" for k, v in cfg.env.items())
    cmd = " ".join(shlex.quote(a) for a in command(bench, cfg))
    return f"cd \"$(mktemp -d)\" && {env + ' ' if env else ''}{cmd}"


class Result:
    def __init__(self):
        self.wall, self.cpu, self.trace, self.callbacks = [], [], [], []
        self.by_round = {}  # round -> wall time, for ratios of runs made side by side
        self.failures = []
        self.stderr = set()


def run_once(bench, cfg, res, base_env, rnd):
    env = dict(base_env)
    env.update(cfg.env)
    tmp = tempfile.mkdtemp(prefix="loopsan-bench.")
    try:
        killed = []
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.Popen(command(bench, cfg), env=env, cwd=tmp,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        timer = threading.Timer(TIMEOUT, lambda: (killed.append(1), p.kill()))
        timer.start()
        out, err = p.communicate()
        t1 = time.perf_counter()
        timer.cancel()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        size = 0
        for f in os.listdir(tmp):
            size += os.path.getsize(os.path.join(tmp, f))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode != 0 or killed:
        if killed:
            why = f"timed out after {TIMEOUT:g} s"
        elif p.returncode < 0:
            why = f"killed by signal {-p.returncode}"
        else:
            why = f"exit status {p.returncode}"
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        res.failures.append(f"{why}: {last[0]}")
        return
    cbs = None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("callbacks="):
            cbs = int(line.split("=", 1)[1])
    res.wall.append(t1 - t0)
    res.by_round[rnd] = t1 - t0
    res.cpu.append((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime))
    res.trace.append(size)
    res.callbacks.append(cbs)
    if cfg.shim:
        for line in err.decode(errors="replace").splitlines():
            if line.startswith("loopsan"):
                res.stderr.add(line[:200])


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_time(xs):
    if not xs:
        return "-"
    return f"{med(xs):.3f} [{min(xs):.3f}-{max(xs):.3f}]"


def fmt_int(x):
    return "-" if x is None else f"{int(x):,}".replace(",", " ")


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                  cwd=ROOT).stdout.strip()
        except OSError:
            return "?"
    model = sh("lscpu | grep 'Model name' | sed 's/.*: *//'")
    commit = sh("git rev-parse --short HEAD")
    dirty = sh("git status --porcelain -- preload tracer Makefile")
    if dirty:
        commit += " + uncommitted changes in preload/ tracer/"
    return (f"{os.cpu_count()} CPUs ({sh('nproc')} usable), {model}, Linux {platform.release()}, "
            f"{START_DATE}, commit {commit}, "
            f"{RUNS} runs per configuration, load average at start {LOAD_START:.2f}")


def main():
    start = time.time()
    # The shim is rebuilt by others while we measure: every run uses one
    # snapshot of it, taken now.
    snapdir, shim = snapshot_shim()
    SHIM_SHOWN[shim] = os.path.join(BUILD, "libloopsan.so")
    base_env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    table = []
    try:
        for bench in benchmarks(shim):
            if not wanted(bench.name):
                continue
            if bench.argv and not os.access(bench.argv[0], os.X_OK):
                notes.append(f"{bench.name}: {bench.argv[0]} not built, skipped.")
                continue
            results = {c.label: Result() for c in bench.configs}
            t_b = time.time()
            for r in range(RUNS):
                k = r % len(bench.configs)  # rotate the order: no config always first
                for cfg in bench.configs[k:] + bench.configs[:k]:
                    run_once(bench, cfg, results[cfg.label], base_env, r)
            print(f"bench: {bench.name} done in {time.time() - t_b:.1f} s", file=sys.stderr, flush=True)
            table.append((bench, results))
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)

    lines = [f"Machine: {machine()}", "",
             "| benchmark | callbacks | reference: median [min-max] s | configuration: median [min-max] s "
             "| ratio | paired ratio | +ns/callback | CPU ratio | trace bytes | trace B/callback |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for bench, results in table:
        for cfg in bench.configs:
            res = results[cfg.label]
            for f in sorted(set(res.failures)):
                trouble.append(f"{bench.name} [{cfg.label}] FAILED {res.failures.count(f)}/{RUNS} runs "
                             f"({f}); command: {show_command(bench, cfg)}")
            for line in sorted(res.stderr):
                notes.append(f"{bench.name} [{cfg.label}] stderr: {line}")
            if cfg.ref is None:
                continue
            ref = results[cfg.ref]
            cbs_ref = [c for c in ref.callbacks if c]
            cbs = med(cbs_ref) if cbs_ref else None
            if bench.deterministic and cbs_ref and res.callbacks and set(res.callbacks) != set(cbs_ref):
                trouble.append(f"{bench.name} [{cfg.label}] CHANGED BEHAVIOUR: callbacks "
                             f"{sorted(set(res.callbacks))} vs {cfg.ref} {sorted(set(cbs_ref))}; "
                             f"command: {show_command(bench, cfg)}")
            ratio = ns = cpu = bpc = None
            rounds = sorted(set(res.by_round) & set(ref.by_round))
            paired = med([res.by_round[k] / ref.by_round[k] for k in rounds]) if rounds else None
            if res.wall and ref.wall:
                ratio = med(res.wall) / med(ref.wall)
                cpu = med(res.cpu) / med(ref.cpu) if med(ref.cpu) else None
                if cbs:
                    ns = (med(res.wall) - med(ref.wall)) * 1e9 / cbs
            tb = med(res.trace) if res.trace and (cfg.shim or max(res.trace)) else None
            if tb is not None and cbs:
                bpc = tb / cbs
            refname = "" if cfg.ref == "baseline" else f"{cfg.ref} "
            lines.append(
                f"| {bench.name} | {fmt_int(cbs)} | {refname}{fmt_time(ref.wall)} | {cfg.label}: "
                f"{fmt_time(res.wall) if res.wall else 'FAILED'} | "
                f"{'-' if ratio is None else f'{ratio:.2f}'} | "
                f"{'-' if paired is None else f'{paired:.2f}'} | {'-' if ns is None else f'{ns:.0f}'} | "
                f"{'-' if cpu is None else f'{cpu:.2f}'} | {fmt_int(tb)} | "
                f"{'-' if bpc is None else f'{bpc:.2f}'} |")
    lines.append("")
    lines.append("Benchmarks:")
    for bench, _ in table:
        lines.append(f"- {bench.name}: {bench.what}")
    if trouble or notes:
        lines.append("")
        lines.append("Notes:")
        lines += [f"- {x}" for x in trouble + notes]
    lines.append("")
    lines.append(f"Total bench time: {time.time() - start:.0f} s")
    text = "\n".join(lines)
    print(text)
    if OUT:
        with open(OUT, "w") as f:
            f.write(text + "\n")
    if trouble:
        print(f"bench: {len(trouble)} failures or behaviour changes, see the notes", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
