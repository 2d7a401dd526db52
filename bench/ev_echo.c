/* ev_echo W SIZE (libevent baseline; loopsan does not interpose libevent
 * yet): a client bufferevent makes W bufferevent_write calls of SIZE bytes
 * (in batches of 64, the next batch when its output buffer has drained) to an
 * echo bufferevent over a socketpair, and reads everything back. */
#include <string.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "common.h"

#define BATCH 64

static unsigned long long w, size, issued, want, got, count;
static struct event_base *base;
static char payload[4096];

static void client_fill(struct bufferevent *bev)
{
	for (int i = 0; i < BATCH && issued < w; i++, issued++)
		CHECK(bufferevent_write(bev, payload, size));
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
	(void)arg;
	count++;
	client_fill(bev);
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	count++;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	got += len;
	CHECK(evbuffer_drain(in, len));
	if (got >= want)
		event_base_loopbreak(base);
}

static void on_server_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	count++;
	CHECK(bufferevent_write_buffer(bev, bufferevent_get_input(bev)));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev, (void)arg;
	fprintf(stderr, "ev_echo: unexpected event 0x%x\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	w = bench_arg(argc, argv, 1, 200000);
	size = bench_arg(argc, argv, 2, 32);
	if (size > sizeof(payload))
		size = sizeof(payload);
	want = w * size;
	memset(payload, 'x', sizeof(payload));
	int sv[2];
	CHECK(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK(evutil_make_socket_nonblocking(sv[0]));
	CHECK(evutil_make_socket_nonblocking(sv[1]));
	base = event_base_new();
	if (base == NULL)
		return 1;
	struct bufferevent *c = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	struct bufferevent *s = bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE);
	if (c == NULL || s == NULL)
		return 1;
	bufferevent_setcb(c, on_client_read, on_client_write, on_event, NULL);
	bufferevent_setcb(s, on_server_read, NULL, on_event, NULL);
	CHECK(bufferevent_enable(c, EV_READ | EV_WRITE));
	CHECK(bufferevent_enable(s, EV_READ | EV_WRITE));
	client_fill(c);
	CHECK(event_base_dispatch(base));
	bufferevent_free(c);
	bufferevent_free(s);
	event_base_free(base);
	bench_result(count);
	return got == want ? 0 : 1;
}
