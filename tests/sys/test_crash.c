/* crash-in-callback: a fatal signal inside a callback is recorded with the
 * callback and its creation site, and the program dies (or handles it)
 * exactly as without the shim. */
#include "tests/harness.h"
#include "tracer/format.h"

LS_SUITE(crash);

/* Runs `crash arg` with or without the shim in dir; its run. */
static void run_crash(struct ls_run *r, const char *dir, const char *arg, bool preload)
{
	ls_run_fixture_arg(r, "crash", dir, preload, NULL, arg);
}

Test(crash, segfault_in_a_callback_is_reported_and_the_process_dies_the_same)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_crash(&plain, dir, NULL, false);
	run_crash(&traced, dir, NULL, true);
	cr_assert(WIFSIGNALED(plain.status) && WTERMSIG(plain.status) == SIGSEGV);
	cr_assert_eq(traced.status, plain.status, "same death with the shim");
	cr_assert_str_eq(traced.out, plain.out);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_tick");
	cr_assert_str_eq(ls_str(f, "signal"), "SIGSEGV");
	cr_assert_str_eq(ls_str(f, "api"), "uv_timer_start");
	cr_assert_str_eq(ls_str(f, "address"), "0x0");
	ls_assert_frame(f, "created_at", 0, "start_ticking", "crash.c",
			ls_marker_line("crash", "tick_start"));
	cr_assert(ls_bool(ls_process(rep), "complete"), "the shim finished the trace");
	json_decref(rep);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(crash, the_programs_own_handler_still_runs)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_crash(&plain, dir, "handler", false);
	run_crash(&traced, dir, "handler", true);
	cr_assert_eq(ls_exit_code(&plain), 3);
	cr_assert_eq(ls_exit_code(&traced), 3);
	cr_assert_str_eq(traced.out, "caught SIGSEGV\n");
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, "crash-in-callback", "on_tick"), 1);
	json_decref(rep);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

Test(crash, no_crash_no_finding)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_crash(&r, dir, "fixed", true);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0);
	json_decref(rep);
	free(trace);
}

/* The report of trace in format fmt (text, sarif, ...): its stdout. */
static char *crash_report(const char *trace, const char *fmt)
{
	struct ls_run v;
	const char *args[] = { "report", "--format", fmt, trace, NULL };
	ls_run_viewer(&v, NULL, args);
	cr_assert_eq(ls_exit_code(&v), 0, "report --format %s: %s", fmt, v.err);
	char *out = strdup(v.out);
	ls_run_free(&v);
	return out;
}

Test(crash, crashed_at_is_where_the_fault_was_two_calls_below_the_callback)
{
	const char *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_crash(&plain, dir, "deep", false);
	run_crash(&traced, dir, "deep", true);
	cr_assert(WIFSIGNALED(plain.status) && WTERMSIG(plain.status) == SIGSEGV);
	cr_assert_eq(traced.status, plain.status, "same death with the shim");
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_tick");
	ls_assert_frame(f, "crashed_at", 0, "count_request", "crash.c",
			ls_marker_line("crash", "deep_deref"));
	ls_assert_frame(f, "crashed_at", 1, "handle_request", "crash.c",
			ls_marker_line("crash", "deep_call"));
	cr_assert_str_eq(ls_str(json_array_get(json_object_get(f, "crashed_at"), 2), "function"),
			 "on_tick");
	ls_assert_frame(f, "created_at", 0, "start_ticking", "crash.c",
			ls_marker_line("crash", "tick_start"));

	char *text = crash_report(trace, "text");
	char *want = ls_fmt("crashed at:\n    #0 count_request crash.c:%d",
			    ls_marker_line("crash", "deep_deref"));
	cr_assert(strstr(text, want), "no '%s' in:\n%s", want, text);

	char *sarif = crash_report(trace, "sarif");
	json_t *doc = json_loads(sarif, 0, NULL);
	cr_assert(doc, "SARIF does not parse:\n%s", sarif);
	json_t *res = json_array_get(json_object_get(json_array_get(json_object_get(doc, "runs"), 0),
						     "results"), 0);
	json_t *phys = json_object_get(json_array_get(json_object_get(res, "locations"), 0),
				       "physicalLocation");
	json_t *region = json_object_get(phys, "region");
	cr_assert_eq(json_integer_value(json_object_get(region, "startLine")),
		     ls_marker_line("crash", "deep_deref"), "SARIF location:\n%s", sarif);
	json_decref(doc);
	free(sarif);
	free(want);
	free(text);
	json_decref(rep);
	free(trace);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

/* Rewrites the CRASH record of the trace at path the way shims before
 * crashed_at wrote it (24 bytes of payload); it must be its chunk's last
 * record, as the crash handler's is. Returns 0 when one was found. */
static int make_v1_crash(const char *path)
{
	size_t len;
	char *buf = ls_read_file(path, &len);
	struct ls_file_header h;
	int found = -1;
	memcpy(&h, buf, sizeof(h));
	for (size_t off = LS_HEADER_SIZE; off + h.chunk_size <= len; off += h.chunk_size) {
		struct ls_chunk_header ch;
		memcpy(&ch, buf + off, sizeof(ch));
		if (ch.magic != LS_CHUNK_MAGIC)
			continue;
		for (uint32_t at = 0; at + sizeof(struct ls_rec) <= ch.used;) {
			struct ls_rec rec;
			memcpy(&rec, buf + off + sizeof(ch) + at, sizeof(rec));
			if (rec.size < sizeof(rec))
				break;
			if (rec.type == LS_REC_CRASH && at + rec.size == ch.used &&
			    rec.size == sizeof(rec) + sizeof(struct ls_rec_crash)) {
				rec.size = sizeof(rec) + LS_REC_CRASH_V1_SIZE;
				ch.used = at + rec.size;
				memcpy(buf + off + sizeof(ch) + at, &rec, sizeof(rec));
				memcpy(buf + off, &ch, sizeof(ch));
				found = 0;
			}
			at += rec.size;
		}
	}
	FILE *f = fopen(path, "w");
	cr_assert(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0);
	free(buf);
	return found;
}

Test(crash, a_crash_record_of_an_older_shim_is_still_read)
{
	const char *dir = ls_tmpdir();
	struct ls_run traced;

	run_crash(&traced, dir, "deep", true);
	char *trace = ls_single_trace(dir);
	cr_assert_eq(make_v1_crash(trace), 0, "no CRASH record at a chunk's end");
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "crash-in-callback", "on_tick");
	cr_assert_str_eq(ls_str(f, "signal"), "SIGSEGV");
	cr_assert_null(json_object_get(f, "crashed_at"), "an older record has no crashed_at");
	ls_assert_frame(f, "created_at", 0, "start_ticking", "crash.c",
			ls_marker_line("crash", "tick_start"));
	json_decref(rep);
	free(trace);
	ls_run_free(&traced);
}

