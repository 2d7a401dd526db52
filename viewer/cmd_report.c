/* loopsan report: the findings of one or more traces, as sanitizer-style
 * text, as the JSON document described in DESIGN.md, as SARIF, JUnit XML
 * or one HTML page (out_html.c); on stdout or, with -o, into a file. */
#include "viewer/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/format.h"

enum format { FORMAT_TEXT, FORMAT_JSON, FORMAT_SARIF, FORMAT_JUNIT, FORMAT_HTML };

struct report_args {
	enum format format;
	enum ls_color_mode color;
	const char *output;  /* -o FILE; NULL or "-": stdout */
	double slow_ms;
	struct ls_suppressions supp;
	char **paths;
	size_t npaths;
};

void ls_report_usage(FILE *out)
{
	fputs("usage: loopsan report [--format text|json|sarif|junit|html] [-o FILE]\n"
	      "                      [--slow-ms N] [--suppressions FILE]... [--color WHEN]\n"
	      "                      TRACE|DIR...\n"
	      "\n"
	      "Prints the findings of the traces (the kinds below), worst first,\n"
	      "each with its stacks: where its callback or handle was created,\n"
	      "where the call was made, where it was stuck. A DIR stands for every\n"
	      "*.trace file in it.\n"
	      "\n"
	      "options:\n"
	      "  --format FORMAT      text (the default), json, sarif (SARIF 2.1.0),\n"
	      "                       junit (JUnit XML) or html (one self-contained\n"
	      "                       page: summary, findings, a duration histogram\n"
	      "                       per callback site, a zoomable timeline per\n"
	      "                       thread; see docs/HTML-REPORT.md)\n"
	      "  -o, --output FILE    write to FILE instead of stdout (- for stdout),\n"
	      "                       whole or not at all: into a temporary file\n"
	      "                       beside it, renamed at the end\n"
	      "  --slow-ms N          judge slow callbacks at N ms instead of the\n"
	      "                       threshold they were recorded with\n"
	      "  --suppressions FILE  leave out the findings FILE's kind:pattern\n"
	      "                       lines match (repeatable); each finding shows\n"
	      "                       the rule that silences it (suppress with:,\n"
	      "                       JSON suppression); a malformed line is exit 2,\n"
	      "                       a rule that matched nothing a note on stderr\n"
	      "  --color WHEN         auto (the default: on a terminal, unless\n"
	      "                       NO_COLOR is set or TERM=dumb), always or never;\n"
	      "                       text only\n"
	      "  -h, --help           show this help\n"
	      "\n"
	      "finding kinds:\n", out);
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++)
		fprintf(out, "  %-21s%s\n", ls_finding_kind_name((enum ls_finding_kind)k),
			ls_finding_kind_info((enum ls_finding_kind)k)->title);
	fputs("\n"
	      "environment:\n"
	      "  LOOPSAN_DEBUG_PATH   directories (':'-separated) searched for separate\n"
	      "                       debug files before /usr/lib/debug, by build-id:\n"
	      "                       DIR/.build-id/xx/rest.debug\n",
	      out);
}

/* ---- text ---- */

static void text_frame(FILE *out, unsigned n, const struct ls_frame *f)
{
	fprintf(out, "    #%u ", n);
	if (f->python) {
		fprintf(out, "%s%s%s %s%s:%d%s (python)\n", ls_color_function(), f->function,
			ls_color_reset(), ls_color_location(), f->file ? ls_basename(f->file) : "?",
			f->line, ls_color_reset());
		return;
	}
	if (f->function)
		fprintf(out, "%s%s%s", ls_color_function(), f->function,
			ls_color_reset());
	else
		fprintf(out, "0x%" PRIx64, f->pc);
	if (f->file && f->function) {
		fprintf(out, " %s%s:%d%s", ls_color_location(), ls_basename(f->file),
			f->line, ls_color_reset());
		if (f->module)
			fprintf(out, " (%s)", f->module);
	} else if (f->module && !f->unnamed) {
		fprintf(out, " (%s+0x%" PRIx64 ")", f->module, f->offset);
	}
	fputc('\n', out);
}

/* A stack with Python frames shows the Python code and every native
 * frame but the interpreter's own (its C frames between Python frames say
 * nothing to a Python programmer); frames keep their numbers, so a gap
 * shows where some were left out, and JSON keeps them all. */
static void text_stack(FILE *out, const char *title, struct ls_symbolizer *s,
		       const struct ls_stack *st)
{
	if (!st) {
		fprintf(out, "  %s: unknown (no stack recorded)\n", title);
		return;
	}
	fprintf(out, "  %s:\n", title);
	uint32_t first = ls_stack_first_frame(s, st);
	uint32_t n = ls_stack_nframes(s, st), hidden = 0;
	if (first == n)
		fputs("    (no frames)\n", out);
	for (uint32_t i = first; i < n; i++) {
		const struct ls_frame *f = ls_stack_frame(s, st, i);
		if (st->npy && ls_frame_is_interpreter(f))
			hidden++;
		else
			text_frame(out, i - first, f);
	}
	if (hidden)
		fprintf(out, "    (%" PRIu32 " interpreter frame%s hidden)\n", hidden,
			hidden == 1 ? "" : "s");
}

/* A thread's name as the report gives it: the last it had, and the one
 * it started with when it renamed itself (or was renamed) since. */
