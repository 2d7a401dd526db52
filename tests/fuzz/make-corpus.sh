#!/bin/sh
# Regenerates the seed corpus of the reader's fuzz target (tests/fuzz/corpus)
# from real traces: the fixture programs run under the shim, mostly with
# mode=timeline so that every record type shows up.
#
#   tests/fuzz/make-corpus.sh [BUILD]     (BUILD defaults to build)
#
# The shim writes 64 KiB chunks that are mostly zeros, so each trace is
# repacked with the smallest chunk size that holds its records (a multiple
# of 4096, as docs/FORMAT.md allows): the same records, the same header but
# for chunk_size, a file of a few KiB that the fuzzer mutates quickly. One
# trace is also kept cut in the middle of a chunk (a killed process), and one
# with the shim's own 64 KiB chunks, cut after its first chunk.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
out=$here/corpus

fixtures="counter killed loop_thread open_handle slow_timer slow_work transparent epoll_loop thread_churn
	rename_thread crash"
targets="$build/libloopsan.so"
for f in $fixtures; do targets="$targets $build/fixtures/$f"; done
# shellcheck disable=SC2086
make -C "$repo" --no-print-directory -s BUILD="$build" $targets

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# run NAME OPTIONS FIXTURE [ARGS...]: one trace of FIXTURE as $tmp/NAME.raw
run() {
	name=$1 opts=$2 fx=$3
	shift 3
	mkdir -p "$tmp/$name"
	# The outer subshell keeps the shell's "Killed" note off the terminal.
	( (cd "$tmp/$name" &&
		LOOPSAN_OPTIONS="dir=$tmp/$name${opts:+:$opts}" \
		LD_PRELOAD="$build/libloopsan.so" \
		"$build/fixtures/$fx" "$@" </dev/null >/dev/null 2>&1) ) 2>/dev/null || true
	set -- "$tmp/$name"/*.trace
	if [ ! -f "$1" ]; then
		echo "make-corpus: $fx left no trace" >&2
		exit 1
	fi
	mv "$1" "$tmp/$name.raw"
}

# run_py NAME OPTIONS SCRIPT [ARGS...]: one trace of Debian's python3
# (CPython 3.11: Python frames, PYCODE and PY_EVENT records) running
# tests/viewer/fixtures/SCRIPT as $tmp/NAME.raw; nothing without it.
run_py() {
	name=$1 opts=$2 script=$3
	shift 3
	[ -x /usr/bin/python3 ] || return 0
	mkdir -p "$tmp/$name"
	( (cd "$tmp/$name" &&
		LOOPSAN_OPTIONS="dir=$tmp/$name${opts:+:$opts}" \
		LD_PRELOAD="$build/libloopsan.so" PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 "$repo/tests/viewer/fixtures/$script" "$@" \
		</dev/null >/dev/null 2>&1) ) 2>/dev/null || true
	set -- "$tmp/$name"/*.trace
	[ -f "$1" ] && mv "$1" "$tmp/$name.raw"
	return 0
}

u32() { # u32 FILE OFFSET: the little-endian uint32 at OFFSET
	od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '
}

le32() { # le32 N: N as 4 little-endian bytes (octal escapes for printf)
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' \
		$(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}

# repack IN OUT: the same header and chunks, each chunk cut to the smallest
# common size (a multiple of 4096) that holds its header and used bytes.
repack() {
	in=$1 outf=$2
	cs=$(u32 "$in" 16)
	size=$(wc -c <"$in")
	n=$(((size - 4096) / cs))
	need=32
	i=0
	while [ $i -lt $n ]; do
		used=$(u32 "$in" $((4096 + i * cs + 12)))
		[ $((used + 32)) -gt $need ] && need=$((used + 32))
		i=$((i + 1))
	done
	new=$(((need + 4095) / 4096 * 4096))
	{
		dd if="$in" bs=16 count=1 status=none
		le32 $new
		dd if="$in" bs=4 skip=5 count=1019 status=none
		i=0
		while [ $i -lt $n ]; do
			dd if="$in" bs=4096 skip=$((1 + i * cs / 4096)) count=$((new / 4096)) status=none
			i=$((i + 1))
		done
	} >"$outf"
}

run counter-summary "" counter 5
run counter-timeline "mode=timeline:session=fuzz-seed" counter 40
run counter-killed "mode=timeline" counter 3 kill
run killed "mode=timeline" killed
run loop-thread "mode=timeline" loop_thread
run open-handle "mode=timeline" open_handle
run slow-timer "mode=timeline" slow_timer
run slow-work "mode=timeline" slow_work
run transparent-nostacks "mode=timeline:stacks=0" transparent
run transparent-depth2 "stack_depth=2" transparent
run epoll-sleep "mode=timeline" epoll_loop sleep
run epoll-spin "" epoll_loop spin
run epoll-starve "" epoll_loop starve
# Chunks passed on from threads that exited to new ones (owner links).
run thread-churn "mode=timeline" thread_churn 12,3,2
# A loop thread renamed by another thread (THREAD_NAME).
run thread-rename "mode=timeline" rename_thread other
# A SIGSEGV two calls below a callback (CRASH with its crashed_at stack).
run crash-deep "stack_depth=8" crash deep
# asyncio's own checks (every PY_EVENT kind, a traceback's stack of Python
# frames only) and Python sites; a uvloop callback stuck in Python.
run_py python-checks "stack_depth=8" asyncio_checks.py asyncio
run_py python-uvloop "stack_depth=8" refresh.py uvloop

rm -rf "$out"
mkdir -p "$out"
for raw in "$tmp"/*.raw; do
	name=$(basename "$raw" .raw)
	repack "$raw" "$out/$name.trace"
done
# A process killed while the shim was growing its first chunk: the records
# of the part that is there, and the rest cut off.
head -c $((4096 + 1500)) "$out/slow-timer.trace" >"$out/slow-timer-cut.trace"
# The shim's own chunk size, cut after the first chunk.
head -c $((4096 + 65536)) "$tmp/open-handle.raw" >"$out/open-handle-64k.trace"

ls -l "$out" >&2
echo "make-corpus: $(ls "$out" | wc -l) traces, $(du -sk "$out" | cut -f1) KiB in $out" >&2
