/* Suppressions, sanitizer style: a file of `kind:pattern` lines. A finding
 * of that kind is left out of a report when the pattern matches (fnmatch,
 * `*` and `?` wildcards, whole name) one of the names it is known by: its
 * callback, and the function, file (as in the debug information, and its
 * basename, and FILE:LINE) and module of any frame of its stacks, and
 * the function a blocking-call, slow-selector, wrong-thread,
 * handle-misuse or dropped-error names. A malformed line ('#' in a
 * pattern, an unclosed '[', an unknown kind, an empty pattern) is an
 * error; a rule matching a name on every stack ("main") is warned of. */
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
 * unknown kind prints "loopsan: FILE:LINE: what is wrong 'LINE AS
 * WRITTEN'" (escaped) on stderr and returns -1. */
int ls_suppressions_load(struct ls_suppressions *s, const char *path);
size_t ls_suppressions_count(const struct ls_suppressions *s);
struct ls_suppression *ls_suppression_at(const struct ls_suppressions *s, size_t i);
/* A name on nearly every stack ("main", "libc.so.6", ...) that pattern
 * matches, or NULL. */
const char *ls_suppression_broad_name(const char *pattern);
/* name as a pattern matching exactly it (wildcards and '#' escaped). */
void ls_suppression_escape(char *out, size_t n, const char *name);
/* The len bytes of s for a message: non-printable bytes as \xNN. */
void ls_escape_bytes(char *out, size_t n, const char *s, size_t len);
/* The first rule of kind whose pattern matches one of names, or NULL. */
struct ls_suppression *ls_suppressions_match(const struct ls_suppressions *s,
					     enum ls_finding_kind kind,
					     const char *const *names, size_t nnames);

#endif