static void text_thread_name(FILE *out, const struct ls_thread *th)
{
	if (!th || !th->name[0])
		return;
	fprintf(out, " \"%s\"", th->name);
	if (th->was[0])
		fprintf(out, " (was \"%s\")", th->was);
}

static void text_where(FILE *out, const struct ls_finding *fi)
{
	fputs("  ", out);
	if (fi->has_api)
		fprintf(out, "api %s, ", ls_api_name(fi->api));
	fprintf(out, "thread%s %" PRIu32, fi->nothers ? "s" : "", fi->tid);
	text_thread_name(out, ls_trace_thread(fi->trace, fi->tid));
	for (uint32_t i = 0; i < fi->nothers; i++) {
		fprintf(out, ", %" PRIu32, fi->others[i]);
		text_thread_name(out, ls_trace_thread(fi->trace, fi->others[i]));
	}
	if (fi->nothers_dropped)
		fprintf(out, " and %" PRIu32 " more", fi->nothers_dropped);
	fputc('\n', out);
}

static void headline_slow(FILE *out, const char *cb, const struct ls_finding *fi)
{
	const char *what = cb[0] ? cb : fi->called_at && !fi->created_at
		? "a loop iteration" : "unknown callback";
	fprintf(out, "%s%s%s took %.1f ms ", ls_color_function(), what, ls_color_reset(),
		fi->max_ms);
	if (fi->count == 1)
		fprintf(out, "(over %g ms)", fi->threshold_ms);
	else
		fprintf(out, "(%" PRIu64 " times over %g ms, %.1f ms in all)",
			fi->count, fi->threshold_ms, fi->total_ms);
}

void ls_report_print_left_open(FILE *out, const char *cb, const struct ls_finding *fi,
			       int without_at)
{
	const char *type = fi->handle && fi->handle[0] ? fi->handle : "unknown";
	/* The call that closed the loop: uv_loop_close, event_base_free. */
	const char *closer = "uv_loop_close";
	if (fi->close_index < fi->trace->closes.len)
		closer = ls_api_name(LS_VEC_AT(&fi->trace->closes, struct ls_loop_close,
					       fi->close_index)->api);
	const char *at_exit = without_at ? "when the process exited" : "at exit";
	if (fi->kind == LS_FINDING_PENDING_AT_CLOSE && fi->at_exit)
		fprintf(out, "%s request still pending %s", ls_api_name(fi->api), at_exit);
	else if (fi->at_exit)
		fprintf(out, "%s handle never closed (still open %s)", type, at_exit);
	else if (without_at)
		fprintf(out, "%s handle still open when %s ran", type, closer);
	else
		fprintf(out, "%s handle still open at %s", type, closer);
	if (fi->count > 1)
		fprintf(out, ", %" PRIu64 " of them", fi->count);
	if (fi->closing || fi->has_callback)
		fprintf(out, " (%s%s%s%s%s%s)", fi->closing ? "closing" : "",
			fi->closing && fi->has_callback ? ", " : "",
			fi->has_callback ? "callback " : "", ls_color_function(),
			cb, ls_color_reset());
}

static void thread_label(FILE *out, const struct ls_trace *t, uint32_t tid)
{
	fprintf(out, "thread %" PRIu32, tid);
	text_thread_name(out, ls_trace_thread(t, tid));
}

static void headline_wrong_thread(FILE *out, const struct ls_finding *fi)
{
	fprintf(out, "%s%s%s called from ", ls_color_function(), ls_api_name(fi->api),
		ls_color_reset());
	thread_label(out, fi->trace, fi->tid);
	fputs(" while ", out);
	thread_label(out, fi->trace, fi->loop_tid);
	fputs(" runs its loop", out);
	if (fi->count > 1)
		fprintf(out, ", %" PRIu64 " times", fi->count);
}

static void headline_selector(FILE *out, const struct ls_finding *fi)
{
	fprintf(out, "%s%s%s came back %.1f ms late", ls_color_function(),
		ls_api_name(fi->api), ls_color_reset(), fi->late_ms);
	if (fi->timeout_ms > 0)
		fprintf(out, " (timeout %g ms, took %.1f ms)", fi->timeout_ms, fi->max_ms);
	else
		fprintf(out, " (a zero timeout, took %.1f ms)", fi->max_ms);
	if (fi->count > 1)
		fprintf(out, ", %" PRIu64 " times", fi->count);
}

static void headline_blocking(FILE *out, const char *cb, const struct ls_finding *fi)
{
	fprintf(out, "%s%s%s blocked the loop thread %.1f ms", ls_color_function(),
		ls_api_name(fi->api), ls_color_reset(), fi->max_ms);
	if (fi->count > 1)
		fprintf(out, " at most (%" PRIu64 " calls, %.1f ms in all)", fi->count,
			fi->total_ms);
	if (cb[0])
		fprintf(out, " in %s%s%s", ls_color_function(), cb, ls_color_reset());
}

static void headline_dropped(FILE *out, const struct ls_finding *fi)
{
	fprintf(out, "%s of %s went to nobody (no callback)", fi->error,
		ls_api_name(fi->api));
	if (fi->count > 1)
		fprintf(out, ", %" PRIu64 " times", fi->count);
}

