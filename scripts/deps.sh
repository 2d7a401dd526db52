#!/bin/sh
# Installs the Debian packages loopsan needs.
#   deps.sh demo          what building loopsan and `make demo` need (small)
#   deps.sh [test]        also what the tests run: the test framework, clang,
#                         chromium (the HTML report), tmux (loopsan top),
#                         Python's asyncio test suite, uvloop, and the real
#                         programs of `make test` and `make real` (daemons)
#   deps.sh bench         also what `make bench` compares with or measures by
#                         (ltrace, valgrind's callgrind)
#   deps.sh libuv-suite   also what `make libuv-suite` fetches and builds
#                         libuv's own test suite with (dpkg-dev, cmake)
#   deps.sh --list SET    print SET's packages and install nothing
# Idempotent: when everything is present it only asks dpkg and returns.
# Installing a daemon's package never starts its service (policy-rc.d).
set -eu

BUILD_PKGS="make gcc libc6-dev pkg-config libuv1-dev libevent-dev libunwind-dev
libdw-dev libelf-dev libjansson-dev libxxhash-dev libiberty-dev libpython3.11-dev
libncurses-dev"
TEST_PKGS="$BUILD_PKGS libcriterion-dev g++ clang libclang-rt-14-dev
python3-uvloop neovim nodejs libpython3.11-testsuite
memcached tmux libev-dev knot-resolver iproute2 man-db
bind9 dnsutils unbound nginx-light redis-server redis-tools transmission-daemon
transmission-cli tor cmake apache2-utils netcat-openbsd curl libmemcached-tools
libxml2-utils python3-jsonschema chromium"
# --list SET: print the set's packages, one per line, and install nothing.
list=""
if [ "${1:-}" = "--list" ]; then
	list=1
	shift
fi
case "${1:-test}" in
demo) PKGS="$BUILD_PKGS" ;;
test) PKGS="$TEST_PKGS" ;;
bench) PKGS="$TEST_PKGS ltrace valgrind python3" ;;
libuv-suite) PKGS="$TEST_PKGS dpkg-dev cmake" ;;
*) echo "usage: scripts/deps.sh [--list] [demo|test|bench|libuv-suite]" >&2; exit 2 ;;
esac

if [ -n "$list" ]; then
	# shellcheck disable=SC2086
	printf '%s\n' $PKGS
	exit 0
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "loopsan: installing missing packages:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "loopsan: need root (or sudo) to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# No service of a daemon installed here is started (bind9, nginx, redis,
# tor, ...: the tests start their own, on loopback): a policy-rc.d that
# refuses, for the time of the install, unless the machine has its own.
POLICY=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
	$SUDO chmod 755 "$POLICY"
	ours=1
	trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
[ -n "$ours" ] && $SUDO rm -f "$POLICY" && trap - EXIT
exit 0
