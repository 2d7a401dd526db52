# unbound (libevent, two threads with a base each) forwarding to a plain
# named.
. "$(dirname "$0")/lib.sh"
start_named || { kill $NAMED; exit 1; }
$W unbound -d -c "$HERE/unbound.conf" >unbound.log 2>&1 &
P=$!
wait_answer 5354 || { kill $P $NAMED; exit 1; }
dns_load 5354
stop $P
kill $NAMED
wait $NAMED
