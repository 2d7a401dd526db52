#!/bin/sh
# `make libuv-suite`: someone else's test suite, with and without the shim.
#
# Fetches Debian's libuv1 source (apt-get source, through a private sources
# list, lists and cache under $BUILD/libuv-suite/apt: the machine's apt
# configuration is left alone), builds it as a shared library with its test
# runner uv_run_tests (the one linked against the shared libuv: the shim
# interposes libuv's exported functions, which uv_run_tests_a, linked
# statically, never calls through), then runs the whole suite twice, once
# plain and once with LD_PRELOAD=libloopsan.so (traces go to a directory of
# their own), and compares the runner's TAP lines (`ok N - name`,
# `ok N - name # SKIP ...`, `not ok N - name`) test by test.
#
# A test whose outcome differs is rerun once each way (the runner takes a
# test name): it counts as a difference only when both reruns repeat the
# first runs; otherwise it is listed as flaky (it changes its outcome
# without the shim's help), not as a difference.
# Exit 0 when no test differs, 1 when some do, 2 when a run could not be made.
#
# The runner refuses root: as root, it runs as RUNAS (default nobody) through
# setpriv, in directories RUNAS owns. Its tests use loopback only, and the
# runner runs each test in a child process under a timeout of its own.
#
# BUILD (default build) holds libloopsan.so; RUNAS (default nobody);
# SUITE_TIMEOUT (default 1200 s) bounds each whole run of the suite;
# UV_TEST_TIMEOUT_MULTIPLIER (default 1) is passed to the runner.
set -u

BUILD=${BUILD:-build}
RUNAS=${RUNAS:-nobody}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-1200}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
export UV_TEST_TIMEOUT_MULTIPLIER=${UV_TEST_TIMEOUT_MULTIPLIER:-1}

say() { echo "libuv-suite: $*"; }
die() { echo "libuv-suite: $*" >&2; exit 2; }

shim=$(cd "$BUILD" 2>/dev/null && pwd)/libloopsan.so
[ -f "$shim" ] || die "$BUILD/libloopsan.so not built (run make)"
for tool in dpkg-source cmake; do
	command -v $tool >/dev/null 2>&1 || die "no $tool (scripts/deps.sh libuv-suite installs it)"
done

out=$(cd "$BUILD" && pwd)/libuv-suite
mkdir -p "$out" || exit 2

# ---- the source: kept between runs ---------------------------------------
src=$out/src
if [ ! -f "$src/CMakeLists.txt" ]; then
	apt=$out/apt
	rm -rf "$apt" "$src" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$out/dl" || exit 2
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main" \
		>"$apt/sources.list"
	# Nothing but these options: the machine's sources, lists and cache stay as they are.
	aptopt="-o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o APT::Sandbox::User=root"
	say "fetching Debian's libuv1 source from $MIRROR $SUITE"
	# shellcheck disable=SC2086
	apt-get -qq $aptopt update >"$out/apt.log" 2>&1 &&
		(cd "$out/dl" && apt-get -q $aptopt source libuv1) >>"$out/apt.log" 2>&1 ||
		{ tail -n 20 "$out/apt.log" >&2; die "apt-get source libuv1 failed (log: $out/apt.log)"; }
	dir=$(find "$out/dl" -mindepth 1 -maxdepth 1 -type d -name 'libuv1-*' | head -n 1)
	[ -n "$dir" ] && [ -f "$dir/CMakeLists.txt" ] || die "no unpacked libuv1 source in $out/dl"
	mv "$dir" "$src" || exit 2
	basename "$dir" >"$out/version"
fi

# ---- the build: libuv.so and uv_run_tests, -O2 -g like Debian's -----------
bld=$out/cmake
runner=$bld/uv_run_tests
if [ ! -x "$runner" ]; then
	say "building $(cat "$out/version" 2>/dev/null) with its tests (cmake, log: $out/build.log)"
	cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=None -DCMAKE_C_FLAGS="-O2 -g" \
		-DBUILD_TESTING=ON -DLIBUV_BUILD_TESTS=ON >"$out/build.log" 2>&1 &&
		cmake --build "$bld" --target uv_run_tests -j2 >>"$out/build.log" 2>&1 ||
		{ tail -n 30 "$out/build.log" >&2; die "building libuv failed (log: $out/build.log)"; }
fi
# The runner must call the shared libuv, the one just built.
libuv=$(ldd "$runner" | awk '/libuv\.so/ { print $3 }')
case $libuv in
"$bld"/libuv.so*) ;;
*) die "$runner does not use the shared libuv built in $bld (ldd: ${libuv:-none})" ;;
esac

# ---- running it ------------------------------------------------------------
# As root, as $RUNAS; the shim and the runner must be readable by it.
if [ "$(id -u)" -eq 0 ]; then
	uid=$(id -u "$RUNAS") && gid=$(id -g "$RUNAS") || die "no user $RUNAS"
	as_user="setpriv --reuid=$uid --regid=$gid --clear-groups --reset-env"
	setpriv --reuid="$uid" --regid="$gid" --clear-groups test -r "$shim" -a -x "$runner" ||
		die "$RUNAS cannot read $shim or run $runner (a parent directory closed to others?)"
