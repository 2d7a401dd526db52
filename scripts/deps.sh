#!/bin/sh
# Installs the Debian packages loopsan needs to build, test and run its demo;
# `deps.sh bench` also those `make bench` compares with or measures by
# (ltrace, valgrind's callgrind); `deps.sh libuv-suite` also what
# `make libuv-suite` fetches and builds libuv's own test suite with
# (dpkg-dev for apt-get source, cmake).
# Idempotent: when everything is present it only asks dpkg and returns.
set -eu

PKGS="make gcc libc6-dev pkg-config libuv1-dev libevent-dev libunwind-dev
libcriterion-dev libdw-dev libelf-dev libjansson-dev libxxhash-dev libiberty-dev g++
clang libclang-rt-14-dev
python3-uvloop neovim nodejs libpython3.11-testsuite libpython3.11-dev
memcached tmux libev-dev knot-resolver iproute2
bind9 dnsutils unbound nginx-light redis-server redis-tools transmission-daemon
transmission-cli tor cmake apache2-utils netcat-openbsd curl libmemcached-tools"
case "${1:-}" in
"") ;;
bench) PKGS="$PKGS ltrace valgrind python3" ;;
libuv-suite) PKGS="$PKGS dpkg-dev cmake" ;;
*) echo "usage: scripts/deps.sh [bench|libuv-suite]" >&2; exit 2 ;;
esac

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
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
