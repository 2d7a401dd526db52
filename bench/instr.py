"""Instructions (make bench; see BENCHMARKS.md): what the shim costs in
instructions executed, counted by valgrind's callgrind, a number that is
the same from run to run for the same binaries, inputs and environment
whatever else the machine is doing, unlike the wall and CPU times of
bench/run.py.

Each benchmark program runs once per configuration under
`valgrind --tool=callgrind`, with work sizes 1/10-1/25 of run.py's (callgrind
is ~50x slower), in a fresh directory that takes the trace and callgrind's
output and is deleted after: without the shim, with it (watchdog=0, so no
second thread whose scheduling under valgrind would vary the count), and
with it in mode=timeline. The table gives the instructions of the whole
process (start-up included: the first row is a program that runs one
callback) and, from callgrind's per-function costs summed by object, how
many of the added instructions ran inside libloopsan.so and how many
elsewhere (libc, libuv, libunwind, the dynamic loader).

Environment: BUILD, BENCH_SCALE, BENCH_ONLY (benchmark names as in the
table; "instr" alone runs them all), BENCH_TIMEOUT, BENCH_OUT (appends).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from benchlib import (BUILD, ONLY, SCALE, TIMEOUT, clean_env, emit, fmt_int, last_line,
                      snapshot_shim)

SECTIONS = {"instr", "viewer", "memory"}
WANT = ONLY - SECTIONS  # benchmark names; none named: all of them


def n(x):
    return str(max(1, int(x * SCALE)))


def benchmarks():
    """(name, argv, deterministic): run.py's programs at 1/10-1/25 of its
    sizes. Deterministic: the callback count is the same in every run (as in
    run.py: how tcp_echo's and ev_echo's reads coalesce varies)."""
    b = lambda name: os.path.join(BUILD, "bench", name)
    return [
        # timer0 with one callback: the fixed cost of a process.
        ("start-up", [b("timer0"), "1"], True),
        ("timer0", [b("timer0"), n(2e5)], True),
        ("idle", [b("idle"), n(1e5)], True),
        ("idle100", [b("idle"), n(1e6), "100"], True),
        ("tcp_pingpong", [b("tcp_pingpong"), n(5e3), "1"], True),
        ("tcp_echo", [b("tcp_echo"), n(2e4), "32"], False),
        ("regstack", [b("regstack"), n(2e5)], True),
        ("regstack_sites", [b("regstack"), n(2e5), "sites"], True),
        ("epoll_echo", [b("epoll_echo"), n(2e4)], True),
        ("ev_timer0", [b("ev_timer0"), n(1e5)], True),
        ("ev_echo", [b("ev_echo"), n(2e5), "32"], False),
    ]


def configs(shim):
    return [
        ("baseline", {}),
        ("loopsan", {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "watchdog=0"}),
        ("loopsan mode=timeline",
         {"LD_PRELOAD": shim, "LOOPSAN_OPTIONS": "watchdog=0:mode=timeline"}),
    ]


NAMED = re.compile(r"\((\d+)\)(?: (.*))?$")


def self_cost_by_object(path):
    """Sums the self cost (the first event, Ir) of every function in a
    callgrind output file by the object the function is in. Returns
    ({object: Ir}, total from the file's totals: or summary: line)."""
    names = {}  # compressed "(id) name" of ob= and cob=
    by_obj = {}
    obj = "???"
    npos = 1
    total = None
    after_calls = False
    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                if after_calls:  # the inclusive cost of a call, not self cost
                    after_calls = False
                    continue
                fields = line.split()
                if len(fields) > npos:
                    by_obj[obj] = by_obj.get(obj, 0) + int(fields[npos])
                continue
            after_calls = line.startswith("calls=")
            if line.startswith(("ob=", "cob=")):
                # Both name objects, from one table of compressed names.
                key, _, val = line.rstrip("\n").partition("=")
                m = NAMED.match(val)
                if m and m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                if key == "ob":
                    obj = names.get(m.group(1), "???") if m else val
            elif line.startswith("positions:"):
                npos = len(line.split()) - 1
            elif line.startswith(("totals:", "summary:")):
                total = int(line.split()[1])
    return by_obj, total


class Run:
    def __init__(self, callbacks, total, by_obj):
        self.callbacks, self.total, self.by_obj = callbacks, total, by_obj


def run(argv, env, valgrind):
    """One run under callgrind in a fresh directory; a Run, or an error string."""
    tmp = tempfile.mkdtemp(prefix="loopsan-bench-instr.")
    out = os.path.join(tmp, "callgrind.out")
    try:
        try:
            p = subprocess.run([valgrind, "--tool=callgrind", f"--callgrind-out-file={out}"] + argv,
                               env=env, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"timed out after {TIMEOUT:g} s"
        err = p.stderr.decode(errors="replace")
        if p.returncode != 0:
            return f"exit status {p.returncode}: {last_line(err)}"
        if not os.path.exists(out):
            return f"no callgrind output: {last_line(err)}"
        by_obj, total = self_cost_by_object(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m = re.search(r"Collected : (\d+)", err)
    if m and total is not None and int(m.group(1)) != total:
        return f"callgrind's Collected {m.group(1)} is not its file's total {total}"
    if total is None or sum(by_obj.values()) != total:
        return f"callgrind output not understood (costs {sum(by_obj.values())}, total {total})"
    cbs = re.search(rb"^callbacks=(\d+)$", p.stdout, re.M)
    return Run(int(cbs.group(1)) if cbs else None, total, by_obj)


def short(obj, shim):
    if obj == shim:
        return "libloopsan.so"
    return os.path.basename(obj)


def row(name, cfg, base, res, shim):
    added = res.total - base.total
    inside = res.by_obj.get(shim, 0)
    per = lambda x: "-" if not res.callbacks else f"{x / res.callbacks:,.0f}".replace(",", " ")
    # Where the instructions added outside the shim went: the object that
    # gained the most.
    diffs = sorted(((res.by_obj.get(o, 0) - base.by_obj.get(o, 0), o)
                    for o in set(res.by_obj) | set(base.by_obj) if o != shim), reverse=True)
    most = f"{short(diffs[0][1], shim)} {per(diffs[0][0])}" if diffs and diffs[0][0] > 0 else "-"
    return (f"| {name} | {fmt_int(res.callbacks)} | {cfg} | {fmt_int(base.total)} | "
            f"{fmt_int(res.total)} | {res.total / base.total:.2f} | {per(added)} | "
            f"{per(inside)} | {per(added - inside)} | {most} |")


def main():
    valgrind = shutil.which("valgrind")
    if not valgrind:
        emit(["", "Instructions: skipped, valgrind is not installed (apt-get install valgrind)."])
        return
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    built = os.path.join(BUILD, "libloopsan.so")
    snapdir, shim = snapshot_shim()
    env0 = clean_env()
    rows, notes, trouble = [], [], []
    try:
        for name, argv, deterministic in benchmarks():
            if WANT and name not in WANT:
                continue
            if not os.access(argv[0], os.X_OK):
                notes.append(f"{name}: {argv[0]} not built, skipped.")
                continue
            results = {}
            for cfg, extra in configs(shim):
                # To reproduce: the built shim, not the snapshot (deleted at the end).
                shown = " ".join(f"{k}={v.replace(shim, built)}" for k, v in extra.items())
                shown = f"{shown} valgrind --tool=callgrind {' '.join(argv)}".strip()
                r = run(argv, dict(env0, **extra), valgrind)
                if isinstance(r, str):
                    trouble.append(f"{name} [{cfg}] FAILED ({r}); command: {shown}")
                    continue
                base = results.get("baseline")
                if deterministic and base and r.callbacks != base.callbacks:
                    trouble.append(f"{name} [{cfg}] CHANGED BEHAVIOUR: callbacks {r.callbacks} vs "
                                   f"baseline {base.callbacks}; command: {shown}")
                results[cfg] = r
            base = results.get("baseline")
            for cfg, r in results.items():
                if base is not None and cfg != "baseline":
                    rows.append(row(name, cfg, base, r, shim))
            print(f"bench: instr {name} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)
    lines = ["", f"Instructions executed in user space, counted by {version} --tool=callgrind "
             f"(commit {commit}; one run each, the whole process, start-up included; the shim "
             "with watchdog=0). `+/callback`: instructions added per callback, split into those "
             "inside libloopsan.so and elsewhere; `most elsewhere`: the object that gained the "
             "most, per callback:", "",
             "| benchmark | callbacks | configuration | baseline instructions "
             "| loopsan instructions | ratio | +/callback | in libloopsan.so /callback "
             "| elsewhere /callback | most elsewhere |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"] + rows
    notes.append("async_pummel and the other cross-thread programs are left out: their senders "
                 "wait by yielding, and how often they spin depends on valgrind's scheduling.")
    if any(r.startswith("| ev_echo ") for r in rows):
        notes.append("ev_echo's callbacks are its bufferevent callbacks, one per ~32 "
                     "bufferevent_write calls, and the shim's work there is per call.")
    notes.append("Instructions are not time: a system call's kernel work counts for nothing "
                 "(the I/O shapes' ratios are far above their time ratios) and an rdtsc is one "
                 "instruction of ~10 ns (the timestamp-bound shapes' ratios are below).")
    if trouble or notes:
        lines += ["", "Notes:"] + [f"- {x}" for x in trouble + notes]
    emit(lines)
    if trouble:
        sys.exit(f"bench instr: {len(trouble)} failures or behaviour changes, see the notes")


if __name__ == "__main__":
    main()
