#!/usr/bin/env bash
# Runs the MCP conformance suite (server mode) against a Streamable HTTP MCP
# endpoint, with Node 22 from interop/node_modules, and prints ONE line of JSON
# on stdout:
#
#   {"passed":30,"failed":0,"total":30,"checks_passed":40,"checks_failed":0,
#    "checks_warnings":0,"failed_scenarios":[],"warning_scenarios":[],
#    "passed_scenarios":[...],"cli_exit_code":0,"results_dir":"..."}
#
# ("passed"/"failed"/"total" count scenarios; a scenario fails when one of
# its checks has status FAILURE; WARNINGs are reported but do not fail it.)
#
# Usage: conformance.sh URL [OUTDIR] [EXTRA CLI ARGS...]
#   URL      e.g. http://127.0.0.1:8080/mcp (must be a loopback URL for the
#            dns-rebinding-protection scenario to be meaningful)
#   OUTDIR   results directory (created; must not already hold results).
#            Default: a new temporary directory. Holds one server-<scenario>-*
#            directory with checks.json per scenario, conformance.log (the
#            suite's console output) and summary.json (details + messages).
#   EXTRA    passed to `conformance server`, e.g. --scenario tools-list,
#            --suite all, --spec-version 2025-11-25, --expected-failures F.yml
#
# Environment:
#   CONFORMANCE_TIMEOUT  seconds before the run is killed (default 600)
#   CONFORMANCE_QUIET=1  do not copy the suite's console output to stderr
#   INTEROP_NODE         Node >= 22 binary to use instead of node_modules/node
#
# Exit status: 0 every scenario passed (or, with --expected-failures, the
# baseline holds); 1 some scenario failed (the JSON line names them); 2 the
# suite could not run (setup error, timeout, crash before any scenario).
# The JSON line is printed whenever the suite ran at all.
#
# Install first: (cd interop && npm ci)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "conformance.sh: $*" >&2; exit 2; }

[[ $# -ge 1 && -n "$1" ]] || die "usage: conformance.sh URL [OUTDIR] [EXTRA CLI ARGS...]"
url="$1"
outdir="${2:-}"
shift
[[ $# -gt 0 ]] && shift
extra=("$@")

node="${INTEROP_NODE:-$here/node_modules/node/bin/node}"
cli="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
[[ -x "$node" ]] || die "no Node 22 at $node: run 'npm ci' in interop/"
[[ -f "$cli" ]] || die "conformance suite not installed: run 'npm ci' in interop/"
node_version="$("$node" --version)"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
[[ "$node_major" =~ ^[0-9]+$ && "$node_major" -ge 22 ]] || die "need Node >= 22, $node is $node_version"

if [[ -z "$outdir" ]]; then
  outdir="$(mktemp -d "${TMPDIR:-/tmp}/mcp-conformance.XXXXXX")"
else
  mkdir -p "$outdir"
  outdir="$(cd "$outdir" && pwd)"
  if compgen -G "$outdir/server-*" >/dev/null; then
    die "$outdir already holds results: use an empty directory"
  fi
fi
log="$outdir/conformance.log"

timeout_s="${CONFORMANCE_TIMEOUT:-600}"
runner=()
if command -v timeout >/dev/null 2>&1; then
  runner=(timeout --kill-after=10 "$timeout_s")
fi

# Run from the results directory so that nothing is written elsewhere.
# Started in the background so that a TERM/INT (e.g. from a Go test's
# context) can be passed on to it by PID.
child=""
on_signal() {
  [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null || true
  exit "$1"
}
trap 'on_signal 143' TERM
trap 'on_signal 130' INT

start=$(date +%s)
(cd "$outdir" && exec ${runner[@]+"${runner[@]}"} "$node" "$cli" server \
  --url "$url" --output-dir "$outdir" ${extra[@]+"${extra[@]}"}) >"$log" 2>&1 &
child=$!
rc=0
wait "$child" || rc=$?
child=""
elapsed=$(( $(date +%s) - start ))

if [[ "${CONFORMANCE_QUIET:-}" != 1 ]]; then
  cat "$log" >&2
fi
echo "conformance.sh: suite exited $rc after ${elapsed}s; results in $outdir" >&2

summary="$("$node" "$here/conformance-summary.mjs" "$outdir" "$log" "$rc")" || die "could not summarise results in $outdir"
echo "$summary"

total="$(sed -n 's/.*"total":\([0-9]*\).*/\1/p' <<<"$summary")"
failed="$(sed -n 's/.*"failed":\([0-9]*\).*/\1/p' <<<"$summary")"
if [[ "$rc" -eq 124 || "$rc" -eq 137 ]]; then
  echo "conformance.sh: timed out after ${timeout_s}s" >&2
  exit 2
fi
if [[ "${total:-0}" -eq 0 ]]; then
  echo "conformance.sh: no scenario ran (suite exit $rc); see $log" >&2
  exit 2
fi
for a in ${extra[@]+"${extra[@]}"}; do
  if [[ "$a" == --expected-failures* ]]; then
    # The suite itself judges against the baseline.
    [[ "$rc" -eq 0 ]] && exit 0 || exit 1
  fi
done
[[ "${failed:-1}" -eq 0 ]] && exit 0 || exit 1