else
	uid=$(id -u) gid=$(id -g) as_user=""
fi

# One run of the suite in $out/$1-$2 ($2 = all), or of the one test named
# $3 ($2 = its name): $1 = plain|shim. TAP lines in $dir/tap, all in $dir/log.
run() {
	how=$1 dir=$out/$1-$2
	shift 2
	# The fs tests open test/fixtures/... from where they run (ctest runs
	# them from the source tree; that stays read-only here).
	rm -rf "$dir" && mkdir -p "$dir/traces" "$dir/test" &&
		cp -R "$src/test/fixtures" "$dir/test/" && chown -R "$uid:$gid" "$dir" || exit 2
	pre=""
	[ "$how" = shim ] && pre="LD_PRELOAD=$shim LOOPSAN_OPTIONS=dir=$dir/traces"
	# shellcheck disable=SC2086
	(cd "$dir" && timeout -k 10 "$SUITE_TIMEOUT" $as_user env -u LD_PRELOAD -u LOOPSAN_OPTIONS \
		PATH=/usr/bin:/bin HOME="$dir" TMPDIR="$dir" \
		UV_TEST_TIMEOUT_MULTIPLIER="$UV_TEST_TIMEOUT_MULTIPLIER" $pre \
		"$runner" "$@" >"$dir/log" 2>&1)
	echo $? >"$dir/rc"
	grep -E '^(not )?ok [0-9]+ - ' "$dir/log" >"$dir/tap"
}

# name -> ok|skip|FAIL, one a line, sorted by name.
outcomes() {
	sed -E 's/^(not ok|ok) [0-9]+ - ([^ ]+)( # SKIP.*)?$/\2 \1\3/' "$1" |
		awk '{ print $1, ($2 == "not" ? "FAIL" : ($3 == "#" ? "skip" : "ok")) }' | sort
}

t0=$(date +%s)
say "$runner, without and with LD_PRELOAD=$shim, as $RUNAS"
for how in plain shim; do
	t=$(date +%s)
	run $how all
	rc=$(cat "$out/$how-all/rc")
	say "$how: runner exit $rc, $(wc -l <"$out/$how-all/tap") tests, $(($(date +%s) - t)) s (log: $out/$how-all/log)"
	[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && die "$how run took longer than $SUITE_TIMEOUT s"
	[ -s "$out/$how-all/tap" ] || { tail -n 20 "$out/$how-all/log" >&2; die "$how run printed no test results"; }
	outcomes "$out/$how-all/tap" >"$out/$how.outcomes"
done
# The comparison proves nothing unless the shim was really there.
ntraces=$(ls "$out/shim-all/traces" | wc -l)
say "traces the shim wrote: $ntraces"
[ "$ntraces" -gt 0 ] || die "the shim wrote no trace: was it loaded?"

# Tests whose first outcomes differ: rerun once each way.
join -a 1 -a 2 -e none -o 0,1.2,2.2 "$out/plain.outcomes" "$out/shim.outcomes" >"$out/both"
: >"$out/table"
ndiff=0 nflaky=0 diffs="" flaky=""
for name in $(awk '$2 != $3 { print $1 }' "$out/both"); do
	set -- $(awk -v n="$name" '$1 == n { print $2, $3 }' "$out/both")
	p1=$1 s1=$2
	run plain "$name" "$name"
	run shim "$name" "$name"
	p2=$(outcomes "$out/plain-$name/tap" | awk '{ print $2 }')
	s2=$(outcomes "$out/shim-$name/tap" | awk '{ print $2 }')
	if [ "$p1" = "${p2:-none}" ] && [ "$s1" = "${s2:-none}" ]; then
		verdict="differs" ndiff=$((ndiff + 1)) diffs="$diffs $name"
	else
		verdict="flaky" nflaky=$((nflaky + 1)) flaky="$flaky $name"
	fi
	printf '  %-44s %11s %11s   %s\n' "$name" "$p1,${p2:-none}" "$s1,${s2:-none}" "$verdict" >>"$out/table"
done

total=$(wc -l <"$out/both")
same=$((total - ndiff - nflaky))
summary() { awk -v c="$1" '$c == "ok" { o++ } $c == "skip" { s++ } $c == "FAIL" { f++ }
	END { printf "%d ok, %d skipped, %d failed", o, s, f }' "$out/both"; }
say "plain: $(summary 2); shim: $(summary 3)"
if [ -s "$out/table" ]; then
	say "tests whose first outcomes differed (first run, rerun):"
	printf '  %-44s %11s %11s\n' test plain shim
	cat "$out/table"
fi
say "$total tests, $same identical, $nflaky flaky${flaky:+ (changed outcome on a rerun:$flaky)}, $ndiff differ${diffs:+:$diffs} ($(($(date +%s) - t0)) s)"
[ "$ndiff" -eq 0 ] || { say "FAILED: $ndiff tests differ with the shim"; exit 1; }
say "ok, the same result for all $total tests with and without the shim (flaky ones aside)"
