/* Suppressions, sanitizer style: a file of `kind:pattern` lines. A finding
 * of that kind is left out of a report when the pattern matches (fnmatch,
 * `*` and `?` wildcards, whole name) one of the names it is known by: its
 * callback, and the function, file (as in the debug information, and its
 * basename) and module of any frame of its stacks. */
#ifndef LOOPSAN_VIEWER_SUPPRESS_H
#define LOOPSAN_VIEWER_SUPPRESS_H

#include <stddef.h>

#include "viewer/findings.h"
#include "viewer/util.h"

struct ls_suppression {
	enum ls_finding_kind kind;
	char *rule;        /* "kind:pattern", as written but trimmed */
	const char *pattern; /* points into rule */
	const char *file;  /* the suppressions file, as given */
	int line;
	size_t count;      /* findings it silenced */
};

struct ls_suppressions {
	struct ls_vec v;   /* of struct ls_suppression, in file and line order */
	struct ls_vec files; /* of char *, the files read */
};

void ls_suppressions_init(struct ls_suppressions *s);
void ls_suppressions_free(struct ls_suppressions *s);
/* Adds the rules of path. On an unreadable file, a malformed line or an
 * unknown kind prints "loopsan: FILE:LINE: what is wrong" on stderr and
 * returns -1. */
int ls_suppressions_load(struct ls_suppressions *s, const char *path);
size_t ls_suppressions_count(const struct ls_suppressions *s);
struct ls_suppression *ls_suppression_at(const struct ls_suppressions *s, size_t i);
/* The first rule of kind whose pattern matches one of names, or NULL. */
struct ls_suppression *ls_suppressions_match(const struct ls_suppressions *s,
					     enum ls_finding_kind kind,
					     const char *const *names, size_t nnames);

#endif
