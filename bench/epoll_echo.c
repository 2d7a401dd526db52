/* epoll_echo N: a hand-written epoll loop (no loop library) echoing one
 * byte N times between the two ends of a non-blocking socketpair in one
 * thread: each round trip is two loop iterations, each with one recv and one
 * send. Under the shim it is seen only through the selector layer (epoll_wait
 * iterations, and recv checked for blocking-call). */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
	unsigned long long n = bench_arg(argc, argv, 1, 100000), done = 0, iters = 0;
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	int ep = epoll_create1(0);
	CHECK(ep);
	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = sv[i] };
		CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[i], &ev));
	}
	char c = 'x';
	CHECK(send(sv[0], &c, 1, 0));
	while (done < n) {
		struct epoll_event out[2];
		int k = epoll_wait(ep, out, 2, 1000);
		CHECK(k);
		iters++;
		for (int i = 0; i < k; i++) {
			int fd = out[i].data.fd;
			CHECK(recv(fd, &c, 1, 0));
			if (fd == sv[0])
				done++;
			if (done < n)
				CHECK(send(fd == sv[0] ? sv[0] : sv[1], &c, 1, 0));
		}
	}
	printf("callbacks=%llu\n", iters);
	return 0;
}