/* asyncio's own checks, in asyncio's words. */
static void headline_python(FILE *out, const struct ls_finding *fi)
{
	const char *c = ls_color_function(), *z = ls_color_reset();
	if (fi->kind == LS_FINDING_NEVER_AWAITED)
		fprintf(out, "coroutine '%s%s%s' was never awaited", c, fi->py_name, z);
	else if (fi->kind == LS_FINDING_DROPPED_ERROR)
		fprintf(out, "%s%s%s exception was never retrieved: %s", c, fi->py_name, z,
			fi->py_text);
	else if (fi->kind == LS_FINDING_UNCLOSED_HANDLE)
		fprintf(out, "%s collected unclosed: %s", fi->handle, fi->py_text);
	else
		headline_wrong_thread(out, fi);
	if (fi->count > 1 && fi->kind != LS_FINDING_WRONG_THREAD)
		fprintf(out, ", %" PRIu64 " times", fi->count);
}

void ls_report_print_headline(FILE *out, const struct ls_report *r,
			      const struct ls_finding *fi)
{
	char cb[256];
	ls_finding_callback(cb, sizeof(cb), ls_report_symbolizer(r, fi->trace), fi);
	fprintf(out, "%s%s%s: ", ls_color_kind(fi->kind),
		ls_finding_kind_name(fi->kind), ls_color_reset());
	if (fi->kind == LS_FINDING_SLOW_CALLBACK)
		headline_slow(out, cb, fi);
	else if (fi->kind == LS_FINDING_SLOW_SELECTOR)
		headline_selector(out, fi);
	else if (fi->kind == LS_FINDING_BLOCKING_CALL)
		headline_blocking(out, cb, fi);
	else if (fi->python)
		headline_python(out, fi);
	else if (fi->kind == LS_FINDING_DROPPED_ERROR)
		headline_dropped(out, fi);
	else if (fi->kind == LS_FINDING_WRONG_THREAD)
		headline_wrong_thread(out, fi);
	else if (fi->kind == LS_FINDING_CRASH_IN_CALLBACK) {
		fprintf(out, "%s in %s%s%s", fi->signal, ls_color_function(),
			cb[0] ? cb : "a callback", ls_color_reset());
		if (fi->has_fault_addr)
			fprintf(out, " (address 0x%" PRIx64 ")", fi->fault_addr);
	}
	else if (fi->kind == LS_FINDING_LOST_WAKEUP)
		fprintf(out, "%" PRIu64 " uv_async_send%s to %s%s%s never answered (the handle was "
			"%s)", fi->count, fi->count == 1 ? "" : "s", ls_color_function(),
			cb[0] ? cb : "an async handle", ls_color_reset(),
			strcmp(fi->when, "exit") == 0 ? "still waiting at exit" : "closed first");
	else if (fi->kind == LS_FINDING_HANDLE_MISUSE)
		fprintf(out, "%s%s%s %s%s", ls_color_function(), ls_api_name(fi->api),
			ls_color_reset(), fi->misuse,
			fi->count > 1 ? " (more than once)" : "");
	else
		ls_report_print_left_open(out, cb, fi, 0);
}

/* A Python callback: where its function is defined, and the native
 * callback that ran it when the site is a native loop's (uvloop). */
static void text_python_callback(FILE *out, struct ls_symbolizer *s, const struct ls_finding *fi)
{
	struct ls_callback_name cn;
	ls_finding_callback_name(&cn, s, fi);
	if (!cn.py && !ls_api_is_python(fi->callback_api))
		return;
	fprintf(out, "  callback %s%s%s", ls_color_function(), cn.name, ls_color_reset());
	if (cn.py && cn.py->file)
		fprintf(out, " %s%s:%d%s", ls_color_location(), ls_basename(cn.py->file),
			cn.py->def_line, ls_color_reset());
	if (cn.py)
		fputs(" (python)", out);
	if (cn.run_by[0])
		fprintf(out, ", run by %s", cn.run_by);
	fputc('\n', out);
}

/* An event of asyncio's own checks: the coroutine's definition, then
 * the stacks it has, the one where it was seen last (where the object's
 * last reference went, or the call). */
static void text_py_event(FILE *out, struct ls_symbolizer *s, const struct ls_finding *fi)
{
	size_t file_len;
	int line;
	if (fi->kind == LS_FINDING_NEVER_AWAITED && fi->py_text[0]) {
		fprintf(out, "  coroutine %s%s%s", ls_color_function(), fi->py_name, ls_color_reset());
		if (ls_split_file_line(fi->py_text, &file_len, &line) == 0) {
			char *file = ls_xstrndup(fi->py_text, file_len);
			fprintf(out, " %s%s:%d%s", ls_color_location(), ls_basename(file), line,
				ls_color_reset());
			free(file);
		} else {
			fprintf(out, " %s", fi->py_text);
		}
		fputs(" (python)\n", out);
	}
	if (fi->kind == LS_FINDING_WRONG_THREAD) {
		text_stack(out, "called at", s, fi->called_at);
		return;
	}
	if (fi->created_at)
		text_stack(out, fi->kind == LS_FINDING_DROPPED_ERROR && strncmp(fi->py_name, "Task", 4) == 0
			   ? "task created at" : "created at", s, fi->created_at);
	if (fi->raised_at)
		text_stack(out, "raised at", s, fi->raised_at);
	text_stack(out, fi->kind == LS_FINDING_NEVER_AWAITED && !fi->created_at
		   ? "last reference dropped at (where it was made, if it was never stored)"
		   : fi->kind == LS_FINDING_NEVER_AWAITED ? "last reference dropped at"
		   : "collected at", s, fi->collected_at);
}

