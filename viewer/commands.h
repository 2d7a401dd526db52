/* The subcommands of the loopsan CLI, one file each (cmd_<name>.c), and
 * the report pipeline they share. */
#ifndef LOOPSAN_VIEWER_COMMANDS_H
#define LOOPSAN_VIEWER_COMMANDS_H

#include <stdio.h>

#include "viewer/findings.h"
#include "viewer/reader.h"
#include "viewer/symbolize.h"

#define LS_EXIT_OK 0
#define LS_EXIT_USAGE 2     /* usage error or bad input */
#define LS_EXIT_FINDINGS 66 /* run --fail when there are findings */

int ls_cmd_report(int argc, char **argv);
int ls_cmd_run(int argc, char **argv);
void ls_report_usage(FILE *out);
void ls_run_usage(FILE *out);

/* A set of traces read together, with their merged findings. */
struct ls_report {
	struct ls_trace **traces;
	struct ls_symbolizer **syms; /* one per trace */
	size_t ntraces;
	struct ls_findings findings;
};

/* Reads every trace named in paths (a directory stands for its *.trace
 * files), then collects and sorts the findings. On a bad input prints
 * "loopsan: FILE: what is wrong" on stderr and returns -1. */
int ls_report_load(struct ls_report *r, char *const *paths, size_t npaths,
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

/* Prints "loopsan: <fmt>" and a newline on stderr. */
void ls_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
