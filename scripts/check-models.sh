#!/usr/bin/env bash
# Model-checks models/cluster.pml with Spin: the cluster's rules hold exhaustively at small bounds,
# and each deliberately broken rule yields a counterexample (docs/cluster-model.md).
# Exit status: 0 all as expected, 1 a check went wrong, 77 Spin or gcc is not installed.
set -euo pipefail

SKIP_MESSAGE='SKIP: spin not installed — apt-get install -y spin gcc'
if ! command -v spin >/dev/null 2>&1 || ! command -v gcc >/dev/null 2>&1; then
  echo "$SKIP_MESSAGE"
  exit 77
fi

model="$(cd "$(dirname "$0")/.." && pwd)/models/cluster.pml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cp "$model" cluster.pml
failures=0
echo "$(spin -V) on models/cluster.pml"

# check EXPECT TITLE SPIN_DEFINES PAN_CFLAGS PAN_ARGS [WANTED]
#   EXPECT is "holds" (exhaustive search, no error) or "fails" (a counterexample whose pan
#   message contains WANTED; its shortest trail is replayed as the scenario).
check() {
  local expect="$1" title="$2" defines="$3" cflags="$4" args="$5" wanted="${6:-}"
  # shellcheck disable=SC2086 # the defines and flags are word lists
  spin $defines -a cluster.pml >spin.log 2>&1 || { cat spin.log; failures=$((failures + 1)); return; }
  # Exhaustive searches are worth optimizing; counterexamples come quickly, so compile them fast.
  local optimize=-O1
  [ "$expect" = fails ] && optimize=-O0
  # shellcheck disable=SC2086
  gcc -w "$optimize" $cflags -o pan pan.c
  local start=$SECONDS
  # shellcheck disable=SC2086
  ./pan $args >pan.log 2>&1 || true
  local took=$((SECONDS - start))
  local errors states depth
  errors="$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log)"
  states="$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.log)"
  depth="$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.log)"
  if [ "$expect" = holds ]; then
    if [ "$errors" = 0 ] && ! grep -q 'Search not completed\|max search depth too small\|out of memory' pan.log; then
      echo "ok    $title: exhaustive, $states states, depth $depth, no errors (${took}s)"
      return
    fi
  elif [ "${errors:-0}" != 0 ] && grep -qF -- "$wanted" pan.log; then
    echo "ok    $title: counterexample found as expected ($states states searched):"
    # shellcheck disable=SC2086
    spin $defines -t cluster.pml 2>&1 | sed -n 's/^ *\(node [0-9]*: .*\|operator: .*\)$/        \1/p;
      s/.*START OF CYCLE.*/        (from here on nothing changes: the read never finishes)/p'
    return
  fi
  local wanted_outcome='an exhaustive search without error'
  [ "$expect" = fails ] && wanted_outcome="a counterexample ($wanted)"
  echo "FAIL  $title: expected $wanted_outcome; pan said:"
  sed 's/^/        /' pan.log
  failures=$((failures + 1))
}

safety='-DSAFETY -DNOCLAIM'
live=''
stale='v>=rfloor'
check holds 'rules: no stale read, no dirty read, acknowledged only once applied by all (3 nodes, 2 objects, <= 3 writes, <= 1 crash)' \
  '-DN=3 -DM=2 -DWRITES=3 -DCRASHES=1' "$safety" '-m10000'
check holds 'rules, down to a lone survivor (3 nodes, 2 objects, <= 2 writes, <= 2 crashes)' \
  '-DN=3 -DM=2 -DWRITES=2 -DCRASHES=2' "$safety" '-m10000'
check holds 'every read finishes, under weak fairness, down to a lone survivor (same bounds)' \
  '-DN=3 -DM=2 -DWRITES=2 -DCRASHES=2' "$live" '-m10000 -a -f'
check fails 'without the wait rule: a stale read' \
  '-DNO_WAIT_RULE -DSTALE_ONLY' "$safety -DREACH" '-m10000 -i' "$stale"
check fails 'without the wait rule: a dirty read' \
  '-DNO_WAIT_RULE' "$safety -DREACH" '-m10000 -i' 'ver['
check fails 'acknowledging once the writer applied: an acknowledgement before all applied' \
  '-DACK_EARLY' "$safety -DREACH" '-m10000 -i' 'applied[m]>k'
check fails 'acknowledging once the writer applied: a stale read' \
  '-DACK_EARLY -DSTALE_ONLY' "$safety -DREACH" '-m10000 -i' "$stale"
check fails 'removing a live member: a stale read on the removed node' \
  '-DRM_LIVE -DSTALE_ONLY' "$safety -DREACH" '-m10000 -i' "$stale"
check fails 'waiting for removed members too: a read blocks for good' \
  '-DIGNORE_REMOVALS -DWRITES=2 -DCRASHES=2' "$live" '-m10000 -a -f' 'acceptance cycle'

if [ "$failures" -ne 0 ]; then
  echo "check-models: $failures check(s) failed"
  exit 1
fi
echo 'check-models: all checks as expected'
