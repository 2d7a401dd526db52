/* libevent programs get the same findings as libuv ones, with the libevent
 * function as the api: each kind proven on a real libevent fixture with the
 * bug, next to its twin without it. Also: the old API, the callbacks of
 * bufferevents, listeners, evhttp and evdns, getters that give the program
 * its own callbacks back, and libev's libevent emulation left alone. */
#include "tests/harness.h"

LS_SUITE(libevent);

/* The one site of callback in stats (borrowed), checking its api. */
static json_t *site_of(json_t *stats, const char *callback, const char *api)
{
	json_t *s = ls_stats_site(stats, callback);
	cr_assert_str_eq(ls_str(s, "api"), api, "api of %s", callback);
	return s;
}

/* Runs fixture [arg] under the shim; its report and (when stats is not
 * NULL) its stats. The fixture must exit 0. */
static json_t *run(const char *fixture, const char *arg, json_t **stats, struct ls_run *out)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture_arg(&r, fixture, dir, true, NULL, arg);
	cr_assert_eq(ls_exit_code(&r), 0, "%s %s:\n%s", fixture, arg ? arg : "", r.err);
	if (out)
		*out = r;
	else
		ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	if (stats)
		*stats = ls_stats_json(trace);
	free(trace);
	return rep;
}

/* The process's loop threads: the entry of tid, or NULL. Borrowed. */
static json_t *loop_of(json_t *rep, long tid)
{
	json_t *loops = json_object_get(ls_process(rep), "loops"), *l;
	size_t i;

	cr_assert(json_is_array(loops), "no loops[] in processes[0]");
	json_array_foreach(loops, i, l)
		if (ls_int(l, "tid") == tid)
			return l;
	return NULL;
}

/* ---- slow-callback ----------------------------------------------------------- */

