/* Names of code in every symbol source there is, and without one: a
 * stripped program's callbacks and frames are module+0xoffset, the same in
 * every run; C++ names demangled; check points at the program's own code. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "tests/harness.h"

LS_SUITE(symbols);

#define MEMCACHED "/usr/bin/memcached"

/* The trace of fixture run under the shim in a fresh dir. */
static char *trace_of(const char *fixture)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, fixture, dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s:\n%s", fixture, r.err);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

/* The callback of the one slow-callback finding of trace, a new string. */
static char *slow_callback(const char *trace)
{
	json_t *rep = ls_report_json(trace);
	char *cb = ls_fmt("%s", ls_str(ls_only_finding(rep, "slow-callback", NULL), "callback"));
	json_decref(rep);
	return cb;
}

/* No native frame of any finding's stacks, nor its callback, is a bare
 * runtime address. */
static void assert_no_bare_address(json_t *rep)
{
	json_t *f, *v, *fr;
	size_t i, j;
	const char *key;

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *cb = json_string_value(json_object_get(f, "callback"));
		cr_assert(!cb || strncmp(cb, "0x", 2) != 0, "callback %s", cb);
		json_object_foreach(f, key, v) {
			if (!json_is_array(v))
				continue;
			json_array_foreach(v, j, fr) {
				const char *fn = json_string_value(json_object_get(fr, "function"));
				cr_assert(!fn || strncmp(fn, "0x", 2) != 0, "%s[%zu] is %s", key, j,
					  json_dumps(fr, JSON_COMPACT));
			}
		}
	}
}

