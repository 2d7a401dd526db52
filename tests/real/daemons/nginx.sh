# nginx (its own epoll loop) serving a static page to ab's keep-alive load.
. "$(dirname "$0")/lib.sh"
mkdir www tmp
chmod 755 www
seq 1000 >www/index.html
cp "$HERE/nginx.conf" .
$W nginx -p "$PWD/" -c nginx.conf -e error.log &
P=$!
wait_port t 8080 || { kill $P; exit 1; }
curl -s http://127.0.0.1:8080/index.html | md5sum
curl -s -o /dev/null -w '%{http_code}\n' http://127.0.0.1:8080/missing
ab -k -n 2000 -c 8 http://127.0.0.1:8080/index.html 2>&1 |
	grep -E '^(Complete requests|Failed requests|Non-2xx|Document Length)'
stop $P