/* The title of the stack of the callback's registration. */
static const char *created_title(const struct ls_finding *fi, char *buf, size_t n)
{
	const char *in = fi->kind == LS_FINDING_BLOCKING_CALL ? "in the callback " : "";
	if (fi->has_callback && fi->callback_api == LS_API_PY_CREATE_TASK)
		snprintf(buf, n, "%stask created at (create_task)", in);
	else if (fi->has_callback && ls_api_is_python(fi->callback_api))
		snprintf(buf, n, "%sscheduled at (%s)", in, ls_api_name(fi->callback_api));
	else
		snprintf(buf, n, "%screated at", in);
	return buf;
}

void ls_report_print_finding(FILE *out, const struct ls_report *r,
			     const struct ls_finding *fi)
{
	struct ls_symbolizer *s = ls_report_symbolizer(r, fi->trace);
	char title[64];
	fprintf(out, "==%" PRIu64 "== ", fi->trace->pid);
	ls_report_print_headline(out, r, fi);
	fputc('\n', out);
	text_where(out, fi);
	ls_report_print_suppression(out, fi);
	if (fi->has_callback)
		text_python_callback(out, s, fi);
	if (fi->python) {
		text_py_event(out, s, fi);
		return;
	}
	if (fi->crashed_at)
		text_stack(out, "crashed at", s, fi->crashed_at);
	if (fi->stuck_at) {
		snprintf(title, sizeof(title), "stuck at (%s)", fi->stuck_how);
		text_stack(out, title, s, fi->stuck_at);
	}
	if (fi->called_at)
		text_stack(out, fi->kind == LS_FINDING_LOST_WAKEUP ? "last sent from"
			   : fi->kind == LS_FINDING_SLOW_CALLBACK || fi->kind == LS_FINDING_SLOW_SELECTOR
			   ? "loop polls at" : "called at",
			   s, fi->called_at);
	if (!fi->called_at || fi->created_at)
		text_stack(out, created_title(fi, title, sizeof(title)), s, fi->created_at);
	if (fi->registered_at)
		text_stack(out, "callback registered at", s, fi->registered_at);
}

/* Whether the process that wrote t still runs: its pid is alive (not a
 * zombie), runs the traced program, and started no later than the trace
 * was made, so that a later process given the same pid is not taken for
 * it. Start times are compared on the wall clock, which a reboot does not
 * reset as it does the monotonic clock. */
static int trace_process_running(const struct ls_trace *t)
{
	struct ls_file_header h;
	char path[64], stat[1024], exe[sizeof(t->exe) + 16];
	unsigned long long start;
	struct timespec boot, real;
	memcpy(&h, t->map, sizeof(h));
	snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", t->pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	/* "pid (comm) state ...": starttime is field 22, comm may hold ") " */
	char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	char *q = p + 2; /* field 3, the state */
	for (int field = 3; q && field < 22; field++) {
		q = strchr(q, ' ');
		q = q ? q + 1 : NULL;
	}
	if (!q || sscanf(q, "%llu", &start) != 1 ||
	    clock_gettime(CLOCK_BOOTTIME, &boot) || clock_gettime(CLOCK_REALTIME, &real))
		return 0;
	double started = (double)real.tv_sec - (double)boot.tv_sec +
			 (double)(real.tv_nsec - boot.tv_nsec) / 1e9 +
			 (double)start / (double)sysconf(_SC_CLK_TCK);
	if (started > (double)h.start_realtime_ns / 1e9 + 1.0) /* + clock tick, rounding */
		return 0;
	snprintf(path, sizeof(path), "/proc/%" PRIu64 "/exe", t->pid);
	ssize_t len = readlink(path, exe, sizeof(exe) - 1);
	if (len < 0) /* another user's process: its start time has to do */
		return 1;
	exe[len] = '\0';
	if (len > 10 && !strcmp(exe + len - 10, " (deleted)"))
		exe[len - 10] = '\0';
	return strcmp(exe, t->exe) == 0;
}

/* A process that ended with _exit: worth a note only where it ran a loop,
 * whose handles were then not checked (a fork child that only runs
 * _exit, or Python's multiprocessing workers, have none to check). */
static int quick_exit_noted(const struct ls_trace *t)
{
	return (t->notes & LS_NOTE_QUICK_EXIT) && t->loop_runs.len > 0;
}

void ls_report_print_notes(FILE *out, const struct ls_trace *t)
{
	if (!t->exited && trace_process_running(t))
		fprintf(out, "loopsan: note: %s is incomplete (process %" PRIu64 " is still "
			"running); reporting what it has recorded so far\n", t->path, t->pid);
	else if (!t->exited)
		fprintf(out, "loopsan: note: %s is incomplete (the process did not "
			"exit cleanly); reporting what it recorded\n", t->path);
	if (t->cut_bytes)
		fprintf(out, "loopsan: note: %s is cut short (its last chunk lacks "
			"%" PRIu64 " byte%s); reporting what it holds\n", t->path,
			t->cut_bytes, t->cut_bytes == 1 ? "" : "s");
	if (t->dropped)
		fprintf(out, "loopsan: note: %s: the shim could not record %" PRIu64
			" records\n", t->path, t->dropped);
	if (t->notes & LS_NOTE_EXIT_UNLOCKED)
		fprintf(out, "loopsan: note: %s: the process exited while a thread was "
			"inside the shim (exit() from a signal handler?): what was left "
			"open at exit was read without waiting, and may miss a handle "
			"changed at that moment\n", t->path);
	if (t->notes & LS_NOTE_PY_UNSUPPORTED)
		fprintf(out, "loopsan: note: %s: Python frames are not available for this "
			"Python version (loopsan reads CPython 3.11, 3.12 and 3.13's); its "
			"stacks show the interpreter's C frames\n", t->path);
	if (quick_exit_noted(t))
		fprintf(out, "loopsan: note: %s: the process ended with _exit: handles "
			"left open at exit were not checked\n", t->path);
}

