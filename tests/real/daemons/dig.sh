# dig (libuv through libisc, one-shot) asking a plain named, over UDP and
# TCP.
. "$(dirname "$0")/lib.sh"
start_named || { kill $NAMED; exit 1; }
DIG="$W dig"
dig_filtered @127.0.0.1 -p 5301 www.probe.test
echo "dig: $?"
dig_filtered @127.0.0.1 -p 5301 +tcp q1.probe.test TXT
$W dig @127.0.0.1 -p 5301 +short www.probe.test ns.probe.test
echo "exit: $?"
kill $NAMED
wait $NAMED
