/* Real programs that link Debian's libuv run under the shim unchanged, and
 * their traces name their loop thread and their callbacks:
 *
 * - a Python asyncio program on uvloop (tests/real/uvloop_echo.py, run by
 *   Debian's /usr/bin/python3: python3-uvloop's extension links the system
 *   libuv and is dlopen()ed RTLD_LOCAL, so the shim must find libuv's real
 *   functions without RTLD_NEXT), with a callback that blocks for 0.3 s;
 * - nvim --headless running tests/real/probe.lua (luv timers, uv_spawn and
 *   pipes through vim.fn.system, uv_fs_stat);
 * - kresd (knot-resolver), started with tests/real/kresd.conf in a private
 *   network namespace, quitting by itself.
 *
 * Each is optional at run time: a test skips, saying why, when its program
 * is missing. scripts/deps.sh installs them (neovim, python3-uvloop,
 * knot-resolver), so `make test` runs them. */
#include "tests/harness.h"

LS_SUITE(real_programs);

#ifndef PYTHON
#define PYTHON "/usr/bin/python3"
#endif
#ifndef NVIM
#define NVIM "/usr/bin/nvim"
#endif

static char *real_script(const char *name)
{
	char *repo = ls_repo();
	char *p = ls_fmt("%s/tests/real/%s", repo, name);

	free(repo);
	cr_assert(access(p, R_OK) == 0, "%s: %s", p, strerror(errno));
	return p;
}

/* stderr without the shim's own "loopsan: ..." lines (the summary at exit). */
static char *without_loopsan_lines(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	cr_assert(out);
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
		if (strncmp(s, "loopsan: ", 9)) {
			memcpy(o, s, len);
			o += len;
		}
		s += len;
	}
	*o = '\0';
	return out;
}

/* Runs argv in dir, under the shim when preload, with env_extra (may be
 * NULL) added. */
static void run_real(struct ls_run *r, const char *dir, bool preload,
		     const char *const *env_extra, const char *const *argv)
{
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[8];
	size_t n = 0;

	if (preload) {
		cr_assert(access(shim, R_OK) == 0, "shim %s not built", shim);
		env[n++] = pre;
	}
	for (size_t i = 0; env_extra && env_extra[i]; i++) {
		cr_assert(n < 7);
		env[n++] = env_extra[i];
	}
	env[n] = NULL;
	ls_run(r, dir, env, argv);
	free(shim);
	free(pre);
}

/* Asserts both runs exited the same way with the same stdout and the same
 * stderr, the shim's "loopsan:" lines aside. */
static void assert_same_output(const char *what, struct ls_run *plain, struct ls_run *traced)
{
	int pc = ls_exit_code(plain), tc = ls_exit_code(traced);

	cr_assert_eq(pc, tc, "%s: exit %d without the shim, %d with it\nstderr with:\n%s", what,
		     pc, tc, traced->err);
	cr_assert_str_eq(plain->out, traced->out, "%s: stdout differs under the shim", what);
	char *pe = without_loopsan_lines(plain->err), *te = without_loopsan_lines(traced->err);
	cr_assert_str_eq(pe, te, "%s: stderr differs under the shim", what);
	free(pe);
	free(te);
}

/* The sites of api in stats, and the largest count among them. */
static size_t stats_sites(json_t *stats, const char *api, json_int_t *max_count)
{
	json_t *s;
	size_t i, n = 0;

	*max_count = 0;
	json_array_foreach(json_object_get(stats, "sites"), i, s) {
		if (strcmp(ls_str(s, "api"), api))
			continue;
		n++;
		if (ls_int(s, "count") > *max_count)
			*max_count = ls_int(s, "count");
	}
	return n;
}

/* ---- uvloop ----------------------------------------------------------------- */

