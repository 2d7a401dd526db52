/* tcp_echo W SIZE: a client issues W uv_write calls of SIZE bytes each (at
 * most 256 in flight) to an echo server in the same process on 127.0.0.1,
 * and reads everything back. The server echoes each read with one uv_write.
 * Counts every user callback. */
#include <string.h>
#include <uv.h>
#include "common.h"

#define INFLIGHT 256

static unsigned long long w, size, issued, inflight, count;
static unsigned long long want, got;
static uv_loop_t loop;
static uv_tcp_t server, client, conn;
static uv_connect_t creq;
static uv_write_t creqs[INFLIGHT];
static int freelist[INFLIGHT], nfree;
static char payload[4096], cbuf[65536];

struct echo { uv_write_t req; char data[65536]; };

static void on_close(uv_handle_t *h) { (void)h; count++; }

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)hint;
	count++;
	if (h == (uv_handle_t *)&client) {
		*buf = uv_buf_init(cbuf, sizeof(cbuf));
	} else {
		struct echo *e = malloc(sizeof(*e));
		if (e == NULL)
			exit(1);
		*buf = uv_buf_init(e->data, sizeof(e->data));
	}
}

static void client_fill(void);

static void on_client_write(uv_write_t *req, int status)
{
	count++;
	CHECK(status);
	freelist[nfree++] = (int)(req - creqs);
	inflight--;
	client_fill();
}

static void client_fill(void)
{
	while (issued < w && nfree > 0) {
		uv_write_t *req = &creqs[freelist[--nfree]];
		uv_buf_t b = uv_buf_init(payload, (unsigned)size);
		CHECK(uv_write(req, (uv_stream_t *)&client, &b, 1, on_client_write));
		issued++;
		inflight++;
	}
}

static void on_echo_written(uv_write_t *req, int status)
{
	count++;
	CHECK(status);
	free((struct echo *)req);
}

static void on_server_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	count++;
	struct echo *e = (struct echo *)(buf->base - offsetof(struct echo, data));
	if (nread <= 0) {
		if (buf->base != NULL)
			free(e);
		if (nread == UV_EOF)
			uv_close((uv_handle_t *)s, on_close);
		else
			CHECK(nread);
		return;
	}
	uv_buf_t b = uv_buf_init(e->data, (unsigned)nread);
	CHECK(uv_write(&e->req, s, &b, 1, on_echo_written));
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	count++;
	CHECK(nread);
	got += (unsigned long long)nread;
	if (got >= want) {
		uv_close((uv_handle_t *)s, on_close);
		uv_close((uv_handle_t *)&server, on_close);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	count++;
	CHECK(status);
	CHECK(uv_read_start(req->handle, on_alloc, on_client_read));
	client_fill();
}

static void on_connection(uv_stream_t *s, int status)
{
	count++;
	CHECK(status);
	CHECK(uv_tcp_init(&loop, &conn));
	CHECK(uv_accept(s, (uv_stream_t *)&conn));
	CHECK(uv_read_start((uv_stream_t *)&conn, on_alloc, on_server_read));
}

int main(int argc, char **argv)
{
	w = bench_arg(argc, argv, 1, 200000);
	size = bench_arg(argc, argv, 2, 32);
	if (size > sizeof(payload))
		size = sizeof(payload);
	want = w * size;
	memset(payload, 'x', sizeof(payload));
	for (int i = 0; i < INFLIGHT; i++)
		freelist[nfree++] = i;
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
	return got == want ? 0 : 1;
}
