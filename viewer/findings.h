/* Findings: what the report commands show. findings.c is the only place
 * that decides what is a finding; commands only render them. */
#ifndef LOOPSAN_VIEWER_FINDINGS_H
#define LOOPSAN_VIEWER_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "viewer/reader.h"

enum ls_finding_kind {
	LS_FINDING_SLOW_CALLBACK,
	LS_FINDING_PENDING_AT_CLOSE,
	LS_FINDING_KIND_COUNT
};

struct ls_finding {
	enum ls_finding_kind kind;
	const struct ls_trace *trace;
	uint32_t tid;
	int has_api;
	uint32_t api;
	int has_callback;
	uint64_t callback;                  /* the user's function */
	const struct ls_stack *created_at;  /* NULL when unknown */
	const struct ls_stack *registered_at;
	size_t ord;                         /* order of discovery */
	/* slow-callback */
	uint64_t count;
	double max_ms, total_ms, threshold_ms;
	/* pending-at-close */
	const char *handle;                 /* type name: "timer", ... */
	int closing;
	int has_close_result;
	int32_t close_result;               /* what uv_loop_close returned */
};

struct ls_findings {
	struct ls_vec v; /* of struct ls_finding */
};

struct ls_findings_options {
	double slow_ms; /* < 0: the threshold recorded in each trace */
};

void ls_findings_init(struct ls_findings *f);
void ls_findings_free(struct ls_findings *f);
/* Adds the findings of one trace. */
void ls_findings_collect(struct ls_findings *f, const struct ls_trace *t,
			 const struct ls_findings_options *opt);
/* Worst first: slow callbacks by their longest run, then the rest. */
void ls_findings_sort(struct ls_findings *f);
size_t ls_findings_count(const struct ls_findings *f);
const struct ls_finding *ls_finding_at(const struct ls_findings *f, size_t i);
const char *ls_finding_kind_name(enum ls_finding_kind kind);
/* The threshold used for trace t. */
double ls_findings_slow_ms(const struct ls_trace *t,
			   const struct ls_findings_options *opt);

#endif
