/* Findings: what the report commands show. findings.c is the only place
 * that decides what is a finding; commands only render them. */
#ifndef LOOPSAN_VIEWER_FINDINGS_H
#define LOOPSAN_VIEWER_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "viewer/reader.h"

/* Every kind of DESIGN.md, in its order (also the report's order). */
enum ls_finding_kind {
	LS_FINDING_SLOW_CALLBACK,
	LS_FINDING_SLOW_SELECTOR,
	LS_FINDING_BLOCKING_CALL,
	LS_FINDING_WRONG_THREAD,
	LS_FINDING_PENDING_AT_CLOSE,
	LS_FINDING_UNCLOSED_HANDLE,
	LS_FINDING_DROPPED_ERROR,
	LS_FINDING_NEVER_AWAITED,
	LS_FINDING_LOST_WAKEUP,
	LS_FINDING_CRASH_IN_CALLBACK,
	LS_FINDING_HANDLE_MISUSE,
	LS_FINDING_KIND_COUNT
};

/* What a kind means, for --help, SARIF rules and JUnit. */
struct ls_finding_kind_info {
	const char *name;        /* "slow-callback" */
	const char *title;       /* one short sentence */
	const char *description; /* what it means */
	const char *help;        /* what to do about it */
	int is_warning;          /* SARIF level "warning" rather than "error" */
};

struct ls_finding {
	enum ls_finding_kind kind;
	const struct ls_trace *trace;
	uint32_t tid;
	/* Other threads with the same finding (grouped: same kind, site,
	 * callback and stacks), after tid; nothers_dropped beyond these. */
	uint32_t others[16];
	uint32_t nothers, nothers_dropped;
	int has_api;
	uint32_t api;
	int has_callback;
	uint64_t callback;                  /* the user's function, or a PYCODE id: */
	uint32_t callback_api;              /* the api of the callback's site (ls_api_is_python) */
	const struct ls_stack *created_at;  /* NULL when unknown */
	const struct ls_stack *registered_at;
	const struct ls_stack *called_at;   /* where an offending call was made */
	uint32_t loop_tid;                  /* wrong-thread: the loop's thread */
	const char *misuse;                 /* handle-misuse: what was done */
	const char *when;                   /* lost-wakeup: "close" or "exit" */
	const char *signal;                 /* crash-in-callback: "SIGSEGV", ... */
	uint64_t fault_addr;
	int has_fault_addr;                 /* a fault (si_code > 0), not a sent signal */
	size_t ord;                         /* order of discovery */
	/* slow-callback (and blocking-call, slow-selector: count, max, total) */
	uint64_t count;
	double max_ms, total_ms, threshold_ms;
	const struct ls_stack *stuck_at;    /* where the longest run was when sampled */
	const struct ls_stack *crashed_at;  /* crash-in-callback: where it crashed */
	const char *stuck_how;              /* "running", "in a system call", ... */
	int32_t stuck_syscall;              /* -1: none */
	/* slow-selector */
	double late_ms;                     /* the most it came back past its timeout */
	double timeout_ms;                  /* that call's timeout; < 0: none */
	/* pending-at-close */
	const char *handle;                 /* type name: "timer", ... */
	int closing;
	int at_exit;                        /* found at process exit */
	int has_close_result;
	int32_t close_result;               /* what uv_loop_close returned */
	/* dropped-error (count is how many times) */
	const char *error;                  /* "EPIPE", ... */
	int32_t error_code;
	uint32_t site;                      /* the request's site; pending: the callback's */
	uint32_t pending_init_site;         /* pending-at-close, unclosed-handle */
	size_t close_index;                 /* pending-at-close: which loop close */
	/* asyncio's own checks (PY_EVENT): never-awaited, and the Python
	 * cases of dropped-error, unclosed-handle, wrong-thread */
	int python;
	const char *py_name;                /* "test", "Task main()", "transport", "call_soon" */
	const char *py_text;                /* never-awaited: "file:line" of the definition;
					       dropped-error: "Type: message"; unclosed: the warning */
	const struct ls_stack *raised_at;   /* dropped-error: the exception's traceback */
	const struct ls_stack *collected_at; /* where the object's last reference went */
	/* The "kind:pattern" rule that silences exactly this finding among
	 * those of its report (report.c sets it; freed with the findings);
	 * NULL when the finding has no name to match. */
	char *suppression;
};

struct ls_findings {
	struct ls_vec v; /* of struct ls_finding */
};

struct ls_suppressions;

struct ls_findings_options {
	double slow_ms; /* < 0: the threshold recorded in each trace */
	struct ls_suppressions *suppressions; /* NULL: none; counts are updated */
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
const struct ls_finding_kind_info *ls_finding_kind_info(enum ls_finding_kind kind);
/* The kind named name; -1 when there is none. */
int ls_finding_kind_parse(const char *name, size_t len, enum ls_finding_kind *kind);
/* The threshold used for trace t. */
double ls_findings_slow_ms(const struct ls_trace *t,
			   const struct ls_findings_options *opt);

#endif
