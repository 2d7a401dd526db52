/* LOOPSAN_OPTIONS: the one table of options, compiled into the shim (which
 * reads them at load) and into the viewer (loopsan run checks every -O
 * pair before the command starts), so that the two cannot disagree. */
#ifndef LOOPSAN_OPTIONS_H
#define LOOPSAN_OPTIONS_H

#include <stddef.h>

struct ls_options;

/* Receives one line of the parser's (newline-terminated, "loopsan: ..."). */
typedef void ls_opt_say_fn(const char *line);

/* Sets o to the defaults, then applies text's key=value pairs (separated by
 * ':', ',' or white space; a value may be quoted with " or '). A bad pair
 * is named in one line to say (NULL: silently) and the default stays;
 * help=1 lists the options to say. */
void ls_options_parse(struct ls_options *o, const char *text, ls_opt_say_fn *say);

/* Checks and applies one key=value to o. Returns 0, or -1 with why set to
 * one line (no newline) naming the key, the value, what is allowed and
 * the default. */
int ls_option_set(struct ls_options *o, const char *key, size_t klen, const char *v,
		  size_t vlen, char *why, size_t whysz);

/* ls_option_set on a scratch copy: whether the shim would take key=value
 * (the viewer's check, which cannot see struct ls_options). */
int ls_option_check(const char *key, size_t klen, const char *v, size_t vlen, char *why,
		    size_t whysz);

/* Whether text holds a pair ls_options_parse would not take: 1 after
 * saying each such pair's line (without what the shim then does), else 0. */
int ls_options_check_text(const char *text, ls_opt_say_fn *say);

/* The option table, one line per option, to say. */
void ls_options_help(ls_opt_say_fn *say);

#endif
