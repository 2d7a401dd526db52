#!/bin/sh
# `make transparency`: someone else's test suite, with and without the shim.
#
# Runs Python's own test_asyncio (Debian's libpython3.11-testsuite) with the
# system interpreter twice: once plain, once with LD_PRELOAD=libloopsan.so
# (traces go to a directory of their own), each writing JUnit XML. Then
# compares, per test module, how many tests ran, failed, errored and were
# skipped, and lists every test whose outcome differs. Exit 0 when the two
# runs agree test by test, 1 when they do not, 2 when a run could not be made.
#
# BUILD (default build) holds libloopsan.so; PYTHON (default /usr/bin/python3:
# not a pyenv shim) runs the suite; TESTS (default test_asyncio) is what
# regrtest runs; REGRTEST_ARGS adds regrtest options (e.g. -j2).
set -u

BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
TESTS=${TESTS:-test_asyncio}
REGRTEST_ARGS=${REGRTEST_ARGS:-}

shim=$(cd "$BUILD" 2>/dev/null && pwd)/libloopsan.so
if [ ! -f "$shim" ]; then
	echo "transparency: $BUILD/libloopsan.so not built (run make)" >&2
	exit 2
fi
if ! "$PYTHON" -c 'import test.test_asyncio' 2>/dev/null; then
	echo "transparency: $PYTHON has no test.test_asyncio (install libpython3.11-testsuite: scripts/deps.sh)" >&2
	exit 2
fi

# The run below proves nothing unless the interpreter really loads the shim.
if ! LD_PRELOAD=$shim "$PYTHON" -c 'import sys; sys.exit(0 if "libloopsan.so" in open("/proc/self/maps").read() else 1)'; then
	echo "transparency: $PYTHON does not load $shim under LD_PRELOAD" >&2
	exit 2
fi

out=$(cd "$BUILD" && pwd)/transparency
rm -rf "$out" && mkdir -p "$out/plain" "$out/shim/traces" || exit 2

# One run: $1 = plain|shim. regrtest's own exit status is kept in $out/$1/rc.
run() {
	dir=$out/$1
	t0=$(date +%s)
	if [ "$1" = shim ]; then
		(cd "$dir" && LD_PRELOAD=$shim LOOPSAN_OPTIONS=dir=$dir/traces \
			"$PYTHON" -m test $REGRTEST_ARGS --junit-xml "$dir/junit.xml" $TESTS \
			>"$dir/log" 2>&1)
	else
		(cd "$dir" && env -u LD_PRELOAD -u LOOPSAN_OPTIONS \
			"$PYTHON" -m test $REGRTEST_ARGS --junit-xml "$dir/junit.xml" $TESTS \
			>"$dir/log" 2>&1)
	fi
	echo $? >"$dir/rc"
	t1=$(date +%s)
	echo "transparency: $1: regrtest exit $(cat "$dir/rc"), $((t1 - t0)) s (log: $dir/log)"
	if [ ! -s "$dir/junit.xml" ]; then
		tail -n 20 "$dir/log" >&2
		echo "transparency: $1 run wrote no $dir/junit.xml" >&2
		exit 2
	fi
}

echo "transparency: $PYTHON -m test $REGRTEST_ARGS $TESTS, without and with LD_PRELOAD=$shim"
run plain
run shim
echo "transparency: traces the shim wrote: $(ls "$out/shim/traces" | wc -l)"

"$PYTHON" - "$out/plain/junit.xml" "$out/shim/junit.xml" \
	"$(cat "$out/plain/rc")" "$(cat "$out/shim/rc")" <<'EOF'
import sys
import xml.etree.ElementTree as ET

def outcomes(path):
    """test id -> ok|failure|error|skipped, and module -> [run, fail, err, skip]."""
    per_test, per_module = {}, {}
    for case in ET.parse(path).getroot().iter("testcase"):
        # regrtest puts the whole id in name (test.test_asyncio.MODULE.Class.test);
        # unittest-style writers put the class in classname.
        cls = case.get("classname")
        name = f"{cls}.{case.get('name')}" if cls else case.get("name") or ""
        parts = name.split(".")
        module = ".".join(parts[:3]) if parts[:2] == ["test", "test_asyncio"] else ".".join(parts[:-2])
        kinds = {child.tag for child in case}
        status = next((k for k in ("error", "failure", "skipped") if k in kinds), "ok")
        per_test[name] = status
        m = per_module.setdefault(module, [0, 0, 0, 0])
        m[0] += 1
        m[1] += status == "failure"
        m[2] += status == "error"
        m[3] += status == "skipped"
    return per_test, per_module

plain_t, plain_m = outcomes(sys.argv[1])
shim_t, shim_m = outcomes(sys.argv[2])
rc_plain, rc_shim = sys.argv[3], sys.argv[4]

def row(name, a, b):
    mark = "" if a == b else "   <-- differs"
    fa = "/".join(map(str, a)) if a else "-"
    fb = "/".join(map(str, b)) if b else "-"
    print(f"  {name:<44} {fa:>16} {fb:>16}{mark}")

print("transparency: per module, run/failures/errors/skipped:")
print(f"  {'module':<44} {'plain':>16} {'shim':>16}")
for mod in sorted(set(plain_m) | set(shim_m)):
    row(mod, plain_m.get(mod), shim_m.get(mod))
tot = lambda m: [sum(v[i] for v in m.values()) for i in range(4)]
row("TOTAL", tot(plain_m), tot(shim_m))
print(f"  {'regrtest exit status':<44} {rc_plain:>16} {rc_shim:>16}")

diff = sorted(t for t in set(plain_t) | set(shim_t) if plain_t.get(t) != shim_t.get(t))
for t in diff:
    print(f"  differs: {t}: plain {plain_t.get(t, 'not run')}, shim {shim_t.get(t, 'not run')}")
if diff or rc_plain != rc_shim:
    print(f"transparency: FAILED: {len(diff)} tests differ, exit status {rc_plain} vs {rc_shim}")
    sys.exit(1)
print(f"transparency: ok, the same result for all {len(plain_t)} tests with and without the shim")
EOF
