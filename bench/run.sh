#!/bin/bash
# make bench: runs bench/run.py with Debian's python3 (see BENCHMARKS.md).
# Environment: BUILD (build dir, default build), BENCH_RUNS (runs per
# configuration, default 5), BENCH_ONLY (comma-separated benchmark names),
# BENCH_SCALE (multiplies every work size, default 1), BENCH_TIMEOUT (seconds
# per run, default 60), BENCH_OUT (also write the Markdown table there),
# BENCH_VIEWER_MB (size of the viewer benchmark's trace, default 1024).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
[ "${BENCH_ONLY:-}" = viewer ] || "$PY" bench/run.py "$@"
# The viewer's own benchmark, unless BENCH_ONLY names others only.
case ",${BENCH_ONLY:-viewer}," in
*,viewer,*) "$PY" bench/viewer.py ;;
esac
