# named (bind9: libuv through libisc, two worker loops) serving probe.test.
. "$(dirname "$0")/lib.sh"
cp "$HERE/named.conf" "$HERE/probe.test.zone" .
$W named -g -n 2 -c named.conf >named.log 2>&1 &
P=$!
wait_answer 5301 || { kill $P; exit 1; }
dns_load 5301
stop $P
