#!/bin/sh
# The shim's layers, checked on its object files (`make layers`, part of
# `make test`): which folder's object uses a symbol that which folder's
# object defines. Allowed: a family (preload/uv, preload/ev, preload/sys,
# ...) uses preload/core and tracer; preload/core uses tracer; tracer uses
# nothing of preload/. A family never uses another family. The core
# reaches the families only through the family table (preload/core/family.h)
# and the tracer reaches the shim only through the hooks it registers
# (tracer/trace.h), so neither shows up here as a use.
# Usage: scripts/layers.sh BUILD_DIR; exit 1 naming each use across a
# forbidden line.
set -eu
obj=${1:?usage: scripts/layers.sh BUILD_DIR}/obj/shim
[ -d "$obj/preload/core" ] || { echo "layers: no shim objects in $obj (run make first)" >&2; exit 2; }
cd "$obj"
for o in preload/*/*.o tracer/*.o; do
	nm "$o" | awk -v f="${o%/*}" '
		$1 == "U" { print "U", f, $2 }
		NF == 3 && $2 ~ /^[TDBRVWG]$/ { print "D", f, $3 }'
done | awk '
	$1 == "D" { def[$3] = $2; next }
	{ use[++n] = $2 " " $3 }
	END {
		bad = 0
		for (i = 1; i <= n; i++) {
			split(use[i], u, " ")
			from = u[1]; sym = u[2]; to = def[sym]
			if (to == "" || to == from)
				continue
			ok = to == "tracer" || (to == "preload/core" && from != "tracer")
			if (!ok) {
				printf "layers: %s uses %s, defined in %s\n", from, sym, to
				bad = 1
			}
		}
		exit bad
	}'
echo "layers: ok (tracer <- preload/core <- each family; no family uses another)"