/* "N findings (kind: n, ...)" of the findings of trace t, or of all when
 * t is NULL; returns N. */
static size_t count_line(FILE *out, const struct ls_report *r, const struct ls_trace *t,
			 const char *lead)
{
	size_t n = 0, per_kind[LS_FINDING_KIND_COUNT] = { 0 };
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *f = ls_finding_at(&r->findings, i);
		if (t == NULL || f->trace == t) {
			per_kind[f->kind]++;
			n++;
		}
	}
	if (n == 0)
		return 0;
	fprintf(out, "%s%zu finding%s", lead, n, n == 1 ? "" : "s");
	if (t == NULL)
		fprintf(out, " in %zu %s", r->ntraces, r->ntraces == 1 ? "process" : "processes");
	const char *sep = " (";
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++) {
		if (!per_kind[k])
			continue;
		fprintf(out, "%s%s: %zu", sep, ls_finding_kind_name(k), per_kind[k]);
		sep = ", ";
	}
	fputs(")\n", out);
	return n;
}

/* One line per process when there are several, then the whole run. */
static void text_summary(FILE *out, const struct ls_report *r)
{
	ls_report_print_suppressed(out, r);
	for (size_t i = 0; r->ntraces > 1 && i < r->ntraces; i++) {
		const struct ls_trace *t = r->traces[i];
		char lead[1200];
		snprintf(lead, sizeof(lead), "SUMMARY: loopsan: pid %" PRIu64 " (%s): ", t->pid,
			 ls_basename(t->exe));
		if (count_line(out, r, t, lead) == 0)
			fprintf(out, "%sno findings\n", lead);
	}
	if (count_line(out, r, NULL, "SUMMARY: loopsan: ") == 0)
		fprintf(out, "loopsan: no findings in %zu %s\n", r->ntraces,
			r->ntraces == 1 ? "process" : "processes");
}

void ls_report_print_text(FILE *out, const struct ls_report *r)
{
	int noted = 0;
	for (size_t i = 0; i < r->ntraces; i++) {
		ls_report_print_notes(out, r->traces[i]);
		noted |= !ls_trace_complete(r->traces[i]) || r->traces[i]->dropped ||
			 (r->traces[i]->notes & ~LS_NOTE_QUICK_EXIT) ||
			 quick_exit_noted(r->traces[i]);
	}
	if (noted)
		fputc('\n', out);
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		ls_report_print_finding(out, r, ls_finding_at(&r->findings, i));
		fputc('\n', out);
	}
	text_summary(out, r);
}

/* ---- json ---- */

