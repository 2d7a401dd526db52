/* loopsan top: the top_busy fixture under the real shim, watched by the
 * real CLI, --once on stdout and the live view in a real tmux (a private
 * server per test, -L loopsan-top-<pid>, killed after the test, pass or
 * fail, with the fixture). */
#include "tests/harness.h"
#include "tests/py_harness.h"

#include <ctype.h>
#include <regex.h>

#define MAX_KIDS 4

static pid_t kids[MAX_KIDS];
static int nkids;
static char tmux_sock[64];

static char *tmux_bin(void)
{
	const char *cands[] = { "/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux" };
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0)
			return ls_fmt("%s", cands[i]);
	cr_assert_fail("tmux is not installed (scripts/deps.sh installs it)");
	return NULL;
}

static void top_fini(void)
{
	for (int i = 0; i < nkids; i++) {
		if (kids[i] > 0) {
			kill(-kids[i], SIGKILL);
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	}
	nkids = 0;
	if (tmux_sock[0]) {
		char *tmux = tmux_bin();
		pid_t p = fork();
		if (p == 0) {
			int nul = open("/dev/null", O_RDWR);
			dup2(nul, 1);
			dup2(nul, 2);
			execl(tmux, tmux, "-L", tmux_sock, "kill-server", (char *)NULL);
			_exit(127);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
		free(tmux);
		tmux_sock[0] = '\0';
	}
	ls_cleanup();
}

TestSuite(top, .fini = top_fini, .timeout = 90);

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* top_busy [long_at [long_ms]] under the shim in dir, in the background. */
static pid_t start_fixture(const char *dir, const char *long_at, const char *long_ms)
{
	char *bin = ls_fixture_bin("top_busy");
	char *pre = ls_preload_env();
	const char *env[] = { pre, NULL };
	const char *argv[] = { bin, long_at, long_ms, NULL };
	cr_assert(access(bin, X_OK) == 0, "fixture %s not built", bin);
	cr_assert(nkids < MAX_KIDS);
	pid_t pid = ls_start(dir, env, argv, -1);
	kids[nkids++] = pid;
	free(pre);
	free(bin);
	return pid;
}

static void wait_trace(const char *dir)
{
	double end = now_s() + 10;
	while (ls_count_traces(dir) != 1) {
		cr_assert(now_s() < end, "top_busy made no trace in %s", dir);
		nap_ms(50);
	}
}

/* SIGTERM: a clean exit; reaped, so that it is gone. */
static void stop_fixture(pid_t pid)
{
	int status;
	kill(pid, SIGTERM);
	double end = now_s() + 15;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		cr_assert(now_s() < end, "top_busy did not exit on SIGTERM");
		nap_ms(20);
	}
	for (int i = 0; i < nkids; i++)
		if (kids[i] == pid)
			kids[i] = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "top_busy: status %d", status);
}

/* The trace's stats as `loopsan stats --format json` gives them, or NULL
 * while there is no trace (yet). */
static json_t *stats_now(const char *dir)
{
	if (ls_count_traces(dir) != 1)
		return NULL;
	char *trace = ls_single_trace(dir);
	json_t *doc = ls_stats_json(trace);
	free(trace);
	return doc;
}

static json_int_t site_count(json_t *stats, const char *cb)
{
	json_t *sites = json_object_get(stats, "sites"), *s;
	size_t i;
	json_array_foreach(sites, i, s)
		if (strcmp(json_string_value(json_object_get(s, "callback")), cb) == 0)
			return json_integer_value(json_object_get(s, "count"));
	return 0;
}

/* Waits (10 s at most) until the fixture's trace counts its three slow
 * runs of on_slow; returns the trace's path. */
static char *wait_slow_runs(const char *dir)
{
	double end = now_s() + 10;
	for (;;) {
		json_t *st = stats_now(dir);
		json_int_t n = st ? site_count(st, "on_slow") : 0;
		json_decref(st);
		if (n >= 3)
			break;
		cr_assert(now_s() < end, "top_busy's trace never counted 3 runs of on_slow");
		nap_ms(100);
	}
	return ls_single_trace(dir);
}