Test(libevent, slow_bufferevent_read_callback_is_reported_with_its_setcb_site)
{
	json_t *st;
	json_t *rep = run("ev_slow", NULL, &st, NULL);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_read");
	long pid = ls_int(ls_process(rep), "pid");

	cr_assert_str_eq(ls_str(f, "api"), "bufferevent_setcb");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_geq(ls_num(f, "max_ms"), 290.0, "usleep(300 ms) took %f ms?", ls_num(f, "max_ms"));
	ls_assert_thread(f, pid, "ev_slow");
	ls_assert_frame(f, "created_at", 0, "start_reader", "ev_slow.c",
			ls_marker_line("ev_slow", "setcb"));
	ls_assert_frame(f, "created_at", 1, "run_new_api", "ev_slow.c",
			ls_marker_line("ev_slow", "call_start_reader"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1, "only the slow read:\n%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	/* The fast callbacks ran under the shim too, each once per run, and
	 * libevent's own callbacks (loopexit's, the bufferevent's events) were
	 * never wrapped: three sites, no more. */
	cr_assert_eq(ls_int(site_of(st, "on_tick", "event_new"), "count"), 5);
	cr_assert_eq(ls_int(site_of(st, "on_once", "event_base_once"), "count"), 1);
	cr_assert_eq(json_array_size(json_object_get(st, "sites")), 3, "%s",
		     json_dumps(json_object_get(st, "sites"), JSON_INDENT(1)));
	json_t *loop = loop_of(rep, pid);
	cr_assert_not_null(loop, "the main thread ran the base");
	cr_assert_str_eq(ls_str(loop, "api"), "event_base_dispatch");
	json_decref(st);
	json_decref(rep);
}

Test(libevent, fast_bufferevent_read_callback_is_not_reported)
{
	json_t *st;
	json_t *rep = run("ev_slow", "fixed", &st, NULL);

	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	cr_assert_eq(ls_int(site_of(st, "on_slow_read", "bufferevent_setcb"), "count"), 1);
	json_decref(st);
	json_decref(rep);
}

Test(libevent, old_api_slow_timer_is_reported_with_its_event_set_site)
{
	json_t *st;
	json_t *rep = run("ev_slow", "old", &st, NULL);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_old_slow");

	cr_assert_str_eq(ls_str(f, "api"), "event_set");
	cr_assert_geq(ls_num(f, "max_ms"), 290.0);
	ls_assert_frame(f, "created_at", 0, "run_old_api", "ev_slow.c",
			ls_marker_line("ev_slow", "old_slow_set"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	cr_assert_eq(ls_int(site_of(st, "on_old_tick", "event_set"), "count"), 5);
	cr_assert_eq(ls_int(site_of(st, "on_old_read", "bufferevent_new"), "count"), 1);
	cr_assert_eq(ls_int(site_of(st, "on_once", "event_once"), "count"), 1);
	/* event_loopexit's own once-callback is libevent's, not the program's. */
	cr_assert_eq(json_array_size(json_object_get(st, "sites")), 4, "%s",
		     json_dumps(json_object_get(st, "sites"), JSON_INDENT(1)));
	json_t *loop = loop_of(rep, ls_int(ls_process(rep), "pid"));
	cr_assert_not_null(loop);
	cr_assert_str_eq(ls_str(loop, "api"), "event_dispatch");
	json_decref(st);
	json_decref(rep);
}

/* An event given its callback again and again from its own callbacks
 * (event_assign; event_set and event_base_set), mostly unchanged (the shim
 * then writes nothing and takes no lock), now and then with another
 * argument, from another line, with another callback; a bufferevent's
 * read callback changed while it runs. Each run counts under the site that
 * armed it and gets the argument it was given (fails if the shim's
 * lock-free re-registration or a thread's copy of an entry missed a
 * change). */
Test(libevent, events_given_their_callback_again_count_each_run_under_the_site_that_armed_it)
{
	json_t *st;
	struct ls_run r;
	json_t *rep = run("ev_rearm", NULL, &st, &r);

	cr_assert_str_eq(r.out, "a=3 b=40 old=40 c=1 r1=1 r2=1\n");
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	const struct {
		const char *cb, *api, *marker;
		long count;
	} want[] = {
		{ "on_a", "event_assign", "assign_main", 1 },
		{ "on_a", "event_assign", "a_again", 1 },
		{ "on_b", "event_assign", "a_to_b", 1 },
		{ "on_b", "event_assign", "b_again", 39 },
		{ "on_a", "event_assign", "b_to_a", 1 },
		{ "on_old", "event_set", "old_main", 1 },
		{ "on_old", "event_set", "old_again", 39 },
		{ "on_c", "event_set", "old_to_c", 1 },
		{ "on_read1", "bufferevent_setcb", "setcb_1", 1 },
		{ "on_read2", "bufferevent_setcb", "setcb_2", 1 },
	};
	size_t nwant = sizeof(want) / sizeof(want[0]), i;
	long seen[sizeof(want) / sizeof(want[0])] = { 0 };
	json_t *s;
	json_array_foreach(json_object_get(st, "sites"), i, s) {
		long line = (long)ls_int(json_object_get(s, "registered_at"), "line");
		size_t k = 0;
		while (k < nwant && !(strcmp(ls_str(s, "callback"), want[k].cb) == 0 &&
				      strcmp(ls_str(s, "api"), want[k].api) == 0 &&
				      line == ls_marker_line("ev_rearm", want[k].marker)))
			k++;
		cr_assert_lt(k, nwant, "a site nobody armed: %s by %s at line %ld",
			     ls_str(s, "callback"), ls_str(s, "api"), line);
		seen[k] += (long)ls_int(s, "count");
	}
	for (size_t k = 0; k < nwant; k++)
		cr_assert_eq(seen[k], want[k].count, "%s armed at @%s ran %ld times, not %ld",
			     want[k].cb, want[k].marker, seen[k], want[k].count);
	ls_run_free(&r);
	json_decref(st);
	json_decref(rep);
}

/* ---- wrong-thread ------------------------------------------------------------ */

Test(libevent, event_add_from_another_thread_on_an_unlocked_base_is_reported)
{
	json_t *rep = run("ev_wrong_thread", NULL, NULL, NULL);
	json_t *f = ls_only_finding(rep, "wrong-thread", NULL);
	long pid = ls_int(ls_process(rep), "pid");

	cr_assert_str_eq(ls_str(f, "api"), "event_add");
	cr_assert_eq(ls_int(f, "count"), 1);
	cr_assert_str_eq(ls_str(json_object_get(f, "thread"), "name"), "worker");
	cr_assert_eq(ls_int(json_object_get(f, "loop_thread"), "tid"), pid);
	ls_assert_frame(f, "called_at", 0, "schedule_reminder", "ev_wrong_thread.c",
			ls_marker_line("ev_wrong_thread", "wrong_call"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
	json_decref(rep);
}

Test(libevent, cross_thread_add_and_active_are_legal_after_evthread_use_pthreads)
{
	struct ls_run r;
	json_t *rep = run("ev_wrong_thread", "locked", NULL, &r);

	cr_assert(strstr(r.out, "poked") && strstr(r.out, "reminder"), "%s", r.out);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	ls_run_free(&r);
	json_decref(rep);
}

Test(libevent, one_base_per_thread_is_fine_and_each_thread_is_a_loop_thread)
{
	struct ls_run r;
	json_t *rep = run("ev_wrong_thread", "own", NULL, &r);
	json_t *loops = json_object_get(ls_process(rep), "loops"), *l;
	size_t i, own = 0;

	cr_assert_str_eq(r.out, "own 3 3\n");
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_array_foreach(loops, i, l)
		own += strcmp(ls_str(l, "name"), "own-loop") == 0;
	cr_assert_eq(own, 2, "two threads ran a base each:\n%s", json_dumps(loops, JSON_INDENT(1)));
	ls_run_free(&r);
	json_decref(rep);
}

/* ---- pending-at-close, unclosed-handle ---------------------------------------- */

/* The one finding of kind whose handle is type; borrowed. */
static json_t *by_handle(json_t *rep, const char *kind, const char *type)
{
	json_t *all = ls_findings(rep, kind, NULL), *f, *hit = NULL;
	size_t i, n = 0;

	json_array_foreach(all, i, f) {
		if (!strcmp(ls_str(f, "handle"), type)) {
			hit = f;
			n++;
		}
	}
	cr_assert_eq(n, 1, "expected one %s for a %s:\n%s", kind, type,
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(all);
	return hit;
}

Test(libevent, events_still_added_at_event_base_free_are_pending_at_close)
{
	json_t *rep = run("ev_lifecycle", "pending", NULL, NULL);
	json_t *ev = by_handle(rep, "pending-at-close", "event");
	json_t *once = by_handle(rep, "pending-at-close", "once");

	cr_assert_str_eq(ls_str(ev, "api"), "event_new");
	cr_assert_str_eq(ls_str(ev, "callback"), "on_never");
	cr_assert_not(ls_bool(ev, "at_exit"));
	ls_assert_frame(ev, "created_at", 0, "pending", "ev_lifecycle.c",
			ls_marker_line("ev_lifecycle", "pending_new"));
	cr_assert_str_eq(ls_str(once, "api"), "event_base_once");
	cr_assert_str_eq(ls_str(once, "callback"), "on_never");
	ls_assert_frame(once, "created_at", 0, "pending", "ev_lifecycle.c",
			ls_marker_line("ev_lifecycle", "pending_once"));
	/* Reported at the base's free, not again at exit. */
	cr_assert_eq(ls_count(rep, NULL, NULL), 2);
	json_decref(rep);
}

Test(libevent, events_and_bufferevents_never_freed_are_unclosed_at_exit)
{
	json_t *rep = run("ev_lifecycle", "unclosed", NULL, NULL);
	json_t *ev = by_handle(rep, "unclosed-handle", "event");
	json_t *bev = by_handle(rep, "unclosed-handle", "bufferevent");

	cr_assert_str_eq(ls_str(ev, "api"), "event_new");
	cr_assert_str_eq(ls_str(ev, "callback"), "on_never");
	cr_assert(ls_bool(ev, "at_exit"));
	ls_assert_frame(ev, "created_at", 0, "unclosed", "ev_lifecycle.c",
			ls_marker_line("ev_lifecycle", "leak_event"));
	cr_assert_str_eq(ls_str(bev, "api"), "bufferevent_socket_new");
	ls_assert_frame(bev, "created_at", 0, "unclosed", "ev_lifecycle.c",
			ls_marker_line("ev_lifecycle", "leak_bev"));
	cr_assert_eq(ls_count(rep, NULL, NULL), 2);
	json_decref(rep);
}

Test(libevent, a_tidy_life_cycle_is_fine)
{
	struct ls_run r;
	json_t *rep = run("ev_lifecycle", "fixed", NULL, &r);

	cr_assert_str_eq(r.out, "ready 2\nfixed done\n");
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	ls_run_free(&r);
	json_decref(rep);
}

/* ---- handle-misuse ------------------------------------------------------------ */

static void assert_misuse(json_t *rep, const char *api, const char *what, const char *call_marker,
			  const char *fn, const char *new_marker)
{
	json_t *f = ls_only_finding(rep, "handle-misuse", NULL);

	cr_assert_str_eq(ls_str(f, "api"), api);
	cr_assert_str_eq(ls_str(f, "misuse"), what);
	ls_assert_frame(f, "called_at", 0, fn, "ev_lifecycle.c",
			ls_marker_line("ev_lifecycle", call_marker));
	if (new_marker)
		ls_assert_frame(f, "created_at", 0, fn, "ev_lifecycle.c",
				ls_marker_line("ev_lifecycle", new_marker));
	cr_assert_eq(ls_count(rep, NULL, NULL), 1);
}

Test(libevent, adding_a_freed_event_is_a_handle_misuse)
{
	json_t *rep = run("ev_lifecycle", "freed_add", NULL, NULL);
	assert_misuse(rep, "event_add", "used an event that was freed", "add_freed", "freed_add",
		      "freed_new");
	json_decref(rep);
}

Test(libevent, freeing_an_event_twice_is_recorded_before_malloc_aborts)
{
	int status;
	json_t *rep = ls_fixture_report("ev_lifecycle", "double_free", NULL, &status);

	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		  "glibc aborts on the double free, as without the shim (status %d)", status);
	assert_misuse(rep, "event_free", "freed an event that was already freed", "free_twice",
		      "double_free", NULL);
	json_decref(rep);
}

Test(libevent, freeing_an_event_after_its_base_is_a_handle_misuse)
{
	json_t *rep = run("ev_lifecycle", "base_freed", NULL, NULL);
	assert_misuse(rep, "event_free", "used an event whose event_base was freed", "free_orphan",
		      "base_freed", "orphan_new");
	json_decref(rep);
}

/* ---- crash-in-callback -------------------------------------------------------- */

Test(libevent, crash_in_a_once_callback_is_reported_with_its_site)
{
	int status;
	json_t *rep = ls_fixture_report("ev_crash", NULL, NULL, &status);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_job");

	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %d", status);
	cr_assert_str_eq(ls_str(f, "api"), "event_base_once");
	cr_assert_str_eq(ls_str(f, "signal"), "SIGSEGV");
	ls_assert_frame(f, "created_at", 0, "start_job_timer", "ev_crash.c",
			ls_marker_line("ev_crash", "job_once"));
	json_decref(rep);
}

Test(libevent, a_callback_that_checks_first_does_not_crash)
{
	json_t *rep = run("ev_crash", "fixed", NULL, NULL);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
}

/* ---- listeners, evhttp, evdns, getters ---------------------------------------- */

Test(libevent, listener_evhttp_evdns_and_getters_behave_the_same_under_the_shim)
{
	struct ls_run plain, traced;
	json_t *st;

	ls_run_fixture_arg(&plain, "ev_extra", ls_tmpdir(), false, NULL, NULL);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s", plain.err);
	cr_assert_null(strstr(plain.out, "WRONG"), "%s", plain.out);
	json_t *rep = run("ev_extra", NULL, &st, &traced);
	cr_assert_str_eq(traced.out, plain.out, "stdout differs under the shim");
	cr_assert_str_eq(traced.err, plain.err, "stderr differs under the shim");
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	static const char *const sites[][2] = {
		{ "on_accept", "evconnlistener_new_bind" },
		{ "on_path", "evhttp_set_cb" },
		{ "on_other", "evhttp_set_gencb" },
		{ "on_resolved", "evdns_getaddrinfo" },
		{ "on_pair_read", "bufferevent_setcb" },
		{ "on_pair_write", "bufferevent_setcb(writecb)" },
		{ "on_echo_read", "bufferevent_setcb" },
		{ "on_echo_event", "bufferevent_setcb(eventcb)" },
		{ "on_client_read", "bufferevent_setcb" },
	};
	for (size_t i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
		cr_assert_eq(ls_int(site_of(st, sites[i][0], sites[i][1]), "count"), 1, "%s",
			     sites[i][0]);
	ls_run_free(&plain);
	ls_run_free(&traced);
	json_decref(st);
	json_decref(rep);
}

Test(libevent, libev_emulation_of_the_libevent_api_is_left_alone)
{
	struct ls_run plain, traced;
	const char *dir = ls_tmpdir();

	ls_run_fixture_arg(&plain, "libev_compat", ls_tmpdir(), false, NULL, NULL);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s", plain.err);
	cr_assert(strstr(plain.out, "libev compat ok"), "%s", plain.out);
	ls_run_fixture_arg(&traced, "libev_compat", dir, true, NULL, NULL);
	cr_assert_eq(ls_exit_code(&traced), 0, "%s", traced.err);
	cr_assert_str_eq(traced.out, plain.out);
	cr_assert_str_eq(traced.err, plain.err);
	/* Nothing was wrapped or checked: libev's struct event is not
	 * libevent's. (libev's epoll_wait loop may still be seen by the
	 * selector layer, which leaves a trace.) */
	if (ls_count_traces(dir) > 0) {
		char *trace = ls_single_trace(dir);
		json_t *st = ls_stats_json(trace), *s;
		json_t *rep = ls_report_json(trace);
		size_t i;
		json_array_foreach(json_object_get(st, "sites"), i, s) {
			cr_assert(strncmp(ls_str(s, "api"), "event_", 6) != 0,
				  "the shim wrapped libev's %s", ls_str(s, "api"));
			cr_assert_str_neq(ls_str(s, "callback"), "on_tick");
		}
		cr_assert_eq(ls_count(rep, NULL, NULL), 0, "%s",
			     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
		json_t *l;
		json_array_foreach(json_object_get(ls_process(rep), "loops"), i, l)
			cr_assert(strncmp(ls_str(l, "api"), "event_", 6) != 0,
				  "libev's event_dispatch taken for libevent's");
		json_decref(st);
		json_decref(rep);
		free(trace);
	}
	ls_run_free(&plain);
	ls_run_free(&traced);
}
