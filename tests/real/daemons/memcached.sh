# memcached as root, dropping to nobody (-u), two worker threads.
. "$(dirname "$0")/lib.sh"
$W memcached -l 127.0.0.1 -p 11211 -U 0 -u nobody -t 2 >memcached.log 2>&1 &
P=$!
wait_port t 11211 || { kill $P; exit 1; }
{
	printf 'set k 0 0 1\r\nx\r\nget k\r\nincr n 1\r\nadd n 0 0 1\r\n5\r\nincr n 2\r\n'
	i=0
	while [ $i -lt 200 ]; do
		printf 'set k%d 0 0 %d\r\n%d\r\n' $i ${#i} $i
		i=$((i + 1))
	done
	printf 'get k0 k99 k199\r\ndelete k\r\nget k\r\nquit\r\n'
} | nc -q1 127.0.0.1 11211 | tr -d '\r' | sort | uniq -c
memcslap --servers=127.0.0.1:11211 --concurrency=4 --execute-number=500 >memcslap.log 2>&1
echo "memcslap: $?"
stop $P