/* The report's count of slow runs of cb (slow-callback's count). */
static json_int_t report_slow(const char *trace, const char *cb)
{
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", cb);
	json_int_t n = ls_int(f, "count");
	json_decref(rep);
	return n;
}

static void run_top(struct ls_run *r, const char *columns, const char *const *args)
{
	char *viewer = ls_viewer();
	char *cols = ls_fmt("COLUMNS=%s", columns);
	const char *env[] = { cols, NULL };
	const char *argv[16];
	size_t n = 0;
	argv[n++] = viewer;
	argv[n++] = "top";
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ls_run(r, NULL, env, argv);
	free(cols);
	free(viewer);
}

/* The value under column title (CALLS/S, SLOW, ...; the sort column's
 * title has a '*' before it) in the row of callback cb; NULL when there is
 * no such row or column. Freed by the caller. */
static char *cell_of(const char *out, const char *title, const char *cb)
{
	char *copy = ls_fmt("%s", out), *save = NULL, *hdr = NULL, *found = NULL;
	char *want = ls_fmt(" %s ", cb); /* "on_fast (api) f.c:1", or narrow "on_fast f.c:1" */
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "CALLS/S") && strstr(line, "CALLBACK"))
			hdr = line;
		else if (hdr && strstr(line, want)) {
			int col = -1, k = 0;
			char *hs = NULL, *hcopy = ls_fmt("%s", hdr);
			for (char *t = strtok_r(hcopy, " ", &hs); t; t = strtok_r(NULL, " ", &hs), k++)
				if (strcmp(t[0] == '*' ? t + 1 : t, title) == 0)
					col = k;
			free(hcopy);
			k = 0;
			char *rs = NULL;
			for (char *t = strtok_r(line, " ", &rs); t && col >= 0; t = strtok_r(NULL, " ", &rs), k++)
				if (k == col) {
					found = ls_fmt("%s", t);
					break;
				}
			break;
		}
	}
	free(want);
	free(copy);
	return found;
}

static void assert_fits(const char *out, int width)
{
	const char *p = out;
	int lineno = 1;
	while (*p) {
		size_t n = strcspn(p, "\n");
		cr_assert(n <= (size_t)width, "line %d is %zu wide, more than %d:\n%.*s\n\n%s", lineno,
			  n, width, (int)n, p, out);
		p += n + (p[n] == '\n');
		lineno++;
	}
}

/* --once on cb: a row with SLOW = slow and CALLS/S > 0 (rate 1), "-"
 * (rate 0) or anything (rate -1). */
static void assert_once_row(const char *out, const char *cb, int rate, json_int_t slow)
{
	char *calls = cell_of(out, "CALLS/S", cb);
	char *sl = cell_of(out, "SLOW", cb);
	cr_assert(calls && sl, "no row with CALLS/S and SLOW for %s:\n%s", cb, out);
	if (rate > 0)
		cr_assert(strtod(calls, NULL) > 0, "%s: CALLS/S %s, not > 0:\n%s", cb, calls, out);
	else if (rate == 0)
		cr_assert_str_eq(calls, "-", "%s: CALLS/S of an exited process:\n%s", cb, out);
	cr_assert_eq(strtoll(sl, NULL, 10), slow, "%s: SLOW %s, the report says %lld:\n%s", cb, sl,
		     (long long)slow, out);
	free(calls);
	free(sl);
}

