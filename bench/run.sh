#!/bin/bash
# make bench: runs bench/run.py with Debian's python3 (see BENCHMARKS.md).
# Environment: BUILD (build dir, default build), BENCH_RUNS (runs per
# configuration, default 5), BENCH_ONLY (comma-separated benchmark names),
# BENCH_SCALE (multiplies every work size, default 1), BENCH_TIMEOUT (seconds
# per run, default 60), BENCH_OUT (also write the Markdown table there),
# BENCH_VIEWER_MB (size of the viewer benchmark's trace, default 1024).
# After the programs' table: the viewer's benchmark (bench/viewer.py) and the
# shim's memory (bench/memory.py); BENCH_ONLY=viewer or memory runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
case "${BENCH_ONLY:-}" in
viewer | memory | viewer,memory | memory,viewer) ;;
*) "$PY" bench/run.py "$@" ;;
esac
# The viewer's own benchmark, unless BENCH_ONLY names others only.
case ",${BENCH_ONLY:-viewer}," in
*,viewer,*) "$PY" bench/viewer.py ;;
esac
# And the shim's memory.
case ",${BENCH_ONLY:-memory}," in
*,memory,*) "$PY" bench/memory.py ;;
esac
