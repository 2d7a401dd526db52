/* Colors of the text output: few and fixed, so that a report still reads
 * well in any terminal theme. */
#include "viewer/color.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int enabled;

int ls_color_parse(const char *s, enum ls_color_mode *mode)
{
	if (strcmp(s, "auto") == 0)
		*mode = LS_COLOR_AUTO;
	else if (strcmp(s, "always") == 0)
		*mode = LS_COLOR_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*mode = LS_COLOR_NEVER;
	else
		return -1;
	return 0;
}

/* auto: a terminal that can show colors, and no one asked for none
 * (no-color.org: NO_COLOR set and not empty). TERM=dumb is a terminal
 * that understands no escape sequence at all (Emacs' shell buffers). */
void ls_color_setup(enum ls_color_mode mode, int fd)
{
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	if (mode == LS_COLOR_AUTO)
		enabled = isatty(fd) && !(no_color && *no_color) &&
			  !(term && strcmp(term, "dumb") == 0);
	else
		enabled = mode == LS_COLOR_ALWAYS;
}

int ls_color_on(void)
{
	return enabled;
}

void ls_color_set(int on)
{
	enabled = on;
}

const char *ls_color_kind(enum ls_finding_kind kind)
{
	if (!enabled)
		return "";
	const struct ls_finding_kind_info *k = ls_finding_kind_info(kind);
	return k && k->is_warning ? "\033[1;33m" : "\033[1;31m";
}

const char *ls_color_function(void)
{
	return enabled ? "\033[1m" : "";
}

const char *ls_color_location(void)
{
	return enabled ? "\033[36m" : "";
}

const char *ls_color_reset(void)
{
	return enabled ? "\033[0m" : "";
}
