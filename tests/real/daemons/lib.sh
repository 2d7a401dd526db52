# Sourced by each tests/real/daemons/PROGRAM.sh, which test_real_daemons.c
# runs as `sh PROGRAM.sh` in a fresh work directory, inside a network
# namespace of its own (unshare -n: loopback only, so fixed ports cannot
# collide with anything). $W is empty (the program runs plain) or
# "loopsan run --dir TRACES --" (it runs under the shim); only the program
# under test is started through $W, never the client that loads it. The
# script prints the program's replies on stdout and last the program's own
# exit status as "exit: N"; its logs stay in the work directory.
set -u
W=${W:-}
HERE=$(cd "$(dirname "$0")" && pwd)
ip link set lo up || exit 1

# wait_port t|u PORT: until something listens on 127.0.0.1:PORT (10 s).
wait_port() {
	i=0
	while [ $i -lt 200 ]; do
		ss -Hln$1 "sport = :$2" | grep -q . && return 0
		sleep 0.05
		i=$((i + 1))
	done
	echo "nothing listens on port $2 after 10 s"
	return 1
}

# stop PID: SIGTERM (loopsan run passes it on), then its exit status.
stop() {
	kill -TERM "$1"
	wait "$1"
	echo "exit: $?"
}

# dig's reply without what changes from run to run: the message id, the
# server cookie, the query time and date.
dig_filtered() {
	dig "$@" | sed -e 's/, id: [0-9]*/, id: N/' \
		-e '/^; COOKIE:/d' -e '/^;; Query time:/d' -e '/^;; WHEN:/d'
}
