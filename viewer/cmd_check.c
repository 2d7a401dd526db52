/* loopsan check: the CI gate. Reads traces like report, then fails (exit
 * 1) when an unsuppressed finding of a --fail-on kind remains, printing one
 * line per such finding and a verdict. run --fail uses the same gate. */
#include "viewer/commands.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct check_args {
	unsigned fail_on;
	double slow_ms;
	enum ls_color_mode color;
	struct ls_suppressions supp;
	char **paths;
	size_t npaths;
};

void ls_check_usage(FILE *out)
{
	fputs("usage: loopsan check [--fail-on KIND,...] [--slow-ms N]\n"
	      "                     [--suppressions FILE]... [--color WHEN] TRACE|DIR...\n"
	      "\n"
	      "The CI gate: prints one FAIL line per finding of a --fail-on kind\n"
	      "that no suppression silences, then a verdict line.\n"
	      "\n"
	      "options:\n"
	      "  --fail-on KIND,...   the kinds that fail (default: all), from\n"
	      "                       slow-callback, slow-selector, blocking-call,\n"
	      "                       wrong-thread, pending-at-close, unclosed-handle,\n"
	      "                       dropped-error, never-awaited, lost-wakeup,\n"
	      "                       crash-in-callback, handle-misuse\n"
	      "  --slow-ms N          judge slow callbacks at N ms (more than 0, at\n"
	      "                       most 3600000) instead of the threshold they\n"
	      "                       were recorded with\n"
	      "  --suppressions FILE  kind:pattern lines whose findings do not fail\n"
	      "                       (repeatable); `loopsan report` prints the rule\n"
	      "                       of each finding (suppress with: KIND:PATTERN)\n"
	      "  --color WHEN         auto (the default), always or never\n"
	      "  -h, --help           show this help\n"
	      "\n"
	      "suppressions: one kind:pattern rule a line; # starts a comment line.\n"
	      "The pattern (fnmatch: * ? [...], \\ escapes) must match a whole name\n"
	      "of the finding: its callback; the function its report names\n"
	      "(blocking-call:usleep); or a frame's function, file, file:line or\n"
	      "module. A malformed line is exit 2 naming FILE:LINE; rules matching\n"
	      "a name on every stack (main, libc.so.6) are warned of, rules that\n"
	      "matched nothing noted, on stderr.\n"
	      "\n"
	      "exit status: 0 pass, 1 fail, 2 usage error or bad trace file (a bad\n"
	      "trace among several: the others are judged first).\n",
	      out);
}

/* ---- the gate, shared with run --fail ---- */

int ls_gate_parse_kinds(const char *cmd, const char *list, unsigned *kinds)
{
	unsigned set = 0;
	const char *p = list;
	for (;;) {
		size_t n = strcspn(p, ",");
		enum ls_finding_kind k;
		if (n == 0) {
			ls_error("%s: empty kind in --fail-on '%s'", cmd, list);
			return -1;
		}
		if (ls_finding_kind_parse(p, n, &k)) {
			ls_error("%s: unknown kind '%.*s' in --fail-on (see loopsan "
				 "%s --help)", cmd, (int)n, p, cmd);
			return -1;
		}
		set |= 1u << k;
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	*kinds = set;
	return 0;
}

size_t ls_gate_failing(const struct ls_report *r, unsigned kinds)
{
	size_t n = 0;
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++)
		n += (kinds >> ls_finding_at(&r->findings, i)->kind) & 1u;
	return n;
}

int ls_parse_slow_ms(const char *cmd, const char *arg, double *ms)
{
	char *end;
	double v = strtod(arg, &end);
	if (end == arg || *end != '\0' || !isfinite(v) || v <= 0 || v > 3600000) {
		ls_error("%s: bad --slow-ms '%s' (milliseconds, more than 0 and at most "
			 "3600000, an hour)", cmd, arg);
		return -1;
	}
	*ms = v;
	return 0;
}

/* ---- output ---- */

/* The text report's headline of fi without its "kind: ", on one line
 * (control characters of a message as \xNN). */
