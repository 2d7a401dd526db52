# redis-server (its own ae loop on epoll, two I/O threads), with a SAVE.
. "$(dirname "$0")/lib.sh"
$W redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$PWD" \
	--daemonize no --io-threads 2 --logfile redis.log &
P=$!
wait_port t 6379 || { kill $P; exit 1; }
r() { redis-cli -p 6379 "$@"; }
r SET a 1
r INCR a
r GET a
r RPUSH l x y z
r LRANGE l 0 -1
r EVAL "return redis.call('incrby', KEYS[1], ARGV[1])" 1 a 40
r SAVE
redis-benchmark -p 6379 -q -n 2000 -c 4 -t set,get,lpush,lpop >bench.log 2>&1
echo "benchmark: $?"
r DBSIZE
stop $P
