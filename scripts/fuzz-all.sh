#!/usr/bin/env bash
# fuzz-all.sh — run every Go fuzz target of the module, one at a time.
#
#   ./scripts/fuzz-all.sh [FUZZTIME]      (default 30s; any -fuzztime value:
#                                          30s, 2m, 1h, 100000x)
#
# Targets are discovered with `go test -list` in every package that has a
# `func Fuzz...` in a _test.go file. Each one runs alone for FUZZTIME:
#
#   go test -run='^$' -fuzz='^Name$' -fuzztime=FUZZTIME ./pkg
#
# A summary (target, execs, result) follows; the script exits non-zero if
# any target failed. A failing input is written by go test to the package's
# testdata/fuzz/<Name>/ and becomes a regression test of `go test`.
#
# Environment:
#   FUZZ_PARALLEL  fuzzing workers per target (go test -parallel; default:
#                  GOMAXPROCS). Use 1 on a shared machine.
#   FUZZ_MINIMIZETIME  time go test spends minimizing each new interesting
#                  or failing input (-fuzzminimizetime; default 10s: the
#                  go default of 60s starves slow targets of fuzzing time).
#   FUZZ_MATCH     only run targets whose "pkg.Name" matches this extended
#                  regular expression (e.g. 'dataplane|FuzzEngine').
#   FUZZ_LOGDIR    keep each target's output here (default: a temporary
#                  directory, printed at the end).
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

fuzztime=${1:-30s}
match=${FUZZ_MATCH:-}
parallel=${FUZZ_PARALLEL:-}
minimize=${FUZZ_MINIMIZETIME:-10s}

# The test binary's own timeout: the fuzz time plus room for building,
# running the seed corpus and minimizing a failure. A target that hangs on
# one input fails here instead of running forever.
case $fuzztime in
*x) timeout=30m ;;
*[0-9]s) timeout=$((${fuzztime%s} + 600))s ;;
*[0-9]m) timeout=$((${fuzztime%m} + 10))m ;;
*[0-9]h) timeout=$((${fuzztime%h} * 60 + 10))m ;;
*)
	echo "fuzz-all: FUZZTIME must look like 30s, 2m, 1h or 1000x; got $fuzztime" >&2
	exit 2
	;;
esac

logdir=${FUZZ_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/vpngw-fuzz.XXXXXX")}
mkdir -p "$logdir"

# Packages with fuzz targets, then the targets go test reports for each.
mapfile -t pkgs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' . |
	xargs -r -n1 dirname | sort -u)
targets=()
for dir in "${pkgs[@]}"; do
	pkg=./${dir#./}
	if ! names=$(go test -list '^Fuzz' "$pkg" 2>&1); then
		echo "fuzz-all: cannot list the fuzz targets of $pkg:" >&2
		echo "$names" >&2
		exit 1
	fi
	while read -r name; do
		[[ $name == Fuzz* ]] || continue
		if [[ -n $match ]] && ! [[ "$pkg.$name" =~ $match ]]; then
			continue
		fi
		targets+=("$pkg $name")
	done <<<"$names"
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz-all: no fuzz targets found${match:+ matching $match}" >&2
	exit 1
fi

echo "fuzz-all: ${#targets[@]} targets, $fuzztime each${parallel:+, $parallel workers}; logs in $logdir"
results=()
failed=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	log="$logdir/$(echo "${pkg#./}" | tr / _).$name.log"
	args=(-run='^$' -fuzz="^$name\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" -timeout="$timeout")
	[ -n "$parallel" ] && args+=(-parallel="$parallel")
	printf 'fuzz-all: %-28s %-24s ' "${pkg#./}" "$name"
	start=$SECONDS
	if go test "${args[@]}" "$pkg" >"$log" 2>&1; then
		result=ok
	elif grep -qx '    context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:|--- FAIL: .*/' "$log"; then
		# Go 1.26's fuzz coordinator can report its own -fuzztime
		# deadline as a failure (go.dev/issue/75804, fixed in Go 1.27):
		# no input failed and none was written.
		result=ok-deadline-race
	else
		result=FAIL
		failed=$((failed + 1))
	fi
	# The last progress line has the total: "fuzz: elapsed: 2m0s, execs: 123 (1/sec), ...".
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -n1 | grep -oE '[0-9]+' || true)
	echo "$result (${execs:-?} execs, $((SECONDS - start))s)"
	if [ "$result" = FAIL ]; then
		grep -E -A15 -- '--- FAIL|panic:|Failing input written to' "$log" | head -n 40 | sed 's/^/    /'
	fi
	results+=("$(printf '%-28s %-24s %12s  %s' "${pkg#./}" "$name" "${execs:-?}" "$result")")
done

echo
printf '%-28s %-24s %12s  %s\n' package target execs result
printf '%s\n' "${results[@]}"
echo
if [ "$failed" -gt 0 ]; then
	echo "fuzz-all: $failed of ${#targets[@]} targets failed; logs in $logdir" >&2
	exit 1
fi
echo "fuzz-all: all ${#targets[@]} targets passed; logs in $logdir"