static void need_uvloop(void)
{
	if (access(PYTHON, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install python3-uvloop)", PYTHON);
	struct ls_run r;
	const char *argv[] = {PYTHON, "-c", "import uvloop", NULL};
	run_real(&r, NULL, false, NULL, argv);
	bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
	ls_run_free(&r);
	if (!ok)
		cr_skip_test("%s has no uvloop module (apt-get install python3-uvloop)", PYTHON);
}

static void run_uvloop(struct ls_run *r, const char *dir, bool preload)
{
	char *script = real_script("uvloop_echo.py");
	const char *env[] = {"PYTHONDONTWRITEBYTECODE=1", NULL};
	const char *argv[] = {PYTHON, script, NULL};

	run_real(r, dir, preload, env, argv);
	free(script);
}

static const char uvloop_expected_out[] = "echo ok\n"
					  "slow callback ok\n"
					  "getaddrinfo ok\n"
					  "subprocess exit 0\n"
					  "woken by thread\n"
					  "uvloop ok\n";

Test(real_programs, uvloop_output_and_exit_status_are_the_same_with_and_without_the_shim)
{
	need_uvloop();
	struct ls_run plain, traced;

	run_uvloop(&plain, ls_tmpdir(), false);
	cr_assert_eq(ls_exit_code(&plain), 0, "uvloop script failed without the shim:\n%s",
		     plain.err);
	cr_assert_str_eq(plain.out, uvloop_expected_out);
	run_uvloop(&traced, ls_tmpdir(), true);
	assert_same_output("uvloop", &plain, &traced);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

/* Runs the uvloop script under the shim; its trace. */
static char *uvloop_trace(void)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_uvloop(&r, dir, true);
	cr_assert_eq(ls_exit_code(&r), 0, "uvloop script failed under the shim:\n%s", r.err);
	cr_assert_str_eq(r.out, uvloop_expected_out);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

Test(real_programs, uvloop_slow_call_soon_callback_is_reported_on_the_main_thread)
{
	need_uvloop();
	char *trace = uvloop_trace();
	long pid = ls_trace_pid(trace);
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);

	cr_assert_eq(ls_int(proc, "pid"), pid);
	cr_assert(!strncmp(ls_str(proc, "exe"), "python3", 7), "exe: %s", ls_str(proc, "exe"));

	json_t *slow = ls_findings(rep, "slow-callback", NULL), *f, *found = NULL;
	size_t i;
	json_array_foreach(slow, i, f) {
		if (ls_num(f, "max_ms") >= 290.0) {
			cr_assert_null(found, "two slow callbacks of >= 290 ms:\n%s",
				       json_dumps(slow, JSON_INDENT(1)));
			found = f;
		}
	}
	cr_assert_not_null(found, "no slow callback of >= 290 ms (the time.sleep(0.3)); findings:\n%s",
			   json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	/* The loop runs on the main thread. */
	json_t *t = json_object_get(found, "thread");
	cr_assert_eq(ls_int(t, "tid"), pid, "slow callback on thread %lld, not the main thread",
		     (long long)ls_int(t, "tid"));
	cr_assert_eq(ls_int(found, "pid"), pid);
	/* uvloop never hands a Python callable to libuv: call_soon() appends a
	 * Handle to the loop's ready queue and starts an idle handle
	 * (handler_idle), whose C callback runs the whole queue. So the slow
	 * run is that libuv callback, registered by uv_idle_start (observed
	 * with uvloop 0.17 on Debian 12). Any uv_* API would be a libuv
	 * callback; a loop-phase handle (idle, or check/prepare in another
	 * uvloop version) is what can run the ready queue. */
	const char *api = ls_str(found, "api");
	cr_assert(!strncmp(api, "uv_", 3), "api is not a libuv API: %s", api);
	cr_assert(!strcmp(api, "uv_idle_start") || !strcmp(api, "uv_check_start") ||
			  !strcmp(api, "uv_prepare_start"),
		  "slow call_soon callback registered by %s, expected uv_idle_start", api);
	cr_assert_geq(ls_int(found, "count"), 1);
	json_decref(slow);
	json_decref(rep);
	free(trace);
}

Test(real_programs, uvloop_echo_reads_go_through_the_shim)
{
	need_uvloop();
	char *trace = uvloop_trace();
	long pid = ls_trace_pid(trace);
	json_t *st = ls_stats_json(trace);
	json_int_t max_count;

	json_t *procs = json_object_get(st, "processes");
	cr_assert_eq(json_array_size(procs), 1);
	cr_assert_eq(ls_int(json_array_get(procs, 0), "pid"), pid);
	/* 4 clients x 5 lines each way: the server's and clients' reads run
	 * under the shim's read trampolines. */
	cr_assert_gt(stats_sites(st, "uv_read_start", &max_count), 0,
		     "no uv_read_start site in the stats:\n%s",
		     json_dumps(json_object_get(st, "sites"), JSON_INDENT(1)));
	cr_assert_gt(max_count, 0);
	json_decref(st);
	free(trace);
}

/* ---- nvim ------------------------------------------------------------------- */

static void need_nvim(void)
{
	if (access(NVIM, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install neovim)", NVIM);
}

/* nvim --headless --clean -i NONE -c 'luafile .../probe.lua' in dir (no
 * shada file, so parallel runs do not share state; the log, if nvim writes
 * one, goes to dir). The probe's path must not need Ex escaping. */
static void run_nvim(struct ls_run *r, const char *dir, bool preload)
{
	char *probe = real_script("probe.lua");
	char *cmd = ls_fmt("luafile %s", probe);
	char *log = ls_fmt("NVIM_LOG_FILE=%s/nvim.log", dir);
	const char *env[] = {log, NULL};
	const char *argv[] = {NVIM, "--headless", "--clean", "-i", "NONE", "-c", cmd, NULL};

	cr_assert_null(strpbrk(probe, " \t\\|\"%#"), "%s needs escaping", probe);
	run_real(r, dir, preload, env, argv);
	free(probe);
	free(cmd);
	free(log);
}

static const char nvim_expected_out[] = "system: x status 0\n"
					"fs_stat: file\n"
					"timer ticks: 20\n"
					"nvim ok\n";

Test(real_programs, nvim_output_and_exit_status_are_the_same_with_and_without_the_shim)
{
	need_nvim();
	struct ls_run plain, traced;

	run_nvim(&plain, ls_tmpdir(), false);
	cr_assert_eq(ls_exit_code(&plain), 0, "nvim failed without the shim:\n%s", plain.err);
	cr_assert_str_eq(plain.out, nvim_expected_out);
	cr_assert(strstr(plain.err, "probe: a message"), "headless messages go to stderr:\n%s",
		  plain.err);
	run_nvim(&traced, ls_tmpdir(), true);
	assert_same_output("nvim", &plain, &traced);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(real_programs, nvim_trace_names_its_loop_thread_and_timer_callbacks)
{
	need_nvim();
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_nvim(&r, dir, true);
	cr_assert_eq(ls_exit_code(&r), 0, "nvim failed under the shim:\n%s", r.err);
	cr_assert_str_eq(r.out, nvim_expected_out);
	ls_run_free(&r);

	/* One trace: `echo`, spawned with the shim preloaded, never touches
	 * libuv and so writes none. */
	char *trace = ls_single_trace(dir);
	long pid = ls_trace_pid(trace);
	json_t *st = ls_stats_json(trace);
	json_t *procs = json_object_get(st, "processes"), *s;
	size_t i;

	cr_assert_eq(json_array_size(procs), 1);
	cr_assert_eq(ls_int(json_array_get(procs, 0), "pid"), pid);
	cr_assert_str_eq(ls_str(json_array_get(procs, 0), "exe"), "nvim");

	/* The probe's luv timer: one uv_timer_start site that ran 20 times, on
	 * one thread (nvim's loop thread). */
	json_t *timer = NULL;
	json_array_foreach(json_object_get(st, "sites"), i, s) {
		if (strcmp(ls_str(s, "api"), "uv_timer_start") || ls_int(s, "count") < 20)
			continue;
		if (!timer || ls_int(s, "count") > ls_int(timer, "count"))
			timer = s;
	}
	cr_assert_not_null(timer, "no uv_timer_start site with 20 callbacks:\n%s",
			   json_dumps(json_object_get(st, "sites"), JSON_INDENT(1)));
	cr_assert_eq(ls_int(timer, "pid"), pid);
	cr_assert_eq(ls_int(timer, "threads"), 1, "timer callbacks ran on more than one thread");

	/* vim.fn.system() and fs_stat went through the shim too. */
	json_int_t n;
	cr_assert_gt(stats_sites(st, "uv_spawn", &n), 0, "no uv_spawn exit callback");
	cr_assert_gt(stats_sites(st, "uv_fs_stat", &n), 0, "no uv_fs_stat callback");

	/* The report names the process too. */
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);
	cr_assert_eq(ls_int(proc, "pid"), pid);
	cr_assert_str_eq(ls_str(proc, "exe"), "nvim");
	json_decref(rep);
	json_decref(st);
	free(trace);
}

/* ---- kresd ------------------------------------------------------------------ */

#ifndef KRESD
#define KRESD "/usr/sbin/kresd"
#endif

/* kresd in a network namespace of its own (loopback only), its cache in
 * dir; it quits 100 ms after it started (kresd.conf). */
static void run_kresd(struct ls_run *r, const char *dir, bool preload)
{
	char *conf = real_script("kresd.conf");
	char *cmd = ls_fmt("ip link set lo up && exec %s -n -c %s %s", KRESD, conf, dir);
	const char *argv[] = {"/usr/bin/unshare", "-n", "/bin/sh", "-c", cmd, NULL};

	run_real(r, dir, preload, NULL, argv);
	free(cmd);
	free(conf);
}

static void need_kresd(void)
{
	if (access(KRESD, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install knot-resolver)", KRESD);
	struct ls_run r;
	const char *argv[] = {"/usr/bin/unshare", "-n", "/bin/true", NULL};
	run_real(&r, NULL, false, NULL, argv);
	bool ok = ls_exit_code(&r) == 0;
	ls_run_free(&r);
	if (!ok)
		cr_skip_test("cannot make a network namespace (unshare -n needs root)");
}

/* At exit kresd calls uv_loop_close with handles still queued in the loop
 * whose memory it has freed: libuv stops at the first open one (UV_EBUSY),
 * and the shim must not walk further into freed memory (it crashed there). */
Test(real_programs, kresd_exits_the_same_with_and_without_the_shim, .timeout = 60)
{
	need_kresd();
	struct ls_run plain, traced;
	const char *dir = ls_tmpdir();

	run_kresd(&plain, ls_tmpdir(), false);
	cr_assert_eq(ls_exit_code(&plain), 0, "kresd failed without the shim:\n%s", plain.err);
	run_kresd(&traced, dir, true);
	cr_assert_eq(ls_exit_code(&traced), 0, "kresd exit %d under the shim (0 without):\n%s",
		     ls_exit_code(&traced), traced.err);

	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);
	cr_assert_str_eq(ls_str(proc, "exe"), "kresd");
	cr_assert(ls_bool(proc, "complete"), "kresd's trace is not complete");
	/* What libuv still held at uv_loop_close, from what the shim recorded. */
	json_t *f;
	size_t i, open = 0;
	json_array_foreach(json_object_get(rep, "findings"), i, f)
		open += !strcmp(ls_str(f, "kind"), "pending-at-close") &&
			!strcmp(ls_str(f, "api"), "uv_timer_init");
	cr_assert_gt(open, 0, "no timer reported open at uv_loop_close");
	json_decref(rep);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
}
