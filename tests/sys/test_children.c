/* posix_spawn and vfork under the shim (issue 8): a libuv program starts
 * children from a callback, each a libuv program with the shim still
 * preloaded. Nothing deadlocks, every exit status and error is what it is
 * without the shim, and every child that runs a loop leaves a trace of its
 * own, which `loopsan run` collects with the parent's.
 */
#include "tests/harness.h"

LS_SUITE(children);

struct spawned {
	long parent, spawn_pid, vfork_pid;
};

/* Checks what rel_spawner printed and returns the pids it named. */
static struct spawned parse_spawner(const char *out)
{
	struct spawned s;
	const char *p;

	cr_assert((p = strstr(out, "posix_spawn pid ")) && sscanf(p, "posix_spawn pid %ld status 3\n",
								   &s.spawn_pid) == 1,
		  "posix_spawn'd child did not exit 3:\n%s", out);
	cr_assert(strstr(out, "posix_spawn missing: No such file or directory\n"), "%s", out);
	cr_assert((p = strstr(out, "vfork+exec pid ")) &&
		  sscanf(p, "vfork+exec pid %ld status 4\n", &s.vfork_pid) == 1,
		  "vfork+exec'd child did not exit 4:\n%s", out);
	cr_assert(strstr(out, "vfork+_exit status 9\n"), "%s", out);
	cr_assert((p = strstr(out, "parent ")) && sscanf(p, "parent %ld done", &s.parent) == 1, "%s",
		  out);
	char *c1 = ls_fmt("child %ld ticks 10\n", s.spawn_pid);
	char *c2 = ls_fmt("child %ld ticks 10\n", s.vfork_pid);
	cr_assert(strstr(out, c1) && strstr(out, c2), "both children ran their loops:\n%s", out);
	free(c1);
	free(c2);
	return s;
}

/* The trace of pid in dir: one process, complete, with count runs of
 * callback (and nothing else's when count > 0). */
static void assert_child_trace(const char *dir, long pid, const char *callback, long count)
{
	char *trace = ls_fmt("%s/loopsan.%ld.trace", dir, pid);

	cr_assert(access(trace, R_OK) == 0, "no trace of pid %ld in %s", pid, dir);
	json_t *rep = ls_report_json(trace);
	json_t *proc = ls_process(rep);
	cr_assert_eq(ls_int(proc, "pid"), pid);
	cr_assert(ls_bool(proc, "complete"), "pid %ld exited normally", pid);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "pid %ld: no findings:\n%s", pid,
		     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(rep);
	json_t *st = ls_stats_json(trace);
	cr_assert_eq(ls_int(ls_stats_site(st, callback), "count"), count, "pid %ld: %s", pid,
		     callback);
	json_decref(st);
	free(trace);
}

Test(children, posix_spawn_and_vfork_from_a_callback_statuses_unchanged_children_traced)
{
	const char *plain_dir = ls_tmpdir(), *dir = ls_tmpdir();
	struct ls_run plain, traced;

	ls_run_fixture_ex(&plain, "rel_spawner", plain_dir, false, NULL);
	ls_run_fixture(&traced, "rel_spawner", dir, NULL);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s", plain.err);
	cr_assert_eq(ls_exit_code(&traced), 0, "%s", traced.err);
	parse_spawner(plain.out);
	struct spawned s = parse_spawner(traced.out);
	cr_assert_eq(traced.err_len, 0, "nothing on stderr:\n%s", traced.err);

	/* The parent, and the two children that exec'd a loop program; the
	 * vfork child that only _exit()s and the spawn that failed leave none. */
	cr_assert_eq(ls_count_traces(dir), 3, "parent + 2 children");
	assert_child_trace(dir, s.parent, "on_spawn", 1);
	assert_child_trace(dir, s.spawn_pid, "on_child_tick", 10);
	assert_child_trace(dir, s.vfork_pid, "on_child_tick", 10);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(children, loopsan_run_collects_the_traces_of_spawned_and_vforked_children)
{
	const char *dir = ls_tmpdir();
	char *bin = ls_fixture_bin("rel_spawner");
	const char *args[] = {"run", "--dir", dir, "--", bin, NULL};
	struct ls_run r;

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan run rel_spawner:\n%s", r.err);
	struct spawned s = parse_spawner(r.out);
	for (int i = 0; i < 3; i++) {
		long pid = i == 0 ? s.parent : i == 1 ? s.spawn_pid : s.vfork_pid;
		char *line = ls_fmt("pid %ld (rel_spawner)", pid);
		cr_assert(strstr(r.err, line), "loopsan run does not report pid %ld:\n%s", pid, r.err);
		free(line);
	}
	cr_assert(strstr(r.err, "in 3 processes"), "%s", r.err);
	ls_run_free(&r);

	json_t *rep = ls_report_json(dir);
	json_t *procs = json_object_get(rep, "processes"), *p;
	size_t i;
	int seen = 0;
	cr_assert_eq(json_array_size(procs), 3, "%s", json_dumps(procs, JSON_COMPACT));
	json_array_foreach(procs, i, p) {
		long pid = (long)ls_int(p, "pid");
		seen |= (pid == s.parent) | (pid == s.spawn_pid) << 1 | (pid == s.vfork_pid) << 2;
		cr_assert(ls_bool(p, "complete"));
	}
	cr_assert_eq(seen, 7, "the report holds the parent and both children");
	json_decref(rep);
	free(bin);
}
