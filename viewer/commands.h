/* The subcommands of the loopsan CLI, one file each (cmd_<name>.c), and
 * the report pipeline they share. */
#ifndef LOOPSAN_VIEWER_COMMANDS_H
#define LOOPSAN_VIEWER_COMMANDS_H

#include <jansson.h>
#include <stdio.h>

#include "viewer/color.h"
#include "viewer/findings.h"
#include "viewer/reader.h"
#include "viewer/suppress.h"
#include "viewer/symbolize.h"

#define LOOPSAN_VERSION "0.1.0"
/* Where SARIF consumers send people to read about the tool; override with
 * -DLOOPSAN_URI=... when building a package. */
#ifndef LOOPSAN_URI
#define LOOPSAN_URI "https://github.com/loopsan/loopsan"
#endif

#define LS_EXIT_OK 0
#define LS_EXIT_FAIL 1      /* check: a finding fails the gate */
#define LS_EXIT_USAGE 2     /* usage error or bad input */
#define LS_EXIT_FINDINGS 66 /* run --fail when there are findings */

int ls_cmd_report(int argc, char **argv);
int ls_cmd_run(int argc, char **argv);
int ls_cmd_check(int argc, char **argv);
int ls_cmd_stats(int argc, char **argv);
int ls_cmd_export(int argc, char **argv);
int ls_cmd_top(int argc, char **argv);
void ls_report_usage(FILE *out);
void ls_run_usage(FILE *out);

/* run_exe.c: the program loopsan run is asked to run, from its ELF headers. */
struct ls_run_exe {
	int is_static;  /* no PT_INTERP: LD_PRELOAD cannot reach it */
	char asan[64];  /* the libasan soname it links, "" when none */
};
char *ls_run_exe_path(const char *cmd);  /* as execvp finds it; NULL when not found */
int ls_run_exe_inspect(const char *path, struct ls_run_exe *out);  /* -1: not a 64-bit ELF */
/* The shim run preloads, as an absolute path (run_exe.c says where it
 * looks); NULL after a one-line message when there is none. */
#define LS_SHIM_NAME "libloopsan.so"
char *ls_run_find_shim(void);
void ls_check_usage(FILE *out);
void ls_stats_usage(FILE *out);
void ls_export_usage(FILE *out);
void ls_top_usage(FILE *out);

/* A set of traces read together, with their merged findings. */
struct ls_report {
	struct ls_trace **traces;
	struct ls_symbolizer **syms; /* one per trace */
	size_t ntraces;
	struct ls_findings findings;  /* the unsuppressed ones */
	struct ls_suppressions *suppressions; /* NULL when none were given */
	size_t nsuppressed;
	size_t nbad; /* paths or traces that could not be read (ls_report_load_all) */
};

/* Reads every trace named in paths (a directory stands for its *.trace
 * files), then collects and sorts the findings. On a bad input prints
 * "loopsan: FILE: what is wrong" on stderr and returns -1. */
int ls_report_load(struct ls_report *r, char *const *paths, size_t npaths,
		   const struct ls_findings_options *opt);
/* The same, going on past a bad path or trace (each named on stderr, and
 * counted in nbad): -1 only when no trace could be read. */
int ls_report_load_all(struct ls_report *r, char *const *paths, size_t npaths,
		       const struct ls_findings_options *opt);
/* Appends DIR/NAME for each regular file NAME.trace in dir, sorted by
 * name; -1 (errno set) when dir cannot be read. */
int ls_list_traces(const char *dir, struct ls_vec *out);
/* Adds one already-read trace (the report takes it over). */
void ls_report_add(struct ls_report *r, struct ls_trace *t);
void ls_report_finish(struct ls_report *r, const struct ls_findings_options *opt);
void ls_report_free(struct ls_report *r);

void ls_report_print_text(FILE *out, const struct ls_report *r);
int ls_report_print_json(FILE *out, const struct ls_report *r);
int ls_report_print_sarif(FILE *out, const struct ls_report *r);
int ls_report_print_junit(FILE *out, const struct ls_report *r);
/* One self-contained HTML page (out_html.c, docs/HTML-REPORT.md). */
int ls_report_print_html(FILE *out, const struct ls_report *r);
/* The block of one finding in the text report, and its first line alone
 * without "==PID== " or newline (colored when ls_color_on()). */
void ls_report_print_finding(FILE *out, const struct ls_report *r,
			     const struct ls_finding *fi);
void ls_report_print_headline(FILE *out, const struct ls_report *r,
			      const struct ls_finding *fi);
/* The headline of a handle or request left open (pending-at-close,
 * unclosed-handle); without_at: said without " at " (check's FAIL lines,
 * whose first " at " starts the location). */
void ls_report_print_left_open(FILE *out, const char *cb, const struct ls_finding *fi,
			       int without_at);
/* "  suppress with: kind:pattern" and a newline: the rule that silences
 * exactly fi (nothing when it has none). */
void ls_report_print_suppression(FILE *out, const struct ls_finding *fi);
/* "loopsan: note: ..." lines on out for incomplete traces. */
void ls_report_print_notes(FILE *out, const struct ls_trace *t);
/* "loopsan: suppressed N findings: 2 by 'kind:pattern' (file:3), ..."
 * and a newline, when something was suppressed. */
void ls_report_print_suppressed(FILE *out, const struct ls_report *r);
/* On stderr, once: slow_ms is below a trace's recording threshold, so
 * runs between the two may be missing from it. */
