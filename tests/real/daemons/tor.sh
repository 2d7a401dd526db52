# tor (libevent) with its network off, asked over its control port.
. "$(dirname "$0")/lib.sh"
mkdir -m 700 data
$W tor -f "$HERE/torrc" --ignore-missing-torrc >tor.out 2>&1 &
P=$!
wait_port t 19051 || { kill $P; exit 1; }
i=0
while [ $i -lt 5 ]; do
	printf 'AUTHENTICATE ""\r\nGETINFO version status/bootstrap-phase net/listeners/control\r\nQUIT\r\n' |
		nc -q1 127.0.0.1 19051 | tr -d '\r'
	i=$((i + 1))
done
stop $P
