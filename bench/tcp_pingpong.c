/* tcp_pingpong N SIZE: a client and a server in one process on 127.0.0.1
 * (ephemeral port). The client sends SIZE bytes (1..64), the server echoes
 * them, the client sends again on receiving them: N round trips. Counts
 * every user callback (connection, connect, alloc, read, write, close). */
#include <string.h>
#include <uv.h>
#include "common.h"

static unsigned long long n, size, trips, count;
static uv_loop_t loop;
static uv_tcp_t server, client, conn;
static uv_connect_t creq;
static uv_write_t cwreq, swreq;
static char cbuf[64], sbuf[64], payload[64];
static size_t cgot;

static void on_close(uv_handle_t *h) { (void)h; count++; }

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)hint;
	count++;
	*buf = h == (uv_handle_t *)&client ? uv_buf_init(cbuf, sizeof(cbuf))
					    : uv_buf_init(sbuf, sizeof(sbuf));
}

static void on_write(uv_write_t *req, int status)
{
	(void)req;
	count++;
	CHECK(status);
}

static void client_send(void)
{
	uv_buf_t b = uv_buf_init(payload, (unsigned)size);
	CHECK(uv_write(&cwreq, (uv_stream_t *)&client, &b, 1, on_write));
}

static void on_server_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	count++;
	if (nread == UV_EOF) {
		uv_close((uv_handle_t *)s, on_close);
		return;
	}
	CHECK(nread);
	if (nread == 0)
		return;
	/* The previous echo is done: the client waits for it before sending. */
	uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
	CHECK(uv_write(&swreq, s, &b, 1, on_write));
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	count++;
	CHECK(nread);
	cgot += (size_t)nread;
	if (cgot < size)
		return;
	cgot = 0;
	if (++trips == n) {
		uv_close((uv_handle_t *)s, on_close);
		uv_close((uv_handle_t *)&server, on_close);
		return;
	}
	client_send();
}

static void on_connect(uv_connect_t *req, int status)
{
	count++;
	CHECK(status);
	CHECK(uv_tcp_nodelay(&client, 1));
	CHECK(uv_read_start(req->handle, on_alloc, on_client_read));
	client_send();
}

static void on_connection(uv_stream_t *s, int status)
{
	count++;
	CHECK(status);
	CHECK(uv_tcp_init(&loop, &conn));
	CHECK(uv_accept(s, (uv_stream_t *)&conn));
	CHECK(uv_tcp_nodelay(&conn, 1));
	CHECK(uv_read_start((uv_stream_t *)&conn, on_alloc, on_server_read));
}

int main(int argc, char **argv)
{
	n = bench_arg(argc, argv, 1, 100000);
	size = bench_arg(argc, argv, 2, 1);
	if (size > sizeof(payload))
		size = sizeof(payload);
	memset(payload, 'x', sizeof(payload));
	CHECK(uv_loop_init(&loop));
	struct sockaddr_in addr;
	CHECK(uv_ip4_addr("127.0.0.1", 0, &addr));
	CHECK(uv_tcp_init(&loop, &server));
	CHECK(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0));
	CHECK(uv_listen((uv_stream_t *)&server, 16, on_connection));
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	CHECK(uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len));
	CHECK(uv_tcp_init(&loop, &client));
	CHECK(uv_tcp_connect(&creq, &client, (const struct sockaddr *)&bound, on_connect));
	CHECK(uv_run(&loop, UV_RUN_DEFAULT));
	CHECK(uv_loop_close(&loop));
	bench_result(count);
	return trips == n ? 0 : 1;
}