Test(top, once_on_trace_and_pid_lists_sites_with_rates_and_slow_counts)
{
	const char *dir = ls_tmpdir();
	pid_t pid = start_fixture(dir, "0", "0");
	char *trace = wait_slow_runs(dir);
	json_int_t slow = report_slow(trace, "on_slow");
	cr_assert_gt(slow, 0);
	char *pidstr = ls_fmt("%d", (int)pid);
	const char *targets[] = { trace, pidstr };
	for (size_t i = 0; i < 2; i++) {
		struct ls_run r;
		const char *args[] = { "--once", "-d", "0.5", targets[i], NULL };
		run_top(&r, "200", args);
		cr_assert_eq(ls_exit_code(&r), 0, "top --once %s: %s", targets[i], r.err);
		char *title = ls_fmt("top_busy, pid %d, running", (int)pid);
		cr_assert(strstr(r.out, title), "no '%s' in:\n%s", title, r.out);
		free(title);
		assert_fits(r.out, 200);
		assert_once_row(r.out, "on_fast", 1, 0);
		assert_once_row(r.out, "on_work", 1, 0);
		assert_once_row(r.out, "on_slow", -1, slow);
		cr_assert(strstr(r.out, "thread top-worker [tid "), "no worker thread line:\n%s", r.out);
		ls_run_free(&r);

		const char *narrow[] = { "--once", "-d", "0.3", targets[i], NULL };
		run_top(&r, "60", narrow);
		cr_assert_eq(ls_exit_code(&r), 0);
		assert_fits(r.out, 60);
		char *calls = cell_of(r.out, "CALLS/S", "on_fast");
		cr_assert(calls && strtod(calls, NULL) > 0, "COLUMNS=60, no on_fast rate:\n%s", r.out);
		free(calls);
		/* Too narrow for the api: the callback keeps where it was registered. */
		cr_assert(strstr(r.out, " on_fast top_busy.c:"), "COLUMNS=60:\n%s", r.out);
		ls_run_free(&r);
	}
	/* Exited: one read, the interval columns "-", the same slow count. */
	stop_fixture(pid);
	json_int_t slow_end = report_slow(trace, "on_slow");
	struct ls_run r;
	const char *args[] = { "--once", trace, NULL };
	run_top(&r, "200", args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.out, ", exited,"), "not exited:\n%s", r.out);
	assert_once_row(r.out, "on_fast", 0, 0);
	assert_once_row(r.out, "on_slow", 0, slow_end);
	ls_run_free(&r);
	free(pidstr);
	free(trace);
}

/* ---- tmux ---- */

static void tmux(struct ls_run *r, const char *const *args)
{
	char *bin = tmux_bin();
	const char *argv[24];
	size_t n = 0;
	if (!tmux_sock[0])
		snprintf(tmux_sock, sizeof(tmux_sock), "loopsan-top-%d", (int)getpid());
	argv[n++] = bin;
	argv[n++] = "-L";
	argv[n++] = tmux_sock;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ls_run(r, NULL, NULL, argv);
	free(bin);
}

static void tmux_ok(const char *const *args)
{
	struct ls_run r;
	tmux(&r, args);
	cr_assert_eq(ls_exit_code(&r), 0, "tmux %s: %s", args[0], r.err);
	ls_run_free(&r);
}

/* Starts cmd (a shell command) in a new detached 100x30 session. */
static void tmux_start(const char *cmd)
{
	const char *args[] = { "new-session", "-d", "-s", "top", "-x", "100", "-y", "30", cmd, NULL };
	tmux_ok(args);
}

static char *capture(int escapes)
{
	struct ls_run r;
	const char *plain[] = { "capture-pane", "-p", "-t", "top", NULL };
	const char *esc[] = { "capture-pane", "-p", "-e", "-t", "top", NULL };
	tmux(&r, escapes ? esc : plain);
	if (ls_exit_code(&r) != 0) {
		ls_run_free(&r);
		return NULL;
	}
	char *out = r.out;
	r.out = NULL;
	ls_run_free(&r);
	return out;
}

/* Polls the screen (10 s at most) until pred holds; returns the screen. */
static char *wait_screen(bool (*pred)(const char *screen, const void *arg), const void *arg,
			 const char *what)
{
	double end = now_s() + 10;
	char *last = NULL;
	for (;;) {
		char *s = capture(0);
		if (s && pred(s, arg)) {
			free(last);
			return s;
		}
		if (s) {
			free(last);
			last = s;
		}
		cr_assert(now_s() < end, "after 10 s, no %s on the screen:\n%s", what,
			  last ? last : "(no pane)");
		nap_ms(100);
	}
}