static json_t *hex(uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

/* JSON strings must be UTF-8; a hostile trace may hold anything. */
static json_t *str(const char *s)
{
	json_t *j = json_string(s);
	return j ? j : json_stringn("?", 1);
}

static json_t *ms(double v)
{
	return json_real((double)(int64_t)(v * 1000.0 + 0.5) / 1000.0);
}

static json_t *json_frame(const struct ls_frame *f)
{
	json_t *o = json_object();
	if (f->python) {
		json_object_set_new(o, "function", str(f->function));
		if (f->file)
			json_object_set_new(o, "file", str(f->file));
		if (f->line > 0)
			json_object_set_new(o, "line", json_integer(f->line));
		json_object_set_new(o, "lang", str("python"));
		return o;
	}
	json_object_set_new(o, "function", f->function ? str(f->function) : hex(f->pc));
	if (f->file && f->line > 0) {
		json_object_set_new(o, "file", str(f->file));
		json_object_set_new(o, "line", json_integer(f->line));
	}
	if (f->module)
		json_object_set_new(o, "module", str(f->module));
	json_object_set_new(o, "pc", hex(f->pc));
	return o;
}

static json_t *json_stack(struct ls_symbolizer *s, const struct ls_stack *st)
{
	json_t *a = json_array();
	for (uint32_t i = ls_stack_first_frame(s, st); i < ls_stack_nframes(s, st); i++)
		json_array_append_new(a, json_frame(ls_stack_frame(s, st, i)));
	return a;
}

static json_t *json_tid(const struct ls_trace *t, uint32_t tid)
{
	const struct ls_thread *th = ls_trace_thread(t, tid);
	json_t *o = json_object();
	json_object_set_new(o, "tid", json_integer(tid));
	if (th && th->name[0])
		json_object_set_new(o, "name", str(th->name));
	return o;
}

static json_t *json_thread(const struct ls_finding *fi)
{
	return json_tid(fi->trace, fi->tid);
}

/* A finding grouped across threads: all of them, the first as `thread`. */
static json_t *json_threads(const struct ls_finding *fi)
{
	json_t *a = json_array();
	json_array_append_new(a, json_thread(fi));
	for (uint32_t i = 0; i < fi->nothers; i++)
		json_array_append_new(a, json_tid(fi->trace, fi->others[i]));
	return a;
}

json_t *ls_json_python_def(const struct ls_frame *py)
{
	json_t *o = json_object();
	json_object_set_new(o, "function", str(py->function));
	if (py->file)
		json_object_set_new(o, "file", str(py->file));
	if (py->def_line > 0)
		json_object_set_new(o, "line", json_integer(py->def_line));
	json_object_set_new(o, "lang", str("python"));
	return o;
}

static void json_common(json_t *o, struct ls_symbolizer *s,
			const struct ls_finding *fi)
{
	json_object_set_new(o, "kind", json_string(ls_finding_kind_name(fi->kind)));
	json_object_set_new(o, "pid", json_integer((json_int_t)fi->trace->pid));
	json_object_set_new(o, "thread", json_thread(fi));
	if (fi->nothers)
		json_object_set_new(o, "threads", json_threads(fi));
	if (fi->has_api)
		json_object_set_new(o, "api", json_string(ls_api_name(fi->api)));
	if (fi->kind == LS_FINDING_PENDING_AT_CLOSE || fi->kind == LS_FINDING_UNCLOSED_HANDLE)
		json_object_set_new(o, "handle", str(fi->handle));
	if (fi->has_callback) {
		struct ls_callback_name cn;
		ls_finding_callback_name(&cn, s, fi);
		json_object_set_new(o, "callback", str(cn.name));
		if (cn.py)
			json_object_set_new(o, "callback_at", ls_json_python_def(cn.py));
		if (cn.run_by[0])
			json_object_set_new(o, "run_by", str(cn.run_by));
	}
}

/* "file:line" as {"file", "line"}; the whole as file when it has no line. */
static json_t *json_file_line(const char *text)
{
	size_t file_len;
	int line;
	json_t *o = json_object();
	if (ls_split_file_line(text, &file_len, &line) != 0) {
		json_object_set_new(o, "file", str(text));
		return o;
	}
	char *file = ls_xstrndup(text, file_len);
	json_object_set_new(o, "file", str(file));
	json_object_set_new(o, "line", json_integer(line));
	free(file);
	return o;
}

static json_t *json_finding(struct ls_symbolizer *s, const struct ls_finding *fi)
{
	json_t *o = json_object();
	json_common(o, s, fi);
	if (fi->kind == LS_FINDING_SLOW_CALLBACK) {
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
		json_object_set_new(o, "max_ms", ms(fi->max_ms));
		json_object_set_new(o, "total_ms", ms(fi->total_ms));
		json_object_set_new(o, "threshold_ms", ms(fi->threshold_ms));
	} else if (fi->kind == LS_FINDING_SLOW_SELECTOR) {
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
		json_object_set_new(o, "late_ms", ms(fi->late_ms));
		json_object_set_new(o, "max_ms", ms(fi->max_ms));
		if (fi->timeout_ms >= 0)
			json_object_set_new(o, "timeout_ms", ms(fi->timeout_ms));
		json_object_set_new(o, "threshold_ms", ms(fi->threshold_ms));
	} else if (fi->kind == LS_FINDING_BLOCKING_CALL) {
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
		json_object_set_new(o, "max_ms", ms(fi->max_ms));
		json_object_set_new(o, "total_ms", ms(fi->total_ms));
	} else if (fi->kind == LS_FINDING_WRONG_THREAD) {
		const struct ls_thread *th = ls_trace_thread(fi->trace, fi->loop_tid);
		json_t *lt = json_object();
		json_object_set_new(lt, "tid", json_integer(fi->loop_tid));
		if (th && th->name[0])
			json_object_set_new(lt, "name", str(th->name));
		json_object_set_new(o, "loop_thread", lt);
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
	} else if (fi->kind == LS_FINDING_CRASH_IN_CALLBACK) {
		char addr[32];
		snprintf(addr, sizeof(addr), "0x%" PRIx64, fi->fault_addr);
		json_object_set_new(o, "signal", str(fi->signal));
		if (fi->has_fault_addr)
			json_object_set_new(o, "address", str(addr));
	} else if (fi->kind == LS_FINDING_LOST_WAKEUP) {
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
		json_object_set_new(o, "lost_at", str(fi->when));
	} else if (fi->kind == LS_FINDING_HANDLE_MISUSE) {
		json_object_set_new(o, "misuse", str(fi->misuse));
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
	} else if (fi->kind == LS_FINDING_DROPPED_ERROR) {
		if (fi->python)
			json_object_set_new(o, "task", str(fi->py_name));
		json_object_set_new(o, "error", str(fi->error));
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
	} else if (fi->kind == LS_FINDING_NEVER_AWAITED) {
		json_object_set_new(o, "coroutine", str(fi->py_name));
		if (fi->py_text[0])
			json_object_set_new(o, "defined_at", json_file_line(fi->py_text));
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
	} else if (fi->python) {
		json_object_set_new(o, "message", str(fi->py_text));
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
	} else {
		json_object_set_new(o, "closing", json_boolean(fi->closing));
		json_object_set_new(o, "at_exit", json_boolean(fi->at_exit));
		json_object_set_new(o, "count", json_integer((json_int_t)fi->count));
	}
	if (fi->crashed_at)
		json_object_set_new(o, "crashed_at", json_stack(s, fi->crashed_at));
	if (fi->created_at)
		json_object_set_new(o, "created_at", json_stack(s, fi->created_at));
	if (fi->called_at)
		json_object_set_new(o, "called_at", json_stack(s, fi->called_at));
	if (fi->registered_at)
		json_object_set_new(o, "registered_at",
				    json_stack(s, fi->registered_at));
	if (fi->raised_at)
		json_object_set_new(o, "raised_at", json_stack(s, fi->raised_at));
	if (fi->collected_at)
		json_object_set_new(o, "collected_at", json_stack(s, fi->collected_at));
	if (fi->stuck_at) {
		json_object_set_new(o, "stuck_at", json_stack(s, fi->stuck_at));
		json_object_set_new(o, "stuck_how", str(fi->stuck_how));
	}
	if (fi->suppression)
		json_object_set_new(o, "suppression", str(fi->suppression));
	return o;
}

/* Does thread tid run a library's loop (uv_run, event_base_loop, ...), not
 * only a selector the shim saw called again and again? */
static int runs_library_loop(const struct ls_trace *t, uint32_t tid)
{
	for (size_t i = 0; i < t->loop_runs.len; i++) {
		const struct ls_loop_run *run = LS_VEC_AT(&t->loop_runs, struct ls_loop_run, i);
		if (run->tid == tid && run->loop != 0)
			return 1;
	}
	return 0;
}

/* The threads that ran a loop: each library loop once per thread, and a
 * selector loop (loop 0) only for a thread that runs no library's. */
static json_t *json_loops(const struct ls_trace *t)
{
	json_t *loops = json_array();
	for (size_t i = 0; i < t->loop_runs.len; i++) {
		const struct ls_loop_run *run = LS_VEC_AT(&t->loop_runs, struct ls_loop_run, i);
		int seen = run->loop == 0 && runs_library_loop(t, run->tid);
		for (size_t k = 0; k < i && !seen; k++) {
			const struct ls_loop_run *o2 = LS_VEC_AT(&t->loop_runs, struct ls_loop_run, k);
			seen = o2->tid == run->tid && o2->loop == run->loop;
		}
		if (seen)
			continue;
		const struct ls_thread *th = ls_trace_thread(t, run->tid);
		json_t *l = json_pack("{s:I,s:o,s:s}", "tid", (json_int_t)run->tid, "name",
				      str(th ? th->name : ""), "api", ls_api_name(run->api));
		if (run->loop != 0) {
			char loop[32];
			snprintf(loop, sizeof(loop), "0x%" PRIx64, run->loop);
			json_object_set_new(l, "loop", json_string(loop));
		}
		json_array_append_new(loops, l);
	}
	return loops;
}

static json_t *json_process(const struct ls_trace *t)
{
	json_t *o = json_object();
	json_object_set_new(o, "pid", json_integer((json_int_t)t->pid));
	json_object_set_new(o, "exe", str(ls_basename(t->exe)));
	json_object_set_new(o, "trace", str(t->path));
	json_object_set_new(o, "complete", json_boolean(ls_trace_complete(t)));
	if (t->notes & LS_NOTE_EXIT_UNLOCKED)
		json_object_set_new(o, "exit_unlocked", json_true());
	if (t->notes & LS_NOTE_PY_UNSUPPORTED)
		json_object_set_new(o, "python_frames", json_false());
	if (t->notes & LS_NOTE_QUICK_EXIT)
		json_object_set_new(o, "quick_exit", json_true());
	json_object_set_new(o, "loops", json_loops(t));
	return o;
}

/* Every rule given, with how many findings it silenced (0 included, so
 * that stale rules show). */
static json_t *json_suppressed(const struct ls_report *r)
{
	json_t *a = json_array();
	for (size_t i = 0; r->suppressions &&
			   i < ls_suppressions_count(r->suppressions); i++) {
		const struct ls_suppression *s = ls_suppression_at(r->suppressions, i);
		json_t *o = json_object();
		json_object_set_new(o, "rule", str(s->rule));
		json_object_set_new(o, "file", str(s->file));
		json_object_set_new(o, "line", json_integer(s->line));
		json_object_set_new(o, "count", json_integer((json_int_t)s->count));
		json_array_append_new(a, o);
	}
	return a;
}

int ls_report_print_json(FILE *out, const struct ls_report *r)
{
	json_t *doc = json_object(), *procs = json_array(), *finds = json_array();
	json_object_set_new(doc, "loopsan_report", json_integer(1));
	for (size_t i = 0; i < r->ntraces; i++) {
		json_array_append_new(procs, json_process(r->traces[i]));
		ls_report_print_notes(stderr, r->traces[i]);
	}
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *fi = ls_finding_at(&r->findings, i);
		json_array_append_new(finds, json_finding(ls_report_symbolizer(r, fi->trace), fi));
	}
	json_object_set_new(doc, "processes", procs);
	json_object_set_new(doc, "findings", finds);
	json_object_set_new(doc, "suppressed", json_suppressed(r));
	int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				      JSON_REAL_PRECISION(15));
	fputc('\n', out);
	json_decref(doc);
	return rc;
}

