#!/usr/bin/env bash
# The systematic test: phases 5.1 … 5.5 (runbench/phases.toml) for chosen models, into one store.
#
# Every step is one smart-batch (or ultra-parallel) that runs only the tests not done yet, so the
# same command resumes an interrupted or failed run exactly. A step runs in the background and the
# script waits for it, so Ctrl-C or SIGTERM reaches the script at once: it stops the step (which
# flushes its store), runs no further step, prints how to resume and exits 130.
set -euo pipefail

readonly -a ALL_PHASES=(5.1 5.2 5.3 5.4 5.5)

usage() {
  cat <<EOF
Usage: $0 [--auto | --full-auto | --phase P ... | --from-phase P] [options]

Runs the phases of the systematic test with runbench, one step per phase and model, without
menus or prompts. Re-running the same command resumes exactly. Exit 0 when every step is done,
1 when a step failed (see the log), 2 on a usage error, 130 when interrupted.

What to run (at least one of these):
  --auto, --full-auto   every phase (5.1 to 5.5)
  --phase P             this phase; repeat it or give a comma list (--phases 5.1,5.3 too)
  --from-phase P        P and every later phase
  --models A,B          these models (default: the models of runbench.toml)

Options:
  --storage FORMAT      json or parquet (default, as runbench: \$STORAGE_FORMAT, else json)
  --store DIR           the store (default: \$RUNBENCH_STORE, else runbench_results)
  --config FILE         runbench.toml to use
  --workers N           tests at once per step (runbench --max-workers)
  --instances N         instances per cell (runbench --num-instances; a phase's own otherwise)
  --ultra, --ultra-parallel   run each step as runbench ultra-parallel (needs --models)
  --log FILE            the log (default: DIR/systematic_test_<time>.log)
  --dry-run             print each step's command without running it
  -h, --help            this help
Old flags made moot by exact resume (--incremental, --ignore-progress, --conservative, --debug,
--auto-maintain, --with-maintenance, --debug-log) are accepted with an [INFO] line.
runbench is taken from \$RUNBENCH, else PATH, else this repository's .venv/bin.

Examples:
  $0 --full-auto
  $0 --phase 5.1 --models gpt-4o-mini,gpt-5-mini --storage parquet --workers 32
  $0 --from-phase 5.3 --models DeepSeek-V3-0324 --ultra-parallel
  STORAGE_FORMAT=parquet $0 --auto --instances 5 --models sim-average
EOF
}

die() {
  printf 'Error: %s\n' "$1" >&2
  exit 2
}
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value; see --help"; fi; }
known_phase() { [[ " ${ALL_PHASES[*]} " == *" $1 "* ]] || die "unknown phase '$1'; phases: ${ALL_PHASES[*]}"; }

invocation=("$0" "$@")
phases=() models="" storage="" store="${RUNBENCH_STORE:-runbench_results}" config="" log=""
workers="" instances="" ultra=0 dry_run=0 chosen=0 notes=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --auto)
      chosen=1
      notes+=("--auto: this script never pauses between phases (no menus, no prompts); it runs like --full-auto")
      ;;
    --full-auto) chosen=1 ;;
    --phase | --phases | --from-phase | --models | --storage | --store | --config | --log | --workers | --instances)
      need_value "$@"
      case "$1" in
        --phase | --phases) IFS=',' read -r -a listed <<<"$2" && phases+=("${listed[@]}") ;;
        --from-phase)
          known_phase "$2"
          for phase in "${ALL_PHASES[@]}"; do [[ "$phase" < "$2" ]] || phases+=("$phase"); done
          ;;
        --models) models="$2" ;;
        --storage) storage="$2" ;;
        --store) store="$2" ;;
        --config) config="$2" ;;
        --log) log="$2" ;;
        --workers) workers="$2" ;;
        --instances) instances="$2" ;;
      esac
      [[ "$1" =~ ^--(phases?|from-phase|models)$ ]] && chosen=1
      shift
      ;;
    --ultra | --ultra-parallel) ultra=1 ;;
    --dry-run) dry_run=1 ;;
    --incremental | --ignore-progress | --auto-maintain | --with-maintenance)
      notes+=("$1: moot; every step runs exactly the tests not done yet (error rows included), by test id")
      ;;
    --conservative) notes+=("--conservative: moot; concurrency adapts per endpoint (cap it with --workers N)") ;;
    --debug | --debug-log) notes+=("$1: moot; nothing pauses, and each step's full output goes to the log") ;;
    --fresh | --force-fresh) die "$1 would discard stored results; start a new store with --store NEW_DIR instead" ;;
    -h | --help) usage && exit 0 ;;
    *) die "unknown option '$1'; see --help" ;;
  esac
  shift
done