static void print_headline_body(FILE *out, const struct ls_report *r,
				const struct ls_finding *fi)
{
	char *text = NULL, prefix[128];
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return;
	ls_report_print_headline(m, r, fi);
	fclose(m);
	int n = snprintf(prefix, sizeof(prefix), "%s%s%s: ", ls_color_kind(fi->kind),
			 ls_finding_kind_name(fi->kind), ls_color_reset());
	const char *p = text;
	if (n > 0 && strncmp(text, prefix, (size_t)n) == 0)
		p += n;
	for (; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\033')
			fprintf(out, "\\x%02x", (unsigned char)*p);
		else
			fputc(*p, out);
	}
	free(text);
}

/* FAIL slow-callback on_tick 250.1 ms (pid 42) created at start_ticker demo.c:36
 * One line, saying what the text report's headline says (its own code
 * for the kinds that need no more); the first " at " starts the location. */
static void print_verdict(FILE *out, const struct ls_report *r,
			  const struct ls_finding *fi)
{
	char cb[256];
	ls_finding_callback(cb, sizeof(cb), ls_report_symbolizer(r, fi->trace), fi);
	fprintf(out, "FAIL %s%s%s", ls_color_kind(fi->kind),
		ls_finding_kind_name(fi->kind), ls_color_reset());
	if (fi->kind == LS_FINDING_SLOW_CALLBACK && cb[0]) {
		fprintf(out, " %s%s%s %.1f ms", ls_color_function(), cb, ls_color_reset(),
			fi->max_ms);
		if (fi->count > 1)
			fprintf(out, ", %" PRIu64 " times", fi->count);
	} else if (fi->kind == LS_FINDING_BLOCKING_CALL) {
		fprintf(out, " %s%s%s %.1f ms", ls_color_function(), ls_api_name(fi->api),
			ls_color_reset(), fi->max_ms);
		if (fi->count > 1)
			fprintf(out, ", %" PRIu64 " calls", fi->count);
		if (cb[0])
			fprintf(out, " in %s%s%s", ls_color_function(), cb, ls_color_reset());
	} else if (fi->kind == LS_FINDING_WRONG_THREAD) {
		fprintf(out, " %s from thread %" PRIu32 " (loop thread %" PRIu32 ")",
			ls_api_name(fi->api), fi->tid, fi->loop_tid);
		if (fi->count > 1)
			fprintf(out, ", %" PRIu64 " times", fi->count);
	} else if (fi->kind == LS_FINDING_NEVER_AWAITED) {
		fprintf(out, " coroutine %s%s%s was never awaited", ls_color_function(), fi->py_name,
			ls_color_reset());
		if (fi->count > 1)
			fprintf(out, ", %" PRIu64 " times", fi->count);
	} else if (fi->python && fi->kind == LS_FINDING_DROPPED_ERROR) {
		fprintf(out, " %s%s%s exception never retrieved: %s", ls_color_function(),
			fi->py_name, ls_color_reset(), fi->error);
		if (fi->count > 1)
			fprintf(out, ", %" PRIu64 " times", fi->count);
	} else if (fi->python && fi->kind == LS_FINDING_UNCLOSED_HANDLE) {
		fprintf(out, " %s collected unclosed", fi->handle);
		if (fi->count > 1)
			fprintf(out, ", %" PRIu64 " times", fi->count);
	} else if (fi->kind == LS_FINDING_PENDING_AT_CLOSE ||
		   fi->kind == LS_FINDING_UNCLOSED_HANDLE) {
		fputc(' ', out);
		ls_report_print_left_open(out, cb, fi, 1);
	} else if (fi->kind == LS_FINDING_LOST_WAKEUP) {
		fprintf(out, " %" PRIu64 " uv_async_send%s to %s%s%s never answered (the "
			"handle was %s)", fi->count, fi->count == 1 ? "" : "s",
			ls_color_function(), cb[0] ? cb : "an async handle", ls_color_reset(),
			strcmp(fi->when, "exit") == 0 ? "still waiting when the process exited"
			: "closed first");
	} else {
		/* a slow loop iteration, slow-selector, dropped-error,
		 * crash-in-callback, handle-misuse */
		fputc(' ', out);
		print_headline_body(out, r, fi);
	}
	fprintf(out, " (pid %" PRIu64 ")", fi->trace->pid);
	const char *verb;
	const struct ls_frame *f = ls_finding_location(r, fi);
	ls_finding_location_stack(fi, &verb);
	if (f && f->file)
		fprintf(out, " %s at %s%s%s %s%s:%d%s", verb,
			ls_color_function(),
			f->function ? f->function : "?", ls_color_reset(),
			ls_color_location(), ls_basename(f->file), f->line,
			ls_color_reset());
	else if (f) /* a stripped program: module+0xoffset */
		fprintf(out, " %s at %s%s%s", verb, ls_color_function(),
			f->function ? f->function : "?", ls_color_reset());
	fputc('\n', out);
}