void ls_report_note_slow_ms(const struct ls_report *r,
			    const struct ls_findings_options *opt);

/* ---- frames and names shared by the output formats (report.c) ---- */

struct ls_symbolizer *ls_report_symbolizer(const struct ls_report *r,
					   const struct ls_trace *t);
/* The frames of st as shown (its Python frames in place of the eval
 * loop's: ls_stack_view), and the index of the first that is not the
 * shim's own. */
uint32_t ls_stack_nframes(struct ls_symbolizer *s, const struct ls_stack *st);
uint32_t ls_stack_first_frame(struct ls_symbolizer *s, const struct ls_stack *st);
const struct ls_frame *ls_stack_frame(struct ls_symbolizer *s,
				      const struct ls_stack *st, uint32_t i);
/* What a callback is called. A native one by its symbol, or its address.
 * A Python one (the site of a Python loop method: call_soon, call_later,
 * call_at, create_task) by its function's qualified name ("refresh_token";
 * "Task main()" for a task), never by an address, with py its definition.
 * A native callback that ran Python (uvloop's timer callback running a
 * call_later handle) by the Python function it ran, found in stuck_at,
 * with run_by naming the native one. */
struct ls_callback_name {
	char name[320];              /* "" when there is no callback */
	const struct ls_frame *py;   /* the Python function: file, def_line; else NULL */
	char run_by[320];            /* the native callback that ran py, or "" */
};
void ls_finding_callback_name(struct ls_callback_name *out, struct ls_symbolizer *s,
			      const struct ls_finding *fi);
void ls_site_callback_name(struct ls_callback_name *out, struct ls_symbolizer *s,
			   const struct ls_site *site);
/* Where a site was registered, in one frame: in a stack that ran Python,
 * its first Python frame in the user's code; else its innermost frame
 * that is not the shim's. NULL when there is none. */
const struct ls_frame *ls_site_frame(struct ls_symbolizer *s, const struct ls_trace *t,
				     const struct ls_site *site);
/* A Python callback's definition as JSON: a Python frame (function,
 * file, "lang": "python") whose line is the function's first. */
json_t *ls_json_python_def(const struct ls_frame *py);
/* The name alone; "" when the finding has no callback. */
void ls_finding_callback(char *buf, size_t n, struct ls_symbolizer *s,
			 const struct ls_finding *fi);
/* Whether f is in the user's code: not in a lib*.so* or ld-linux module
 * (libc, libuv, libpthread, the shim, ...), the Python interpreter or an
 * installed Python package's extension (uvloop); a Python frame not in the
 * standard library (.../lib/python3.*), site- or dist-packages, or
 * "<frozen ...>". */
int ls_frame_is_user(const struct ls_frame *f);
/* Where to look, in the stack ls_finding_location_stack picks: the first
 * Python frame in the user's code when the stack has Python frames, else
 * the first native frame in the user's code with a file and line, else
 * the first in the user's code at all (a stripped program: its function
 * is module+0xoffset, file NULL); never where threads start (_start,
 * __libc_start_call_main, start_thread, clone3). NULL when there is none. */
const struct ls_frame *ls_finding_location(const struct ls_report *r,
					   const struct ls_finding *fi);
/* The stack ls_finding_location looks in: called_at, else created_at,
 * else (asyncio's checks) collected_at, else raised_at; *verb (when not
 * NULL) says which: "called", "created", "collected" ("dropped" for a
 * coroutine never awaited: where its last reference went), "raised". */
const struct ls_stack *ls_finding_location_stack(const struct ls_finding *fi, const char **verb);
/* Splits "file:line" (a coroutine's definition): 0 and the file's length
 * and the line, or -1 when it does not end in ":digits". */
int ls_split_file_line(const char *s, size_t *file_len, int *line);

/* ---- the gate shared by check and run --fail (cmd_check.c) ---- */

#define LS_KINDS_ALL ((1u << LS_FINDING_KIND_COUNT) - 1)
/* Parses "kind,kind,..." into a bit set of kinds; on an unknown kind
 * prints "loopsan: CMD: unknown kind 'X' in --fail-on" and returns -1. */
int ls_gate_parse_kinds(const char *cmd, const char *list, unsigned *kinds);
/* The number of findings of r whose kind is in kinds. */
size_t ls_gate_failing(const struct ls_report *r, unsigned kinds);
/* Parses a --slow-ms value, milliseconds > 0; -1 after naming the problem. */
int ls_parse_slow_ms(const char *cmd, const char *arg, double *ms);

/* The value of option name (e.g. "--format") at argv[*i], given as
 * "--name=value" or "--name value"; NULL when argv[*i] is another option,
 * or (with *bad set, after naming the problem) when the value is missing. */
/* The shape every trace-reading command shares: options anywhere, "--"
 * ends them, everything else is a TRACE|DIR. option(argc, argv, &i, arg)
 * handles argv[i] (it may consume a value) and returns -1 on a usage
 * error, 1 for --help, 0 otherwise. Fills *paths (free it) and *npaths;
 * returns like option, or -1 with a message when no trace is given. */
int ls_parse_command_line(const char *cmd, int argc, char **argv,
			  int (*option)(int argc, char **argv, int *i, void *arg), void *arg,
			  char ***paths, size_t *npaths);
const char *ls_option_value(const char *cmd, int argc, char **argv, int *i,
			    const char *name, int *bad);

/* Prints "loopsan: <fmt>" and a newline on stderr. */
void ls_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
