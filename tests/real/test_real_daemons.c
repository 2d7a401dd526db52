/* The quick part of the real-programs suite (`make test`): memcached as
 * root dropping to nobody, redis-server with a SAVE, and cmake/ctest, each
 * run by its script in tests/real/daemons/ plain and under `loopsan run`
 * in a private network namespace (see daemons.h). The slower ones (named,
 * dig, kresd, unbound, nginx, transmission-daemon, tor) are in
 * real_daemons_slow.c, run by `make real`. */
#define LS_RUN_TIMEOUT_S 60
#include "tests/real/daemons.h"

TestSuite(real_daemons, .fini = ls_cleanup, .timeout = 120);

/* memcached 1.6 frees its main event_base on SIGTERM with its listening
 * and clock events still added: pending-at-close, true (and harmless), on
 * the main thread, of events it made with event_set. Nothing else: its
 * workers' bases are never freed, and nothing blocks or crosses threads. */
Test(real_daemons, memcached_as_root_dropping_to_nobody_replies_the_same_and_leaves_a_trace)
{
	daemon_need("/usr/bin/memcached", "memcached");
	daemon_need("/usr/bin/memcslap", "libmemcached-tools");
	daemon_need("/usr/bin/nc", "netcat-openbsd");
	struct daemon_run d;

	daemon_both(&d, "memcached", "    202 STORED\n");
	cr_assert(strstr(d.out, "memcslap: 0\n"), "%s", d.out);
	const char *kinds[] = {"pending-at-close", NULL};
	daemon_assert_kinds(d.report, kinds);
	json_t *f;
	size_t i;
	json_array_foreach(json_object_get(d.report, "findings"), i, f) {
		cr_assert_str_eq(ls_str(f, "api"), "event_set", "%s", daemon_findings_text(d.report));
		cr_assert_eq(ls_int(json_object_get(f, "thread"), "tid"), ls_int(f, "pid"),
			     "pending-at-close off the main thread:\n%s",
			     daemon_findings_text(d.report));
	}
	/* The loops of both worker threads and the main thread were seen. */
	json_t *p = ls_process(d.report);
	cr_assert_str_eq(ls_str(p, "exe"), "memcached");
	cr_assert_geq(json_array_size(json_object_get(p, "loops")), 3, "loops: %s",
		      json_dumps(p, JSON_INDENT(1)));
	daemon_done(&d);
}

/* redis-server: its SAVE fsyncs the dump on the loop thread (true
 * blocking-call findings, called from rdbSave); nothing else. */
Test(real_daemons, redis_server_replies_the_same_and_its_save_is_a_blocking_call)
{
	daemon_need("/usr/bin/redis-server", "redis-server");
	daemon_need("/usr/bin/redis-cli", "redis-tools");
	struct daemon_run d;

	daemon_both(&d, "redis", "\n42\nOK\nbenchmark: 0\n");
	const char *kinds[] = {"blocking-call", NULL};
	daemon_assert_kinds(d.report, kinds);
	json_t *f;
	size_t i, fsyncs = 0;
	json_array_foreach(json_object_get(d.report, "findings"), i, f) {
		const char *api = ls_str(f, "api");
		cr_assert(!strcmp(api, "fsync") || !strcmp(api, "fdatasync"),
			  "a blocking call other than SAVE's:\n%s", daemon_findings_text(d.report));
		cr_assert(daemon_stack_has(f, "called_at", "rdbSave"), "not called from rdbSave:\n%s",
			  daemon_findings_text(d.report));
		fsyncs += !strcmp(api, "fsync");
	}
	cr_assert_geq(fsyncs, 1, "SAVE's fsync is not reported:\n%s",
		      daemon_findings_text(d.report));
	daemon_done(&d);
}

/* cmake and ctest (libuv: uv_spawn, pipes, signals) configure, build and
 * test a small project: the same output, three traces, no finding. */
Test(real_daemons, cmake_and_ctest_build_and_test_the_same_with_no_finding)
{
	daemon_need("/usr/bin/cmake", "cmake");
	struct daemon_run d;

	daemon_both(&d, "cmake", "100% tests passed, 0 tests failed out of 2\n");
	cr_assert(strstr(d.out, "build: 0\n") && strstr(d.out, "ctest: 0\n"), "%s", d.out);
	cr_assert_eq(ls_count_traces(d.traces), 3, "expected cmake, cmake --build and ctest's");
	cr_assert_eq(json_array_size(json_object_get(d.report, "findings")), 0, "findings:\n%s",
		     daemon_findings_text(d.report));
	daemon_done(&d);
}
