/* ev_timer0 N (libevent baseline; loopsan does not interpose libevent yet):
 * a timer with a zero timeout re-added from its own callback N times. */
#include <event2/event.h>
#include "common.h"

static unsigned long long n, count;
static struct event *ev;
static const struct timeval zero = {0, 0};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (++count < n)
		CHECK(evtimer_add(ev, &zero));
}

int main(int argc, char **argv)
{
	n = bench_arg(argc, argv, 1, 2000000);
	struct event_base *base = event_base_new();
	if (base == NULL)
		return 1;
	ev = evtimer_new(base, on_timer, NULL);
	CHECK(evtimer_add(ev, &zero));
	CHECK(event_base_dispatch(base));
	event_free(ev);
	event_base_free(base);
	bench_result(count);
	return count == n ? 0 : 1;
}