static void print_result(FILE *out, const struct ls_report *r, unsigned fail_on)
{
	size_t failing = 0, per_kind[LS_FINDING_KIND_COUNT] = { 0 };
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *fi = ls_finding_at(&r->findings, i);
		if (!((fail_on >> fi->kind) & 1u))
			continue;
		print_verdict(out, r, fi);
		per_kind[fi->kind]++;
		failing++;
	}
	ls_report_print_suppressed(out, r);
	if (failing == 0) {
		fprintf(out, "loopsan check: PASS (%zu process%s, 0 failing findings, "
			"%zu suppressed)\n", r->ntraces, r->ntraces == 1 ? "" : "es",
			r->nsuppressed);
		return;
	}
	fprintf(out, "loopsan check: FAIL (%zu finding%s: ", failing,
		failing == 1 ? "" : "s");
	const char *sep = "";
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++) {
		if (!per_kind[k])
			continue;
		fprintf(out, "%s%s: %zu", sep, ls_finding_kind_name(k), per_kind[k]);
		sep = ", ";
	}
	fprintf(out, "; %zu process%s, %zu suppressed)\n", r->ntraces,
		r->ntraces == 1 ? "" : "es", r->nsuppressed);
}

/* ---- command ---- */

static int parse_option(int argc, char **argv, int *i, void *opaque)
{
	struct check_args *a = opaque;
	const char *arg = argv[*i], *v;
	int bad = 0;
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		return 1;
	if ((v = ls_option_value("check", argc, argv, i, "--fail-on", &bad)))
		return ls_gate_parse_kinds("check", v, &a->fail_on);
	if (!bad && (v = ls_option_value("check", argc, argv, i, "--slow-ms", &bad)))
		return ls_parse_slow_ms("check", v, &a->slow_ms);
	if (!bad && (v = ls_option_value("check", argc, argv, i, "--suppressions", &bad)))
		return ls_suppressions_load(&a->supp, v);
	if (!bad && (v = ls_option_value("check", argc, argv, i, "--color", &bad))) {
		if (ls_color_parse(v, &a->color) == 0)
			return 0;
		ls_error("check: bad --color '%s' (auto, always or never)", v);
		return -1;
	}
	if (!bad)
		ls_error("check: unknown option '%s' (see loopsan check --help)", arg);
	return -1;
}

static int parse_args(int argc, char **argv, struct check_args *a)
{
	return ls_parse_command_line("check", argc, argv, parse_option, a, &a->paths, &a->npaths);
}

int ls_cmd_check(int argc, char **argv)
{
	struct check_args a = { .fail_on = LS_KINDS_ALL, .slow_ms = -1 };
	int status = LS_EXIT_USAGE;
	ls_suppressions_init(&a.supp);
	int rc = parse_args(argc, argv, &a);
	if (rc == 0) {
		struct ls_report r;
		struct ls_findings_options opt = { .slow_ms = a.slow_ms,
						   .suppressions = &a.supp };
		/* A bad trace among several: the others are judged, then
		 * exit 2, whatever they gave. */
		if (ls_report_load_all(&r, a.paths, a.npaths, &opt) == 0) {
			for (size_t i = 0; i < r.ntraces; i++)
				ls_report_print_notes(stderr, r.traces[i]);
			ls_report_note_slow_ms(&r, &opt);
			ls_color_setup(a.color, fileno(stdout));
			print_result(stdout, &r, a.fail_on);
			status = r.nbad ? LS_EXIT_USAGE
				 : ls_gate_failing(&r, a.fail_on) ? LS_EXIT_FAIL : LS_EXIT_OK;
		}
		ls_report_free(&r);
	} else if (rc > 0) {
		ls_check_usage(stdout);
		status = LS_EXIT_OK;
	}
	ls_suppressions_free(&a.supp);
	free(a.paths);
	return status;
}
