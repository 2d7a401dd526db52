/* The slow part of the real-programs suite (`make real`, its own binary
 * build/tests/loopsan-real): named and dig (bind9), kresd, unbound, nginx,
 * transmission-daemon and tor, each run by its script in
 * tests/real/daemons/ plain and under `loopsan run`, in a private network
 * namespace (see daemons.h). The resolvers ask a plain named, the authority
 * of probe.test. Each test says which findings are true for its program and
 * why; any other finding fails it. */
#define LS_RUN_TIMEOUT_S 60
#include "tests/real/daemons.h"

TestSuite(real_daemons_slow, .fini = ls_cleanup, .timeout = 150);

static void assert_no_finding(struct daemon_run *d, const char *what)
{
	cr_assert_eq(json_array_size(json_object_get(d->report, "findings")), 0,
		     "%s: findings where there are none:\n%s", what,
		     daemon_findings_text(d->report));
}

/* Every finding of kind has frame fn in stack which. */
static void assert_all_at(struct daemon_run *d, const char *kind, const char *which,
			  const char *fn)
{
	json_t *a = ls_findings(d->report, kind, NULL), *f;
	size_t i;

	json_array_foreach(a, i, f)
		cr_assert(daemon_stack_has(f, which, fn), "a %s finding not %s %s:\n%s", kind,
			  which, fn, json_dumps(f, JSON_INDENT(1)));
	json_decref(a);
}

/* named -n 2 answers 50 UDP questions and one over TCP. It has no true
 * finding: the lost-wakeups reported at its exit are libisc's netmgr
 * queues, which it drains after uv_run returns (false). */
Test(real_daemons_slow, named_answers_the_same_with_no_finding)
{
	daemon_need("/usr/sbin/named", "bind9");
	daemon_need("/usr/bin/dig", "dnsutils");
	struct daemon_run d;

	daemon_both(&d, "named", "     50 \"wild\"\n");
	cr_assert(strstr(d.out, "127.0.0.10\n"), "%s", d.out);
	assert_no_finding(&d, "named");
	daemon_done(&d);
}

/* Three one-shot digs (UDP, TCP, two questions): three traces, no
 * finding (the lost-wakeups every dig gets are false, see above). */
Test(real_daemons_slow, dig_asks_the_same_with_no_finding)
{
	daemon_need("/usr/sbin/named", "bind9");
	daemon_need("/usr/bin/dig", "dnsutils");
	struct daemon_run d;

	daemon_both(&d, "dig", "(TCP)\n");
	cr_assert(strstr(d.out, "\"wild\"\n") && strstr(d.out, "\n127.0.0.10\n127.0.0.1\nexit: 0\n"),
		  "%s", d.out);
	cr_assert_eq(ls_count_traces(d.traces), 3, "one trace per dig");
	assert_no_finding(&d, "dig");
	daemon_done(&d);
}

/* kresd resolves through named. At SIGTERM it calls uv_loop_close with its
 * listening sockets, signal, timer and check handles still open (it never
 * closes them): pending-at-close, true and harmless. Nothing else. */
Test(real_daemons_slow, kresd_resolves_the_same_and_closes_its_loop_with_handles_open)
{
	daemon_need("/usr/sbin/kresd", "knot-resolver");
	daemon_need("/usr/sbin/named", "bind9");
	struct daemon_run d;

	daemon_both(&d, "kresd", "     50 \"wild\"\n");
	const char *kinds[] = {"pending-at-close", NULL};
	daemon_assert_kinds(d.report, kinds);
	cr_assert_gt(ls_count(d.report, "pending-at-close", NULL), 0,
		     "kresd's open handles at uv_loop_close are not reported");
	json_t *f;
	size_t i;
	json_array_foreach(json_object_get(d.report, "findings"), i, f) {
		const char *api = ls_str(f, "api");
		cr_assert(!strncmp(api, "uv_", 3) && strstr(api, "_init"),
			  "not a handle open at uv_loop_close:\n%s", json_dumps(f, JSON_INDENT(1)));
	}
	daemon_done(&d);
}

/* unbound, two threads with a base each, forwarding to named: no
 * finding. */