/* A Python callback that calls a function that reads address 0 through
 * ctypes: the process dies of SIGSEGV, and crashed_at shows the Python
 * frames (read_header, then on_request) in place of the eval loop's. */
static const char py_crash[] =
	"import asyncio, ctypes\n"
	"\n"
	"def read_header(addr):\n"
	"    return ctypes.c_int.from_address(addr).value  # line 4: addr is 0\n"
	"\n"
	"def on_request():\n"
	"    read_header(0)  # line 7\n"
	"\n"
	"async def main():\n"
	"    asyncio.get_running_loop().call_soon(on_request)\n"
	"    await asyncio.sleep(0.1)\n"
	"\n"
	"asyncio.run(main())\n";

/* The index of the first frame of stack `which` of f named function, in
 * Python; -1 if none. */
static long python_frame(json_t *f, const char *which, const char *function, int line)
{
	json_t *fr;
	size_t i;
	json_array_foreach(json_object_get(f, which), i, fr) {
		json_t *lang = json_object_get(fr, "lang");
		if (lang && strcmp(json_string_value(lang), "python") == 0 &&
		    strcmp(ls_str(fr, "function"), function) == 0) {
			cr_assert_eq(ls_int(fr, "line"), line, "%s's line", function);
			return (long)i;
		}
	}
	return -1;
}

Test(crash, a_python_callback_crash_shows_the_python_frames_where_it_crashed)
{
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	const char *dir = ls_tmpdir();
	char *script = ls_fmt("%s/py_crash.py", dir);
	FILE *s = fopen(script, "w");
	cr_assert(s && fputs(py_crash, s) >= 0 && fclose(s) == 0);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	char *opt = ls_fmt("LOOPSAN_OPTIONS=dir=%s", dir);
	const char *env[] = {pre, opt, "PYTHONDONTWRITEBYTECODE=1", NULL};
	const char *argv[] = {"/usr/bin/python3", script, NULL};
	struct ls_run r;

	ls_run(&r, dir, env, argv);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status %d: %s",
		  r.status, r.err);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	json_t *f = ls_only_finding(rep, "crash-in-callback", NULL);
	long at = python_frame(f, "crashed_at", "read_header", 4);
	cr_assert_geq(at, 0, "no read_header in crashed_at: %s", json_dumps(f, JSON_INDENT(1)));
	cr_assert_gt(python_frame(f, "crashed_at", "on_request", 7), at,
		     "on_request is not below read_header");
	json_decref(rep);
	free(trace);
	ls_run_free(&r);
	free(script);
	free(pre);
	free(shim);
	free(opt);
}
