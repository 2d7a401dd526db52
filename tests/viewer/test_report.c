/* `loopsan report`: text and JSON reports of a trace or of a directory. */
#include <stddef.h>

#include "tests/harness.h"
#include "tracer/format.h"

LS_SUITE(report);

static char *slow_timer_trace(void)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture(&r, "slow_timer", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	return ls_single_trace(dir);
}

Test(report, text_report_has_a_block_per_finding_and_a_summary_line)
{
	char *trace = slow_timer_trace();
	long pid = ls_trace_pid(trace);
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	char *head = ls_fmt("==%ld== slow-callback", pid);
	char *site = ls_fmt("slow_timer.c:%d", ls_marker_line("slow_timer", "slow_once_start"));
	const char *text = r.out;

	cr_assert(strstr(text, head), "no \"%s\" block in:\n%s", head, text);
	cr_assert(strstr(strstr(text, head) + 1, head), "two slow callbacks, two blocks:\n%s", text);
	cr_assert(strstr(text, "on_slow_once"), "callback not named:\n%s", text);
	cr_assert(strstr(text, "start_slow_once"), "creation function not named:\n%s", text);
	cr_assert(strstr(text, site), "creation site %s not shown:\n%s", site, text);
	cr_assert(strstr(text, "SUMMARY: loopsan:"), "no SUMMARY line:\n%s", text);
	cr_assert_null(strstr(text, "on_idle"), "fast callback in the report:\n%s", text);
	ls_run_free(&r);
	free(head);
	free(site);
	free(trace);
}

Test(report, directory_argument_reports_every_trace_in_it)
{
	char *trace = slow_timer_trace();
	char *dir = strdup(trace);
	struct ls_run r;

	*strrchr(dir, '/') = '\0';
	const char *args[] = {"report", "--format", "json", dir, NULL};
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	json_t *rep = ls_parse_report(&r);
	cr_assert_eq(ls_int(ls_process(rep), "pid"), ls_trace_pid(trace));
	ls_only_finding(rep, "slow-callback", "on_slow_once");
	json_decref(rep);
	ls_run_free(&r);
	free(dir);
	free(trace);
}

Test(report, json_stack_frames_carry_module_and_pc)
{
	char *trace = slow_timer_trace();
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "slow-callback", "on_slow_once");
	json_t *fr = json_array_get(json_object_get(f, "created_at"), 0);

	cr_assert_not_null(fr, "no created_at frame");
	cr_assert_str_eq(ls_basename(ls_str(fr, "module")), "slow_timer");
	cr_assert(!strncmp(ls_str(fr, "pc"), "0x", 2));
	/* The shim's own frames are removed: no frame may be in libloopsan.so. */
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(f, "created_at"), i, x) {
		json_t *m = json_object_get(x, "module");
		cr_assert(!m || !strstr(json_string_value(m), "libloopsan"),
			  "shim frame %zu in created_at", i);
	}
	json_decref(rep);
	free(trace);
}

Test(report, several_processes_get_a_summary_line_each_and_one_for_the_run)
{
	const char *dir = ls_tmpdir();
	const char *fixtures[] = {"slow_timer", "open_handle"};
	long pids[2];

	for (int i = 0; i < 2; i++) {
		struct ls_run r;
		ls_run_fixture(&r, fixtures[i], dir, NULL);
		cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
		ls_run_free(&r);
	}
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", dir, NULL};
	ls_run_viewer(&r, NULL, args);
	json_t *rep = ls_parse_report(&r);
	for (int i = 0; i < 2; i++) {
		json_t *proc = json_array_get(json_object_get(rep, "processes"), (size_t)i);
		int k = strcmp(ls_str(proc, "exe"), fixtures[0]) == 0 ? 0 : 1;
		cr_assert_str_eq(ls_str(proc, "exe"), fixtures[k]);
		pids[k] = ls_int(proc, "pid");
	}
	size_t slow = ls_count(rep, "slow-callback", NULL);
	size_t open = ls_count(rep, "pending-at-close", NULL);
	json_decref(rep);
	ls_run_free(&r);

	const char *text_args[] = {"report", dir, NULL};
	ls_run_viewer(&r, NULL, text_args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	for (int i = 0; i < 2; i++) {
		char *line = ls_fmt("SUMMARY: loopsan: pid %ld (%s): ", pids[i], fixtures[i]);
		cr_assert(strstr(r.out, line), "no \"%s\" in:\n%s", line, r.out);
		free(line);
	}
	char *total = ls_fmt("SUMMARY: loopsan: %zu findings in 2 processes (slow-callback: %zu, "
			     "pending-at-close: %zu)", slow + open, slow, open);
	cr_assert(strstr(r.out, total), "no \"%s\" in:\n%s", total, r.out);
	free(total);
	ls_run_free(&r);
}

/* A trace whose header says the exit-time check ran without the shim's
 * table lock (LS_NOTE_EXIT_UNLOCKED, set by the shim when exit() came from
 * a signal handler that stopped a thread inside it): the text report says
 * so in a note, the JSON report in the process's exit_unlocked. */
Test(report, exit_without_the_table_lock_is_noted_in_text_and_json)
{
	char *trace = slow_timer_trace();
	int fd = open(trace, O_RDWR);
	cr_assert(fd >= 0, "%s: %s", trace, strerror(errno));
	uint32_t notes = LS_NOTE_EXIT_UNLOCKED;
	cr_assert_eq(pwrite(fd, &notes, sizeof(notes), offsetof(struct ls_file_header, notes)),
		     (ssize_t)sizeof(notes));
	close(fd);

	json_t *rep = ls_report_json(trace);
	cr_assert(ls_bool(ls_process(rep), "exit_unlocked"));
	json_decref(rep);
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};
	ls_run_viewer(&r, NULL, args);
	cr_assert(strstr(r.out, "exited while a thread was inside the shim"),
		  "no note in:\n%s", r.out);
	ls_run_free(&r);
	free(trace);
}

