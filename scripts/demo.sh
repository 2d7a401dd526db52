#!/bin/sh
# Runs build/demo under the shim in a temporary directory, then prints the
# report of the trace it left. Usage: scripts/demo.sh BUILD
set -eu

build=${1:?usage: scripts/demo.sh BUILD}
build=$(cd "$build" && pwd)
for f in demo libloopsan.so loopsan; do
	if [ ! -e "$build/$f" ]; then
		echo "demo.sh: $build/$f is missing; run \`make demo\`" >&2
		exit 2
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/loopsan-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "\$ LD_PRELOAD=$build/libloopsan.so $build/demo"
(cd "$tmp" && LD_PRELOAD="$build/libloopsan.so" LOOPSAN_OPTIONS= "$build/demo")

set -- "$tmp"/loopsan.*.trace
if [ ! -f "$1" ]; then
	echo "demo.sh: the demo left no trace in $tmp" >&2
	exit 1
fi
echo
echo "\$ loopsan report $(basename "$1")"
"$build/loopsan" report "$@"
