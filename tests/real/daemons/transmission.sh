# transmission-daemon (libevent, evhttp RPC) given a torrent over RPC.
. "$(dirname "$0")/lib.sh"
mkdir cfg dl
cp "$HERE/transmission.json" cfg/settings.json
seq 100000 >dl/blob
transmission-create -o blob.torrent -t http://127.0.0.1:6969/announce dl/blob >/dev/null
$W transmission-daemon -f -g cfg -w "$PWD/dl" >transmission.log 2>&1 &
P=$!
wait_port t 9091 || { kill $P; exit 1; }
R=127.0.0.1:9091
transmission-remote $R -a blob.torrent
transmission-remote $R -t 1 -i | grep -E '^ *(Name|Hash|Total size):'
transmission-remote $R -t 1 -v
transmission-remote $R -t 1 -S
transmission-remote $R -t 1 -r
transmission-remote $R -l | sed 's/  */ /g'
stop $P