Test(real_daemons_slow, unbound_resolves_the_same_with_no_finding)
{
	daemon_need("/usr/sbin/unbound", "unbound");
	daemon_need("/usr/sbin/named", "bind9");
	struct daemon_run d;

	daemon_both(&d, "unbound", "     50 \"wild\"\n");
	assert_no_finding(&d, "unbound");
	json_t *p = ls_process(d.report);
	cr_assert_geq(json_array_size(json_object_get(p, "loops")), 2, "loops: %s",
		      json_dumps(p, JSON_INDENT(1)));
	daemon_done(&d);
}

/* nginx: the master (root; it makes no loop call, so no trace) and two
 * workers that switch to nobody before their epoll loop, each leaving a
 * trace in the root-owned 0755 trace directory; 2000 keep-alive requests,
 * no finding. */
Test(real_daemons_slow, nginx_serves_the_same_and_its_workers_leave_traces)
{
	daemon_need("/usr/sbin/nginx", "nginx-light");
	daemon_need("/usr/bin/ab", "apache2-utils");
	daemon_need("/usr/bin/curl", "curl");
	struct daemon_run d;

	daemon_both(&d, "nginx", "Complete requests:      2000\nFailed requests:        0\n");
	cr_assert_eq(ls_count_traces(d.traces), 2, "%d traces, not one per worker:\n%s",
		     ls_count_traces(d.traces), json_dumps(json_object_get(d.report, "processes"),
							  JSON_INDENT(1)));
	assert_no_finding(&d, "nginx");
	daemon_done(&d);
}

/* transmission-daemon takes a torrent over RPC, verifies, stops and removes
 * it. True findings: its signal thread calls event_base_loopexit on the
 * main base, which has no libevent locking (wrong-thread); it fsyncs its
 * settings and resume files on loop threads, and its RPC handler sleeps
 * (tr_wait_msec) on the session thread (blocking-call), a callback that is
 * then slow (slow-callback). */
Test(real_daemons_slow, transmission_daemon_replies_the_same_and_its_loopexit_is_cross_thread)
{
	daemon_need("/usr/bin/transmission-daemon", "transmission-daemon");
	daemon_need("/usr/bin/transmission-remote", "transmission-cli");
	struct daemon_run d;

	daemon_both(&d, "transmission", "  Hash: ");
	cr_assert(strstr(d.out, "responded: \"success\"\n"), "%s", d.out);
	const char *kinds[] = {"wrong-thread", "blocking-call", "slow-callback", NULL};
	daemon_assert_kinds(d.report, kinds);
	json_t *wt = ls_only_finding(d.report, "wrong-thread", NULL);
	cr_assert_str_eq(ls_str(wt, "api"), "event_base_loopexit");
	json_t *f;
	size_t i;
	json_array_foreach(json_object_get(d.report, "findings"), i, f) {
		if (strcmp(ls_str(f, "kind"), "blocking-call"))
			continue;
		const char *api = ls_str(f, "api");
		cr_assert(!strcmp(api, "fsync") || !strcmp(api, "fdatasync") ||
				  !strcmp(api, "nanosleep"),
			  "an unexpected blocking call:\n%s", json_dumps(f, JSON_INDENT(1)));
	}
	daemon_done(&d);
}

/* tor with its network off answers its control port. True findings: at
 * exit it frees its event_base with the signal events handle_signals made
 * still added (pending-at-close) and never frees some of them
 * (unclosed-handle); harmless. */
Test(real_daemons_slow, tor_replies_the_same_and_leaves_its_signal_events_open)
{
	daemon_need("/usr/sbin/tor", "tor");
	daemon_need("/usr/bin/nc", "netcat-openbsd");
	struct daemon_run d;

	daemon_both(&d, "tor", "250 closing connection\n");
	cr_assert(strstr(d.out, "250-version="), "%s", d.out);
	const char *kinds[] = {"pending-at-close", "unclosed-handle", NULL};
	daemon_assert_kinds(d.report, kinds);
	cr_assert_gt(ls_count(d.report, "pending-at-close", NULL), 0, "%s",
		     daemon_findings_text(d.report));
	assert_all_at(&d, "pending-at-close", "created_at", "handle_signals");
	assert_all_at(&d, "unclosed-handle", "created_at", "handle_signals");
	daemon_done(&d);
}