/* ---- command ---- */

static int parse_format(const char *s, enum format *f)
{
	static const char *const names[] = { "text", "json", "sarif", "junit", "html" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*f = (enum format)i;
			return 0;
		}
	}
	ls_error("report: unknown format '%s' (text, json, sarif, junit or html)", s);
	return -1;
}

static int parse_color(const char *s, enum ls_color_mode *mode)
{
	if (ls_color_parse(s, mode) == 0)
		return 0;
	ls_error("report: bad --color '%s' (auto, always or never)", s);
	return -1;
}

/* Handles the option at argv[*i]; returns -1 on a usage error, 1 for
 * --help, 0 otherwise. */
static int parse_option(int argc, char **argv, int *i, void *opaque)
{
	struct report_args *a = opaque;
	const char *arg = argv[*i], *v;
	int bad = 0;
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		return 1;
	if ((v = ls_option_value("report", argc, argv, i, "--format", &bad)))
		return parse_format(v, &a->format);
	if (!bad && (v = ls_option_value("report", argc, argv, i, "--color", &bad)))
		return parse_color(v, &a->color);
	if (!bad && (v = ls_option_value("report", argc, argv, i, "--slow-ms", &bad)))
		return ls_parse_slow_ms("report", v, &a->slow_ms);
	if (!bad && (v = ls_option_value("report", argc, argv, i, "--suppressions", &bad)))
		return ls_suppressions_load(&a->supp, v);
	if (!bad && ((v = ls_option_value("report", argc, argv, i, "--output", &bad)) ||
		     (!bad && (v = ls_option_value("report", argc, argv, i, "-o", &bad))))) {
		a->output = v;
		return 0;
	}
	if (!bad)
		ls_error("report: unknown option '%s' (see loopsan report --help)", arg);
	return -1;
}

