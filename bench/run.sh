#!/bin/bash
# make bench: runs bench/run.py with Debian's python3 (see BENCHMARKS.md).
# Environment: BUILD (build dir, default build), BENCH_RUNS (runs per
# configuration, default 5), BENCH_ONLY (comma-separated benchmark names;
# py: every Python row),
# BENCH_SCALE (multiplies every work size, default 1), BENCH_TIMEOUT (seconds
# per run, default 60), BENCH_OUT (also write the Markdown table there),
# BENCH_VIEWER_MB (size of the viewer benchmark's trace, default 1024).
# After the programs' table: the viewer's benchmark (bench/viewer.py), the
# shim's memory (bench/memory.py) and the instructions counted by callgrind
# (bench/instr.py). BENCH_ONLY=viewer, memory or instr (or a list of them)
# runs only those; BENCH_ONLY=instr,timer0 also runs timer0 in bench/run.py
# and only timer0 in bench/instr.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# Does BENCH_ONLY (unset: everything) name this section?
wants() { case ",${BENCH_ONLY:-$1}," in *,"$1",*) return 0 ;; esac; return 1; }
# The programs' table, unless BENCH_ONLY names the other sections only.
others=$(tr ',' '\n' <<<"${BENCH_ONLY:-}" | grep -vxE 'viewer|memory|instr|' || true)
if [ -z "${BENCH_ONLY:-}" ] || [ -n "$others" ]; then
	"$PY" bench/run.py "$@"
fi
if wants viewer; then "$PY" bench/viewer.py; fi
if wants memory; then "$PY" bench/memory.py; fi
if wants instr; then "$PY" bench/instr.py; fi
