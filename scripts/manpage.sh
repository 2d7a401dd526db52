#!/bin/sh
# Writes the man page loopsan(1) on stdout, made from the CLI's own help
# texts so that the two cannot disagree:
#   SYNOPSIS       the usage lines of `loopsan help CMD`, for every command
#                  `loopsan --help` lists
#   DESCRIPTION    the introduction of `loopsan --help`
#   COMMANDS       each `loopsan help CMD`, after its usage lines
#   OPTIONS, ENVIRONMENT, EXIT STATUS
#                  those parts of `loopsan --help`
#   FINDING KINDS  the kinds `loopsan help report` lists
#   scripts/manpage.sh build/loopsan >build/loopsan.1
# A help text is read as: a line at column 0 is prose (a paragraph ends at
# a blank line; "NAME:" alone heads what follows); an indented block is a
# list of "  TERM  meaning" items (its first line has a gap of two spaces,
# or is a lone TERM whose meaning is on the next, deeper lines), else it
# is shown as it is.
set -eu

loopsan=${1:?usage: scripts/manpage.sh PATH/TO/loopsan}
top=$("$loopsan" --help)
version=$("$loopsan" --version | awk '{ print $2 }')
commands=$(printf '%s\n' "$top" | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
[ -n "$commands" ] || { echo "manpage.sh: no commands in '$loopsan --help'" >&2; exit 1; }

# roff: the help text of stdin without its usage lines, as described above.
render() {
	awk '
	function esc(s) {
		gsub(/\\/, "\\e", s)
		gsub(/-/, "\\-", s)
		sub(/^[.\047]/, "\\\\\\&&", s)
		return s
	}
	function flush(   i, m, t) {
		if (n == 0)
			return
		if (lines[1] ~ /^  [^ ]/ && (lines[1] ~ /^  [^ ].*[^ ]  +[^ ]/ || (n > 1 && lines[2] ~ /^      /))) {
			for (i = 1; i <= n; i++) {
				if (lines[i] ~ /^  [^ ]/) {
					t = lines[i]; sub(/^  /, "", t)
					m = ""
					if (match(t, /  +/)) { m = substr(t, RSTART + RLENGTH); t = substr(t, 1, RSTART - 1) }
					print ".TP"
					print "\\fB" esc(t) "\\fR"
					if (m != "") print esc(m)
				} else {
					t = lines[i]; sub(/^ +/, "", t)
					print esc(t)
				}
			}
		} else if (lines[1] ~ /^ /) {
			print ".PP"; print ".RS 2"; print ".nf"
			for (i = 1; i <= n; i++) print esc(lines[i])
			print ".fi"; print ".RE"
		} else {
			print ".PP"
			for (i = 1; i <= n; i++) print esc(lines[i])
		}
		n = 0
	}
	NR == 1 && /^usage:/ { skip = 1 }
	skip { if (/^$/) skip = 0; next }
	/^$/ { flush(); next }
	/^[^ ].*:$/ { flush(); print ".PP"; print "\\fI" esc($0) "\\fR"; next }
	/^[^ ]/ && n > 0 && lines[1] ~ /^ / { flush() }
	/^ / && n > 0 && lines[1] !~ /^ / { flush() }
	{ lines[++n] = $0 }
	END { flush() }
	'
}

# The lines of stdin from "NAME:" (alone on its line, or starting one) to
# the next blank line, without "NAME:".
block() {
	awk -v name="$1" '
	!on && index($0, name ":") == 1 {
		on = 1
		if ($0 == name ":")
			next
		$0 = substr($0, length(name) + 3)
	}
	on && /^$/ { exit }
	on { print }
	'
}

cat <<EOF
.\" Made by scripts/manpage.sh from the help texts of loopsan $version:
.\" change those, not this file.
.TH LOOPSAN 1 "" "loopsan $version" "User Commands"
.SH NAME
loopsan \\- a runtime sanitizer and tracer for event\\-loop programs
.SH SYNOPSIS
.nf
EOF
printf '%s\n' "$top" | awk '/^$/ { exit } { sub(/^usage: /, ""); sub(/^ +/, ""); gsub(/-/, "\\-"); print }'
for c in $commands; do
	"$loopsan" help "$c" | awk '/^$/ { exit } { sub(/^usage: /, ""); sub(/^       /, ""); gsub(/\\/, "\\e"); gsub(/-/, "\\-"); print }'
done
echo ".fi"
echo ".SH DESCRIPTION"
printf '%s\n' "$top" | awk '/^commands:/ { exit } { print }' | render
echo ".SH COMMANDS"
for c in $commands; do
	echo ".SS \"loopsan $c\""
	"$loopsan" help "$c" | render
done
echo ".SH OPTIONS"
printf '%s\n' "$top" | block options | render
echo ".SH FINDING KINDS"
printf '%s\n' ".PP" 'What a report, check or run says about a program (\fBloopsan help report\fR):'
"$loopsan" help report | block "finding kinds" | render
echo ".SH EXIT STATUS"
printf '%s\n' "$top" | block "exit status" | render
echo ".SH ENVIRONMENT"
printf '%s\n' "$top" | block environment | render
cat <<EOF
.SH FILES
.TP
\\fBloopsan.\\fIPID\\fB.trace\\fR
the trace a process writes under the shim, in its working directory or
in \\fBdir=\\fR of \\fBLOOPSAN_OPTIONS\\fR
.TP
\\fB../lib/loopsan/libloopsan.so\\fR
the shim, from the directory of the \\fBloopsan\\fR binary
.SH SEE ALSO
.BR ld.so (8)
for \\fBLD_PRELOAD\\fR; the README of loopsan for the options of
\\fBLOOPSAN_OPTIONS\\fR and how to read a report.
EOF