/* Options may come before or after the traces; after "--" everything is a
 * trace. Returns -1 on a usage error, 1 for --help, 0 otherwise. */
static int parse_args(int argc, char **argv, struct report_args *a)
{
	return ls_parse_command_line("report", argc, argv, parse_option, a, &a->paths, &a->npaths);
}

static void print(const struct report_args *a, FILE *out, const struct ls_report *r)
{
	switch (a->format) {
	case FORMAT_TEXT:
		ls_color_setup(a->color, fileno(out));
		ls_report_print_text(out, r);
		break;
	case FORMAT_JSON:
		ls_report_print_json(out, r);
		break;
	case FORMAT_SARIF:
		ls_report_print_sarif(out, r);
		break;
	case FORMAT_JUNIT:
		ls_report_print_junit(out, r);
		break;
	case FORMAT_HTML:
		ls_report_print_html(out, r);
		break;
	}
}

/* ---- -o FILE: whole or not at all ---- */

struct output {
	const char *path;   /* NULL: stdout */
	char *tmp;          /* path.XXXXXX beside it, renamed to path at the end */
	FILE *f;
};

/* Opens the temporary file beside path before any trace is read, so an
 * unwritable path is a quick one-line error. Mode 0666 less the umask,
 * as a file fopen made would have: mkstemp's 0600 would stay after the
 * rename. */
static int output_open(struct output *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	if (path == NULL || strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	if (path[0] == '\0') {
		ls_error("report: -o needs a file name (see loopsan report --help)");
		return -1;
	}
	o->path = path;
	o->tmp = ls_xmalloc(strlen(path) + 8);
	sprintf(o->tmp, "%s.XXXXXX", path);
	mode_t mask = umask(0);
	umask(mask);
	int fd = mkstemp(o->tmp);
	if (fd < 0 || fchmod(fd, 0666 & ~mask) != 0 || (o->f = fdopen(fd, "w")) == NULL) {
		ls_error("report: cannot write %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	return 0;
}

/* Renames the finished file into place (keep) or removes it; -1 after
 * a one-line message when the output could not be written whole. */
static int output_close(struct output *o, int keep)
{
	if (o->path == NULL) {
		if (fflush(stdout) == 0 || !keep)
			return 0;
		ls_error("report: stdout: %s", strerror(errno));
		return -1;
	}
	int rc = ferror(o->f) ? -1 : 0;
	if (fclose(o->f) != 0)
		rc = -1;
	if (keep && rc == 0 && rename(o->tmp, o->path) != 0)
		rc = -1;
	if (keep && rc != 0)
		ls_error("report: cannot write %s: %s", o->path, strerror(errno));
	if (!keep || rc != 0)
		unlink(o->tmp);
	free(o->tmp);
	return rc;
}

/* Reads the traces and prints the report to out (*printed set when it
 * did); -1 when a trace was bad (the others are reported) or none could
 * be read. */
static int report(struct report_args *a, FILE *out, int *printed)
{
	struct ls_report r;
	struct ls_findings_options opt = { .slow_ms = a->slow_ms, .suppressions = &a->supp };
	int rc = -1;
	*printed = 0;
	/* A bad trace among several: the others are reported, then exit 2. */
	if (ls_report_load_all(&r, a->paths, a->npaths, &opt) == 0) {
		ls_report_note_slow_ms(&r, &opt);
		print(a, out, &r);
		*printed = 1;
		rc = r.nbad ? -1 : 0;
	}
	ls_report_free(&r);
	return rc;
}

int ls_cmd_report(int argc, char **argv)
{
	struct report_args a = { .format = FORMAT_TEXT, .slow_ms = -1 };
	struct output o;
	int printed;
	ls_suppressions_init(&a.supp);
	int rc = parse_args(argc, argv, &a);
	if (rc == 0 && (rc = output_open(&o, a.output)) == 0) {
		rc = report(&a, o.f, &printed);
		/* With some traces bad, what the others hold is still written;
		 * with none read, no file is left. */
		if (output_close(&o, printed) != 0)
			rc = -1;
	} else if (rc > 0) {
		ls_report_usage(stdout);
	}
	ls_suppressions_free(&a.supp);
	free(a.paths);
	return rc < 0 ? LS_EXIT_USAGE : LS_EXIT_OK;
}
