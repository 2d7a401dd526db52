/* Shared helpers of the benchmark programs: argument parsing and checks.
 * Every program does a fixed amount of work given on its command line and
 * prints one line on stdout: "callbacks=N" (the user callbacks it ran). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <stdio.h>
#include <stdlib.h>

#define CHECK(expr)                                                            \
	do {                                                                   \
		long long rc_ = (long long)(expr);                             \
		if (rc_ < 0) {                                                 \
			fprintf(stderr, "%s:%d: %s failed: %lld\n", __FILE__,  \
				__LINE__, #expr, rc_);                         \
			exit(1);                                               \
		}                                                              \
	} while (0)

static inline unsigned long long bench_arg(int argc, char **argv, int i,
					   unsigned long long dflt)
{
	if (argc <= i)
		return dflt;
	char *end;
	unsigned long long v = strtoull(argv[i], &end, 10);
	if (*end != '\0' || v == 0) {
		fprintf(stderr, "bad argument %s\n", argv[i]);
		exit(2);
	}
	return v;
}

static inline void bench_result(unsigned long long callbacks)
{
	printf("callbacks=%llu\n", callbacks);
}
#endif
