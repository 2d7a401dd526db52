/* ev_active K M (libevent baseline; loopsan does not interpose libevent
 * yet): K threads each call event_active M times on one event; after each
 * call a thread waits (yielding) until the callback has run once more.
 * The shape of async_pummel. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "common.h"

static unsigned long long k, m;
static atomic_ullong done, count;
static struct event_base *base;
static struct event *ev;

static void on_active(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	atomic_fetch_add(&count, 1);
	if (atomic_load(&done) == k)
		event_base_loopbreak(base);
}

static void *sender(void *arg)
{
	(void)arg;
	for (unsigned long long i = 0; i < m; i++) {
		unsigned long long seen = atomic_load(&count);
		event_active(ev, EV_READ, 0);
		while (atomic_load(&count) == seen)
			sched_yield();
	}
	atomic_fetch_add(&done, 1);
	event_active(ev, EV_READ, 0);
	return NULL;
}

int main(int argc, char **argv)
{
	k = bench_arg(argc, argv, 1, 2);
	m = bench_arg(argc, argv, 2, 100000);
	if (k > 64)
		k = 64;
	CHECK(evthread_use_pthreads());
	base = event_base_new();
	if (base == NULL)
		return 1;
	ev = event_new(base, -1, 0, on_active, NULL);
	pthread_t th[64];
	for (unsigned long long i = 0; i < k; i++)
		if (pthread_create(&th[i], NULL, sender, NULL) != 0)
			return 1;
	CHECK(event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY));
	for (unsigned long long i = 0; i < k; i++)
		pthread_join(th[i], NULL);
	event_free(ev);
	event_base_free(base);
	bench_result(atomic_load(&count));
	return 0;
}
