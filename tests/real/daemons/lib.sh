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
# server cookie, the query time and date. $DIG is dig, or dig under $W.
dig_filtered() {
	${DIG:-dig} "$@" | sed -e 's/, id: [0-9]*/, id: N/' \
		-e '/^; COOKIE:/d' -e '/^;; Query time:/d' -e '/^;; WHEN:/d' -e 's/\t[0-9][0-9]*\tIN\t/\tTTL\tIN\t/'
}

# start_named: named (plain: the program under test is something else) as
# the authority of probe.test on 127.0.0.1:5301, in ./named; its pid in
# $NAMED once it answers.
start_named() {
	mkdir -p named
	cp "$HERE/named.conf" "$HERE/probe.test.zone" named/
	(cd named && exec named -g -n 1 -c named.conf >named.log 2>&1) &
	NAMED=$!
	wait_answer 5301
}

# wait_answer PORT: until the server on 127.0.0.1:PORT answers for
# www.probe.test (10 s).
wait_answer() {
	i=0
	while [ $i -lt 100 ]; do
		[ "$(dig @127.0.0.1 -p $1 www.probe.test +short +tries=1 +time=1 2>/dev/null)" = 127.0.0.10 ] &&
			return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "nothing answers on port $1 after 10 s"
	return 1
}

# dns_load PORT: 50 UDP questions (a wildcard TXT each) and one over TCP.
dns_load() {
	i=0
	while [ $i -lt 50 ]; do
		i=$((i + 1))
		dig @127.0.0.1 -p $1 q$i.probe.test TXT +short +tries=1 +time=2
	done | sort | uniq -c
	dig_filtered @127.0.0.1 -p $1 +tcp www.probe.test
}