Test(report, a_trace_without_notes_has_no_exit_unlocked)
{
	char *trace = slow_timer_trace();
	json_t *rep = ls_report_json(trace);
	cr_assert_null(json_object_get(ls_process(rep), "exit_unlocked"));
	json_decref(rep);
	free(trace);
}

/* ---- docs/REPORT-JSON.md against the real output ---- */

/* Is key documented for kind in REPORT-JSON.md's findings table: a row
 * whose first cell has `key` and whose second says "all" or names kind? */
static bool documented(const char *doc, const char *key, const char *kind)
{
	char *cell = ls_fmt("`%s`", key);
	bool found = false;
	const char *start = strstr(doc, "\n## `findings`");
	const char *end = start ? strstr(start, "\n## `suppressed`") : NULL;

	cr_assert(start && end, "REPORT-JSON.md has no findings section");
	for (const char *l = start; !found && l && l < end; l = strchr(l + 1, '\n')) {
		if (strncmp(l, "\n| `", 4) != 0)
			continue;
		const char *c1 = l + 2, *c2 = strchr(c1, '|'), *c3 = c2 ? strchr(c2 + 1, '|') : NULL;
		if (!c3)
			continue;
		char *first = strndup(c1, (size_t)(c2 - c1)), *kinds = strndup(c2, (size_t)(c3 - c2));
		found = strstr(first, cell) &&
			(strstr(kinds, " all") || strstr(kinds, kind));
		free(first);
		free(kinds);
	}
	free(cell);
	return found;
}

/* Every field of every finding of fixture [arg]'s report is in the doc's
 * table for its kind; returns how many findings. */
static size_t assert_fields_documented(const char *doc, const char *fixture, const char *arg)
{
	json_t *rep = ls_fixture_report(fixture, arg, NULL, NULL);
	json_t *all = json_object_get(rep, "findings"), *fi;
	size_t i;

	json_array_foreach(all, i, fi) {
		const char *kind = ls_str(fi, "kind"), *key;
		json_t *v;
		json_object_foreach(fi, key, v)
			cr_assert(documented(doc, key, kind),
				  "%s: `%s` of %s is not in docs/REPORT-JSON.md's table", fixture, key,
				  kind);
	}
	size_t n = json_array_size(all);
	json_decref(rep);
	return n;
}

/* Each of fixtures' reports against docs/REPORT-JSON.md. */
static void assert_documented(const char *const fixtures[][2], size_t n)
{
	char *repo = ls_repo();
	char *path = ls_fmt("%s/docs/REPORT-JSON.md", repo);
	size_t len;
	char *doc = ls_read_file(path, &len);

	for (size_t i = 0; i < n; i++)
		cr_assert_gt(assert_fields_documented(doc, fixtures[i][0], fixtures[i][1]), 0,
			     "%s has findings", fixtures[i][0]);
	free(doc);
	free(path);
	free(repo);
}

Test(report, json_fields_of_slow_and_blocking_findings_are_documented)
{
	static const char *const f[][2] = {
		{"uv_blocking", NULL}, {"epoll_loop", "starve"}, {"epoll_loop", "spin"}};
	assert_documented(f, 3);
}

Test(report, json_fields_of_handles_left_open_are_documented)
{
	static const char *const f[][2] = {{"open_handle", NULL}, {"leftover", NULL}};
	assert_documented(f, 2);
}

Test(report, json_fields_of_misuse_findings_are_documented)
{
	static const char *const f[][2] = {
		{"lost_wakeup", NULL}, {"dropped_write", NULL}, {"misuse", NULL},
		{"wrong_thread", NULL}};
	assert_documented(f, 4);
}

/* Findings come by kind in the documented order, the worst first within
 * slow-callback and blocking-call. */
Test(report, json_findings_are_ordered_by_kind_then_worst_first)
{
	json_t *rep = ls_fixture_report("uv_blocking", NULL, NULL, NULL);
	json_t *all = json_object_get(rep, "findings");

	cr_assert_eq(json_array_size(all), 3);
	cr_assert_str_eq(ls_str(json_array_get(all, 0), "kind"), "slow-callback");
	cr_assert_str_eq(ls_str(json_array_get(all, 1), "api"), "usleep");
	cr_assert_str_eq(ls_str(json_array_get(all, 2), "api"), "fsync");
	cr_assert_gt(ls_num(json_array_get(all, 1), "max_ms"), ls_num(json_array_get(all, 2), "max_ms"));
	json_decref(rep);

	rep = ls_fixture_report("leftover", NULL, NULL, NULL);
	all = json_object_get(rep, "findings");
	cr_assert_str_eq(ls_str(json_array_get(all, 0), "kind"), "pending-at-close");
	cr_assert_str_eq(ls_str(json_array_get(all, 1), "kind"), "unclosed-handle");
	json_decref(rep);
}
