#!/bin/sh
# Source hygiene that make check holds the tree to:
#   - every C file is formatted as .clang-format says (clang-format --dry-run --Werror);
#   - no include cycle among the project's headers (tsort finds loops);
#   - no file in gateway/ or common/ grows past 900 lines (the house rule is "about 800":
#     split a file in its own commit before adding to it).
# Prints what is wrong and exits 1; silent and 0 when all is well.
set -u
cd "$(dirname "$0")/.."
rc=0

# The same list as the Makefile's C_SOURCES (make format).
sources=$(ls common/*.[ch] gateway/*.[ch] adapters/*/*.[ch] tests/unit/*.[ch] \
	tests/adapters/*.[ch] tests/sim/*.[ch] bench/*.c tools/*.c orchestrator/*.[ch] cli/*.[ch] tests/fuzz/*.[ch] 2>/dev/null)

if command -v clang-format >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	if ! clang-format --dry-run --Werror $sources 2>/tmp/cx-format.$$; then
		echo "check-source: files not formatted as .clang-format says (run: make format):"
		grep 'code should be clang-formatted' /tmp/cx-format.$$ | cut -d: -f1 | sort -u |
			sed 's/^/  /'
		rc=1
	fi
	rm -f /tmp/cx-format.$$
else
	echo "check-source: clang-format is not installed (scripts/deps.sh test installs it)"
	rc=1
fi

# Every "a includes b" edge between the project's headers, for tsort.
edges=$(for h in $(ls common/*.h gateway/*.h adapters/*/*.h 2>/dev/null); do
	dir=$(dirname "$h")
	sed -n 's/^#include "\(.*\)"/\1/p' "$h" | while read -r inc; do
		echo "$h $(realpath -m --relative-to=. "$dir/$inc")"
	done
done)
if ! printf '%s\n' "$edges" | tsort >/dev/null 2>/tmp/cx-tsort.$$; then
	echo "check-source: include cycle among headers:"
	sed 's/^/  /' /tmp/cx-tsort.$$
	rc=1
fi
rm -f /tmp/cx-tsort.$$

for f in common/*.[ch] gateway/*.[ch] orchestrator/*.[ch]; do
	n=$(wc -l <"$f")
	if [ "$n" -gt 900 ]; then
		echo "check-source: $f has $n lines; split it along its seams (at most about 800)"
		rc=1
	fi
done
exit $rc
