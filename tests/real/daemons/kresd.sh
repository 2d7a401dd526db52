# kresd (knot-resolver: libuv) resolving probe.test through a plain named.
. "$(dirname "$0")/lib.sh"
start_named || { kill $NAMED; exit 1; }
$W kresd -n -c "$HERE/kresd.conf" . >kresd.log 2>&1 &
P=$!
wait_answer 5353 || { kill $P $NAMED; exit 1; }
dns_load 5353
stop $P
kill $NAMED
wait $NAMED