static char *run_check(const char *trace)
{
	struct ls_run r;
	const char *args[] = {"check", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 1, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
	char *out = ls_fmt("%s", r.out);
	ls_run_free(&r);
	return out;
}

Test(symbols, stripped_program_is_named_module_offset_the_same_in_two_runs)
{
	char *t1 = trace_of("strip_slow_s"), *t2 = trace_of("strip_slow_s");
	char *cb1 = slow_callback(t1), *cb2 = slow_callback(t2);

	cr_assert(strncmp(cb1, "strip_slow_s+0x", 15) == 0, "callback %s", cb1);
	cr_assert_str_eq(cb1, cb2, "the same callback in two runs");
	json_t *rep = ls_report_json(t1);
	assert_no_bare_address(rep);
	json_t *fr = json_array_get(json_object_get(ls_only_finding(rep, "slow-callback", NULL),
						    "created_at"), 0);
	cr_assert(strncmp(ls_str(fr, "function"), "strip_slow_s+0x", 15) == 0, "%s",
		  json_dumps(fr, JSON_COMPACT));
	cr_assert_str_eq(ls_str(fr, "module"), "strip_slow_s");
	cr_assert(!strncmp(ls_str(fr, "pc"), "0x", 2), "pc stays the runtime address");

	/* The text report says it once, never a runtime address. */
	struct ls_run r;
	const char *args[] = {"report", t1, NULL};
	ls_run_viewer(&r, NULL, args);
	char *head = ls_fmt("slow-callback: %s took", cb1);
	cr_assert(strstr(r.out, head), "no \"%s\" in:\n%s", head, r.out);
	cr_assert_null(strstr(r.out, " 0x"), "a bare address in:\n%s", r.out);
	cr_assert(strstr(r.out, "    #0 strip_slow_s+0x"), "%s", r.out);
	ls_run_free(&r);

	/* check points at the program's own frame, not libc's. */
	char *out = run_check(t1);
	cr_assert(strstr(out, "created at strip_slow_s+0x"), "%s", out);

	/* A suppression of the other run's name silences this one. */
	char *supp = ls_fmt("%s/loopsan.supp", ls_tmpdir());
	FILE *f = fopen(supp, "w");
	cr_assert(f);
	fprintf(f, "slow-callback:%s\n", cb2);
	fclose(f);
	const char *sargs[] = {"check", "--suppressions", supp, t1, NULL};
	ls_run_viewer(&r, NULL, sargs);
	cr_assert_eq(ls_exit_code(&r), 0, "suppressed by %s:\n%s%s", cb2, r.out, r.err);
	ls_run_free(&r);

	/* Built with its symbols, the same callback has its name. */
	char *t3 = trace_of("strip_slow");
	char *cb3 = slow_callback(t3);
	cr_assert_str_eq(cb3, "on_slow");

	json_decref(rep);
	free(t1), free(t2), free(t3), free(cb1), free(cb2), free(cb3);
	free(head), free(out), free(supp);
}

/* The first frame of the one slow-callback's created_at in rep. */
static json_t *created_at_0(json_t *rep)
{
	return json_array_get(json_object_get(ls_only_finding(rep, "slow-callback", NULL),
					      "created_at"), 0);
}

Test(symbols, minidebuginfo_names_a_static_callback_of_a_stripped_program)
{
	char *t = trace_of("strip_slow_m");
	char *cb = slow_callback(t);

	/* on_slow and start are static: only .gnu_debugdata's .symtab has them. */
	cr_assert_str_eq(cb, "on_slow");
	json_t *rep = ls_report_json(t);
	json_t *fr = created_at_0(rep);
	cr_assert_str_eq(ls_str(fr, "function"), "start", "%s", json_dumps(fr, JSON_COMPACT));
	cr_assert_str_eq(ls_str(fr, "module"), "strip_slow_m");
	json_decref(rep);
	free(t), free(cb);
}

/* The report of trace with LOOPSAN_DEBUG_PATH=path (NULL: unset) in env. */
static json_t *report_with_debug_path(const char *trace, const char *path)
{
	struct ls_run r;
	char *viewer = ls_viewer(), *env0 = ls_fmt("LOOPSAN_DEBUG_PATH=%s", path ? path : "");
	const char *env[] = {env0, NULL};
	const char *argv[] = {viewer, "report", "--format", "json", trace, NULL};

	ls_run(&r, NULL, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	json_t *rep = ls_parse_report(&r);
	ls_run_free(&r);
	free(viewer), free(env0);
	return rep;
}

Test(symbols, separate_debug_file_found_by_build_id_names_function_file_and_line)
{
	char *t = trace_of("strip_slow_d");
	char *dir = ls_fmt("%s/fixtures/debug", ls_build());

	/* Without the directory that holds its debug file: module+0xoffset. */
	json_t *rep = report_with_debug_path(t, NULL);
	const char *cb = ls_str(ls_only_finding(rep, "slow-callback", NULL), "callback");
	cr_assert(strncmp(cb, "strip_slow_d+0x", 15) == 0, "callback %s", cb);
	json_decref(rep);

	/* With it, by build-id (.build-id/xx/rest.debug), the debug file
	 * gives names, files and lines. */
	rep = report_with_debug_path(t, dir);
	ls_only_finding(rep, "slow-callback", "on_slow");
	json_t *fr = created_at_0(rep);
	cr_assert_str_eq(ls_str(fr, "function"), "start", "%s", json_dumps(fr, JSON_COMPACT));
	cr_assert_str_eq(ls_basename(ls_str(fr, "file")), "strip_slow.c");
	cr_assert_eq(ls_int(fr, "line"), ls_marker_line("strip_slow", "start"));
	cr_assert_str_eq(ls_str(fr, "module"), "strip_slow_d");
	json_decref(rep);

	/* A relative directory is taken from the working directory. */
	struct ls_run r;
	char *parent = ls_fmt("%s/fixtures", ls_build());
	const char *env[] = {"LOOPSAN_DEBUG_PATH=/nonexistent:debug", NULL};
	char *viewer = ls_viewer();
	const char *argv[] = {viewer, "report", t, NULL};
	ls_run(&r, parent, env, argv);
	cr_assert(strstr(r.out, "slow-callback: on_slow took"), "%s%s", r.out, r.err);
	ls_run_free(&r);
	free(viewer), free(parent), free(t), free(dir);
}

Test(symbols, cxx_member_callback_is_demangled_and_suppressed_by_its_bare_name)
{
	char *t = trace_of("cxx_member");
	json_t *rep = ls_report_json(t);

	ls_only_finding(rep, "slow-callback", "app::Ticker::on_tick(uv_timer_s*)");
	json_t *fr = json_array_get(json_object_get(ls_only_finding(rep, "slow-callback", NULL),
						    "created_at"), 0);
	cr_assert_str_eq(ls_str(fr, "function"), "app::Ticker::Ticker(uv_loop_s*)");

	char *supp = ls_fmt("%s/loopsan.supp", ls_tmpdir());
	FILE *f = fopen(supp, "w");
	cr_assert(f);
	fputs("slow-callback:app::Ticker::on_tick\n", f);
	fclose(f);
	struct ls_run r;
	const char *sargs[] = {"check", "--suppressions", supp, t, NULL};
	ls_run_viewer(&r, NULL, sargs);
	cr_assert_eq(ls_exit_code(&r), 0, "not suppressed without parameters:\n%s%s", r.out, r.err);
	ls_run_free(&r);
	json_decref(rep);
	free(t);
	free(supp);
}

/* ---- threads renamed after their loop started ---- */

/* rename_thread HOW: its loop thread renamed to name, then slow. */
static void assert_renamed(const char *how, const char *name)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture_arg(&r, "rename_thread", dir, true, NULL, how);
	cr_assert_eq(ls_exit_code(&r), 0, "rename_thread %s:\n%s", how, r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	ls_assert_thread(ls_only_finding(rep, "slow-callback", "on_slow"), ls_trace_pid(trace),
			 name);

	/* The text report says what it was called before. */
	const char *args[] = {"report", trace, NULL};
	char *line = ls_fmt("thread %ld \"%s\" (was \"rename_thread\")", ls_trace_pid(trace),
			    name);
	ls_run_viewer(&r, NULL, args);
	cr_assert(strstr(r.out, line), "no '%s' in:\n%s", line, r.out);
	ls_run_free(&r);
	json_decref(rep);
	free(line);
	free(trace);
}

Test(symbols, loop_thread_renamed_by_pthread_setname_np_is_shown_by_its_new_name)
{
	assert_renamed("self", "renamed-loop");
}

Test(symbols, loop_thread_renamed_by_prctl_is_shown_by_the_name_the_kernel_kept)
{
	assert_renamed("prctl", "renamed-by-prct");
}

Test(symbols, loop_thread_renamed_by_another_thread_is_shown_by_its_new_name)
{
	assert_renamed("other", "renamed-loop");
}

/* ---- a real stripped program: Debian's memcached ---- */

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(s >= 0 && bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		  getsockname(s, (struct sockaddr *)&sin, &len) == 0);
	close(s);
	return ntohs(sin.sin_port);
}

/* The trace of Debian's memcached run under the shim with two worker
 * threads, asked its version once, then stopped (SIGTERM). */
static char *memcached_trace(void)
{
	if (access(MEMCACHED, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install memcached)", MEMCACHED);
	const char *dir = ls_tmpdir();
	int port = free_port();
	char *ports = ls_fmt("%d", port), *shim = ls_shim();

	cr_assert(chmod(dir, 0777) == 0);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
		    chdir(dir) != 0 || setenv("LD_PRELOAD", shim, 1) != 0)
			_exit(126);
		unsetenv("LOOPSAN_OPTIONS");
		/* memcached will not run as root: as nobody, into dir. */
		if (geteuid() == 0)
			execl(MEMCACHED, MEMCACHED, "-l", "127.0.0.1", "-p", ports, "-U", "0", "-t",
			      "2", "-u", "nobody", (char *)NULL);
		else
			execl(MEMCACHED, MEMCACHED, "-l", "127.0.0.1", "-p", ports, "-U", "0", "-t",
			      "2", (char *)NULL);
		_exit(127);
	}
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 500; tries++) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
			close(fd);
			fd = -1;
			usleep(10 * 1000);
		}
	}
	cr_assert(fd >= 0, "memcached never listened on %d", port);
	char buf[64];
	cr_assert(write(fd, "version\r\n", 9) == 9);
	cr_assert_gt(read(fd, buf, sizeof(buf)), 0);
	close(fd);
	kill(pid, SIGTERM);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	free(ports);
	free(shim);
	return ls_single_trace(dir);
}