[ "$chosen" -eq 1 ] || die "nothing chosen (this script has no menu): pass --auto, --phase P or --models A,B; see --help"
[ "${#phases[@]}" -gt 0 ] || phases=("${ALL_PHASES[@]}")
for phase in "${phases[@]}"; do known_phase "$phase"; done
[[ -z "$storage" || "$storage" =~ ^(json|parquet)$ ]] || die "--storage must be json or parquet, not '$storage'"
[[ -z "$workers" || "$workers" =~ ^[1-9][0-9]*$ ]] || die "--workers takes a positive number, not '$workers'"
[[ -z "$instances" || "$instances" =~ ^[1-9][0-9]*$ ]] ||
  die "--instances takes a positive number, not '$instances' (the old NxM form is not supported)"
[ "$ultra" -eq 0 ] || [ -n "$models" ] || die "--ultra-parallel runs one model per step; pass --models A,B"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${RUNBENCH:-}" ]; then
  runbench="$(command -v "$RUNBENCH")" || die "RUNBENCH=$RUNBENCH is not an executable; unset it or fix the path"
  found="\$RUNBENCH"
elif runbench="$(command -v runbench)"; then
  found="PATH"
elif [ -x "$repo/.venv/bin/runbench" ]; then
  runbench="$repo/.venv/bin/runbench" found="not on PATH; the repository's .venv"
else
  die "runbench is neither on PATH nor in $repo/.venv/bin; install it: cd $repo && python3 -m venv .venv && .venv/bin/pip install -e . (or set RUNBENCH=/path/to/runbench)"
fi

if [ "$dry_run" -eq 1 ]; then
  log="${log:-/dev/null}"
else
  log="${log:-$store/systematic_test_$(date -u +%Y%m%dT%H%M%SZ).log}"
  mkdir -p "$(dirname "$log")"
fi
say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$log"; }
info() { printf '[INFO] %s\n' "$*" | tee -a "$log" >&2; }

store_args=(--store "$store")
[ -z "$storage" ] || store_args+=(--storage "$storage")
plan=()
[ -z "$config" ] || plan+=(--config "$config")
[ -z "$workers" ] || plan+=(--max-workers "$workers")
[ -z "$instances" ] || plan+=(--num-instances "$instances")

child=""
step() { # runs one runbench command, in the background so that a signal interrupts the wait
  local code=0 start
  step_error=""
  start=$(($(wc -c <"$log") + 1))
  "$runbench" "$@" >>"$log" 2>&1 &
  child=$!
  wait "$child" || code=$?
  child=""
  [ "$code" -ne 130 ] || interrupted
  [ "$code" -eq 0 ] || step_error="$(tail -c "+$start" "$log" | grep -m1 '^Error:' || true)"
  return "$code"
}
interrupted() {
  trap '' INT TERM # a second Ctrl-C must not cut the step's flush short
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" || true
  fi
  local again="" word
  for word in "${invocation[@]}"; do # quote only the words that need it, for a readable hint
    [[ "$word" =~ ^[A-Za-z0-9_./,:=+@%-]+$ ]] || printf -v word '%q' "$word"
    again+="${again:+ }$word"
  done
  printf 'Interrupted; nothing more will run. Resume with: %s\n' "$again" | tee -a "$log" >&2
  exit 130
}
trap interrupted INT TERM

info "runbench: $runbench ($found)"
for note in "${notes[@]}"; do info "$note"; done
say "systematic test: phases ${phases[*]}; models ${models:-of runbench.toml}; storage ${storage:-${STORAGE_FORMAT:-json}}; store $store; log $log"
IFS=',' read -r -a model_list <<<"${models:-}"
[ "${#model_list[@]}" -gt 0 ] || model_list=("")
failed=0
for phase in "${phases[@]}"; do
  for model in "${model_list[@]}"; do
    command=(smart-batch)
    [ "$ultra" -eq 0 ] || command=(ultra-parallel)
    [ -z "$model" ] || command+=(--model "$model")
    command+=(--phase "$phase" "${plan[@]}" "${store_args[@]}" --quiet)
    name="phase $phase / ${model:-models of runbench.toml}"
    say "$name: runbench ${command[*]}"
    [ "$dry_run" -eq 0 ] || continue
    code=0
    step "${command[@]}" || code=$?
    if [ "$code" -eq 0 ]; then
      say "$name: done"
      continue
    fi
    failed=1
    say "$name: FAILED with exit $code${step_error:+: $step_error}"
    if [ "$code" -eq 2 ] && [ -z "$model" ]; then
      say "stopped: without --models every step plans the same models, so each would fail alike"
      exit 2
    fi
  done
done
[ "$dry_run" -eq 0 ] || exit 0
say "report: runbench report ${store_args[*]} --format markdown"
step report "${store_args[@]}" --format markdown || failed=1
if [ "$failed" -ne 0 ]; then
  say "some steps failed; see $log; running the same command again resumes exactly"
  exit 1
fi
say "all phases done; report appended to $log"