static bool has(const char *screen, const void *arg)
{
	return strstr(screen, arg) != NULL;
}

/* The thread line arg ("thread NAME [tid N]  busy ") says at least 90 %. */
static bool mostly_busy(const char *screen, const void *arg)
{
	const char *at = strstr(screen, arg);
	return at && strtod(at + strlen(arg), NULL) >= 90.0;
}

/* The screen line index of cb's row, -1 when absent. */
static int row_index(const char *screen, const char *cb)
{
	char *want = ls_fmt(" %s ", cb); /* "on_fast (api) f.c:1", or narrow "on_fast f.c:1" */
	int idx = 0, at = -1;
	for (const char *p = screen; *p && at < 0; idx++) {
		size_t n = strcspn(p, "\n");
		char *line = ls_fmt("%.*s", (int)n, p);
		if (strstr(line, want) && !strstr(line, "RUNNING"))
			at = idx;
		free(line);
		p += n + (p[n] == '\n');
	}
	free(want);
	return at;
}

struct order { const char *mark, *first, *second; };

static bool sorted_as(const char *screen, const void *arg)
{
	const struct order *o = arg;
	int a = row_index(screen, o->first), b = row_index(screen, o->second);
	return strstr(screen, o->mark) && a >= 0 && b >= 0 && a < b;
}

static bool session_gone(void)
{
	struct ls_run r;
	const char *args[] = { "has-session", "-t", "top", NULL };
	tmux(&r, args);
	bool gone = ls_exit_code(&r) != 0;
	ls_run_free(&r);
	return gone;
}

static void send_keys(const char *keys)
{
	const char *args[] = { "send-keys", "-t", "top", keys, NULL };
	tmux_ok(args);
}

/* Every line of the screen as wide as the pane at most, and the column
 * header whole on one line. */
static bool narrow_whole(const char *screen, const void *arg)
{
	(void)arg;
	for (const char *p = screen; *p;) {
		size_t n = strcspn(p, "\n");
		char *line = ls_fmt("%.*s", (int)n, p);
		bool ok = strstr(line, "CALLS/S") && strstr(line, "CALLBACK") && n <= 50;
		free(line);
		if (ok)
			return row_index(screen, "on_fast") >= 0;
		p += n + (p[n] == '\n');
	}
	return false;
}

Test(top, live_view_sorts_shows_the_running_callback_resizes_and_quits)
{
	const char *dir = ls_tmpdir();
	/* on_long: 2.5 s in, for 8 s */
	pid_t pid = start_fixture(dir, "2500", "8000");
	char *viewer = ls_viewer();
	char *cmd = ls_fmt("exec timeout 60 %s top %d", viewer, (int)pid);
	wait_trace(dir);
	tmux_start(cmd);
	free(wait_screen(has, "on_fast (uv_timer_start)", "on_fast row"));

	struct order by_max = { "*MAX", "on_slow", "on_fast" };
	send_keys("m");
	free(wait_screen(sorted_as, &by_max, "sort by max (*MAX, on_slow above on_fast)"));
	struct order by_name = { "*CALLBACK", "on_fast", "on_slow" };
	send_keys("n");
	free(wait_screen(sorted_as, &by_name, "sort by name (*CALLBACK, on_fast above on_slow)"));

	char *s = wait_screen(has, "RUNNING for", "running-now line");
	/* The running callback keeps its thread busy, though it has not ended. */
	char *busy_line = ls_fmt("thread top_busy [tid %d]  busy ", (int)pid);
	free(wait_screen(mostly_busy, busy_line, "the main thread busy while on_long runs"));
	free(busy_line);
	cr_assert(strstr(s, ": on_long at "), "the running callback is not on_long:\n%s", s);
	cr_assert(strstr(s, "top_busy.c:"), "no file:line for the running callback:\n%s", s);
	char *tid = ls_fmt("[tid %d]", (int)pid);
	cr_assert(strstr(s, tid), "not on the main thread %s:\n%s", tid, s);
	free(tid);
	free(s);

	const char *resize[] = { "resize-window", "-t", "top", "-x", "50", NULL };
	tmux_ok(resize);
	free(wait_screen(narrow_whole, NULL, "a 50-column view with its column header whole"));

	send_keys("q");
	double end = now_s() + 10;
	while (!session_gone()) {
		cr_assert(now_s() < end, "q did not end loopsan top");
		nap_ms(100);
	}
	free(cmd);
	free(viewer);
}