Test(symbols, stripped_memcached_has_no_bare_address_and_check_points_at_it, .timeout = 60)
{
	char *trace = memcached_trace();
	json_t *rep = ls_report_json(trace);
	assert_no_bare_address(rep);
	json_t *stats = ls_stats_json(trace), *site;
	size_t i, named = 0;
	json_array_foreach(json_object_get(stats, "sites"), i, site) {
		const char *cb = ls_str(site, "callback");
		cr_assert(strncmp(cb, "0x", 2) != 0, "stats callback %s", cb);
		named += strncmp(cb, "memcached+0x", 12) == 0;
	}
	cr_assert_gt(named, 0, "no callback named memcached+0x...: %s",
		     json_dumps(stats, JSON_INDENT(1)));
	/* At SIGTERM memcached leaves its handles open (pending-at-close):
	 * each FAIL line points into memcached itself. */
	if (json_array_size(json_object_get(rep, "findings")) > 0) {
		char *out = run_check(trace);
		for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			if (strncmp(l, "FAIL ", 5) != 0)
				continue;
			char *at = strstr(l, " at ");
			cr_assert(at && strncmp(at, " at memcached+0x", 16) == 0,
				  "check does not point into memcached:\n%s", out);
		}
		free(out);
	}
	json_decref(rep);
	json_decref(stats);
	free(trace);
}

/* memcached names its workers from its main thread (pthread_setname_np)
 * once they run their event_base loops: /proc/PID/task/TID/comm of each
 * thread gives memcached, mc-worker, mc-worker, mc-log, mc-assocmaint, ... */
Test(symbols, memcached_worker_threads_are_shown_by_the_names_memcached_gives_them,
     .timeout = 60)
{
	char *trace = memcached_trace();
	json_t *rep = ls_report_json(trace), *loop;
	size_t i, workers = 0;
	long pid = ls_trace_pid(trace);

	json_array_foreach(json_object_get(ls_process(rep), "loops"), i, loop) {
		if (ls_int(loop, "tid") == pid) {
			cr_assert_str_eq(ls_str(loop, "name"), "memcached");
			continue;
		}
		cr_assert_str_eq(ls_str(loop, "name"), "mc-worker", "%s",
				 json_dumps(loop, JSON_COMPACT));
		workers++;
	}
	cr_assert_eq(workers, 2, "-t 2: %s", json_dumps(ls_process(rep), JSON_INDENT(1)));
	json_decref(rep);
	free(trace);
}
