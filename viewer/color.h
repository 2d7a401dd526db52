/* Colors in the text output, only on a terminal unless asked for:
 * --color=auto|always|never; NO_COLOR (non-empty) and TERM=dumb turn auto
 * off. */
#ifndef LOOPSAN_VIEWER_COLOR_H
#define LOOPSAN_VIEWER_COLOR_H

#include "viewer/findings.h"

enum ls_color_mode { LS_COLOR_AUTO, LS_COLOR_ALWAYS, LS_COLOR_NEVER };

/* Parses "auto", "always" or "never"; -1 for anything else. */
int ls_color_parse(const char *s, enum ls_color_mode *mode);
/* Decides whether output to fd is colored; the styles below then return
 * escape sequences, or "" when it is not. */
void ls_color_setup(enum ls_color_mode mode, int fd);
int ls_color_on(void);
void ls_color_set(int on);

const char *ls_color_kind(enum ls_finding_kind kind); /* bold red/yellow */
const char *ls_color_function(void);                 /* bold */
const char *ls_color_location(void);                 /* cyan */
const char *ls_color_reset(void);

#endif