/* Whether the captured screen (capture-pane -e) sets a color: SGR 30-38,
 * 40-48, 90-97 or 100-107 (39 and 49, the default colors, are not). */
static bool has_color(const char *screen)
{
	regex_t re;
	regmatch_t m[2];
	cr_assert(regcomp(&re, "\x1b\\[([0-9;]*)m", REG_EXTENDED) == 0);
	bool found = false;
	for (const char *p = screen; !found && regexec(&re, p, 2, m, 0) == 0; p += m[0].rm_eo) {
		char *params = ls_fmt("%.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
		char *save = NULL;
		for (char *t = strtok_r(params, ";", &save); t && !found; t = strtok_r(NULL, ";", &save)) {
			int v = atoi(t);
			found = (v >= 30 && v <= 38) || (v >= 40 && v <= 48) || (v >= 90 && v <= 97) ||
				(v >= 100 && v <= 107);
		}
		free(params);
	}
	regfree(&re);
	return found;
}

static void color_run(const char *env, bool want_color)
{
	const char *dir = ls_tmpdir();
	pid_t pid = start_fixture(dir, "0", "0");
	wait_trace(dir);
	char *trace = ls_single_trace(dir);
	char *viewer = ls_viewer();
	char *cmd = ls_fmt("exec env %s timeout 60 %s top %s", env, viewer, trace);
	tmux_start(cmd);
	free(wait_screen(has, "thread top-worker", "thread line"));
	char *esc = capture(1);
	cr_assert(esc);
	cr_assert_eq(has_color(esc), want_color, "%s: color escapes %s expected:\n%s", env,
		     want_color ? "" : "not", esc);
	free(esc);

	/* The trace moved away: a message, the last numbers; then back. */
	char *moved = ls_fmt("%s.moved", trace);
	cr_assert(rename(trace, moved) == 0);
	free(wait_screen(has, "cannot read the trace (last numbers kept)", "message for the vanished trace"));
	char *s = capture(0);
	cr_assert(row_index(s, "on_fast") >= 0, "rows gone with the trace:\n%s", s);
	free(s);
	cr_assert(rename(moved, trace) == 0);

	/* The process exits: "exited", its last numbers kept. */
	stop_fixture(pid);
	s = wait_screen(has, ", exited, up", "exited");
	cr_assert(row_index(s, "on_fast") >= 0, "rows gone after the exit:\n%s", s);
	free(s);
	send_keys("q");
	free(moved);
	free(cmd);
	free(viewer);
	free(trace);
}

Test(top, default_colors_and_exit_shown)
{
	color_run("LOOPSAN_TOP_TEST=1", true);
}

Test(top, no_color_gives_no_color_escapes)
{
	color_run("NO_COLOR=1", false);
}

static bool two_snapshots(const char *screen, const void *arg)
{
	(void)arg;
	const char *a = strstr(screen, "loopsan top - top_busy");
	return a && strstr(a + 1, "loopsan top - top_busy");
}

Test(top, term_dumb_prints_plain_snapshots_until_the_process_exits)
{
	const char *dir = ls_tmpdir();
	pid_t pid = start_fixture(dir, "0", "0");
	wait_trace(dir);
	char *viewer = ls_viewer();
	char *cmd = ls_fmt("TERM=dumb timeout 60 %s top -d 0.3 %d; echo top-exit=$?; sleep 60",
			   viewer, (int)pid);
	tmux_start(cmd);
	free(wait_screen(two_snapshots, NULL, "two plain snapshots"));
	char *esc = capture(1);
	cr_assert(esc && !strchr(esc, '\x1b'), "escapes with TERM=dumb:\n%s", esc);
	free(esc);
	stop_fixture(pid);
	char *s = wait_screen(has, "top-exit=0", "top exiting 0 after the process");
	cr_assert(strstr(s, ", exited, up"), "no exited snapshot:\n%s", s);
	free(s);
	free(cmd);
	free(viewer);
}

/* A long run counts toward busy % for its part in each interval, while it
 * runs and when it ends (never over 100 %), and a site that ran no more
 * shows no calls, though each read converts ticks at a rate it estimates
 * anew. */
Test(top, a_long_run_spreads_over_the_intervals_and_idle_sites_stay_idle)
{
	const char *dir = ls_tmpdir();
	pid_t pid = start_fixture(dir, "1500", "1500"); /* on_long 1.5 s in, 1.5 s */
	wait_trace(dir);
	char *viewer = ls_viewer();
	char *p = ls_fmt("%d", (int)pid);
	const char *argv[] = { "/usr/bin/timeout", "5", viewer, "top", "-d", "0.25", p, NULL };
	const char *env[] = { "COLUMNS=120", "TERM=dumb", NULL };
	struct ls_run r;
	ls_run(&r, NULL, env, argv);
	stop_fixture(pid);
	char *busy_line = ls_fmt("thread top_busy [tid %d]  busy ", (int)pid);
	int late = 0, running = 0;
	for (char *snap = strstr(r.out, "loopsan top - "); snap;) {
		char *next = strstr(snap + 1, "loopsan top - ");
		if (next)
			next[-1] = '\0';
		const char *up = strstr(snap, ", up ");
		cr_assert(up, "%s", snap);
		const char *b = strstr(snap, busy_line);
		if (b) {
			double busy = strtod(b + strlen(busy_line), NULL);
			cr_assert(busy <= 100.5, "busy %.1f%% over the interval:\n%s", busy, snap);
			const char *run = strstr(snap, "RUNNING for ");
			/* running for 0.6 s or more: the whole interval (0.25 s and a read) */
			if (run && strstr(run, ": on_long at ") && strtod(run + 12, NULL) >= 0.6) {
				cr_assert(busy >= 90, "busy %.1f%% while on_long runs:\n%s", busy, snap);
				running++;
			}
		}
		if (strtod(up + 5, NULL) >= 2.0) { /* on_slow's three runs are over */
			const char *row = strstr(snap, " on_slow (");
			cr_assert(row, "%s", snap);
			while (row > snap && row[-1] != '\n')
				row--;
			cr_assert_eq(strtod(row, NULL), 0.0, "on_slow has calls again:\n%s", snap);
			late++;
		}
		snap = next;
	}
	cr_assert(late >= 3 && running >= 1, "too few snapshots (%d late, %d running):\n%s", late,
		  running, r.out);
	ls_run_free(&r);
	free(busy_line);
	free(p);
	free(viewer);
}

/* An asyncio program: its Python callbacks by name, and no row for a
 * watchdog sample whose run ended (it had made one with no name, "?"). */
Test(top, a_python_program_s_tasks_by_name_and_no_nameless_rows)
{
	char *script = ls_py_file("viewer/fixtures", "top_tasks.py");
	char *trace = ls_py_run(LS_PY_DEBIAN, script, NULL, NULL, "");
	const char *args[] = { "--once", trace, NULL };
	struct ls_run r;
	run_top(&r, "120", args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *slow = cell_of(r.out, "SLOW", "Task handler()");
	cr_assert(slow, "no Task handler() row:\n%s", r.out);
	free(slow);
	cr_assert_null(strstr(r.out, " ? ("), "a nameless row:\n%s", r.out);
	ls_run_free(&r);
	free(trace);
	free(script);
}

/* ---- bad input ---- */

static void assert_usage_error(const char *const *args, const char *needle)
{
	struct ls_run r;
	run_top(&r, "80", args);
	cr_assert_eq(ls_exit_code(&r), 2, "top %s: exit %d, not 2\n%s", args[0], ls_exit_code(&r),
		     r.err);
	cr_assert_eq(r.out_len, 0, "stdout:\n%s", r.out);
	cr_assert(!strncmp(r.err, "loopsan: ", 9) && strchr(r.err, '\n') == r.err + r.err_len - 1,
		  "not one 'loopsan: ' line:\n%s", r.err);
	cr_assert(strstr(r.err, needle), "no '%s' in: %s", needle, r.err);
	ls_run_free(&r);
}

Test(top, bad_input_gives_one_line_and_exit_2)
{
	const char *dir = ls_tmpdir();
	/* a pid nobody has: a child already reaped */
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	char *gone_s = ls_fmt("%d", (int)gone);
	const char *a1[] = { gone_s, NULL };
	assert_usage_error(a1, "no process with pid");

	char *self = ls_fmt("%d", (int)getpid());
	const char *a2[] = { "--once", self, NULL };
	assert_usage_error(a2, "has no trace mapped (not run under loopsan, or no loop yet)");

	char *junk = ls_fmt("%s/junk.trace", dir);
	FILE *f = fopen(junk, "w");
	cr_assert(f);
	fputs("this is not a trace, just some text long enough\n", f);
	fclose(f);
	const char *a3[] = { "--once", junk, NULL };
	assert_usage_error(a3, "not a loopsan trace");
	char *missing = ls_fmt("%s/none.trace", dir);
	const char *a4[] = { "--once", missing, NULL };
	assert_usage_error(a4, "none.trace");

	const char *a5[] = { "--sort", "bogus", junk, NULL };
	assert_usage_error(a5, "unknown sort key 'bogus'");
	const char *a6[] = { "-d", "0", junk, NULL };
	assert_usage_error(a6, "bad interval '0'");
	const char *a7[] = { "--interval=abc", junk, NULL };
	assert_usage_error(a7, "bad interval 'abc'");
	const char *a8[] = { "--once", NULL };
	assert_usage_error(a8, "no PID or TRACE");
	const char *a9[] = { junk, junk, NULL };
	assert_usage_error(a9, "one PID or TRACE at a time");
	const char *a10[] = { "--bogus", junk, NULL };
	assert_usage_error(a10, "unknown option '--bogus'");

	/* Another user's process: its maps cannot be read. */
	pid_t pid = start_fixture(ls_tmpdir(), "0", "0");
	char *pids = ls_fmt("%d", (int)pid);
	char *viewer = ls_viewer();
	const char *argv[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
			       "--clear-groups", viewer, "top", "--once", pids, NULL };
	cr_assert(access(argv[0], X_OK) == 0, "setpriv (util-linux) is not installed");
	struct ls_run r;
	ls_run(&r, "/", NULL, argv);
	cr_assert_eq(ls_exit_code(&r), 2, "as nobody: exit %d\n%s%s", ls_exit_code(&r), r.out, r.err);
	cr_assert(strstr(r.err, "permission denied") && strchr(r.err, '\n') == r.err + r.err_len - 1,
		  "as nobody: %s", r.err);
	ls_run_free(&r);
	free(viewer);
	free(pids);
	free(missing);
	free(junk);
	free(self);
	free(gone_s);
}

Test(top, help_names_keys_columns_and_environment)
{
	struct ls_run r;
	const char *args[] = { "--help", NULL };
	run_top(&r, "80", args);
	cr_assert_eq(ls_exit_code(&r), 0);
	const char *words[] = { "--once", "--interval", "--sort", "NO_COLOR", "TERM=dumb",
				"/proc/PID/maps", "CALLS/S", "BUSY", "SLOW", "q quit", "PgUp",
				"RUNNING", NULL };
	for (size_t i = 0; words[i]; i++)
		cr_assert(strstr(r.out, words[i]), "no '%s' in top --help:\n%s", words[i], r.out);
	ls_run_free(&r);
}
