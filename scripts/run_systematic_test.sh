#!/usr/bin/env bash
# The systematic test: chosen phases (5.1 … 5.5) for chosen models, into one store.
#
# Safe to re-run: every step is a smart-batch (or ultra-parallel) that runs only the tests not
# done yet, so an interrupted or failed run is resumed by running the same command again.
# Exits non-zero when any step fails (after running the others), so CI can call it.
#
#   scripts/run_systematic_test.sh --phases 5.1,5.3 --models gpt-4o-mini,DeepSeek-V3-0324 \
#       --storage parquet --workers 32 [--ultra] [--store DIR] [--config FILE] [--log FILE]
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

phases="5.1,5.2,5.3,5.4,5.5"
models=""
storage="${STORAGE_FORMAT:-parquet}"
workers=16
ultra=0
store="${RUNBENCH_STORE:-runbench_results}"
config=""
log=""
runbench="${RUNBENCH:-runbench}"

while [ $# -gt 0 ]; do
  case "$1" in
    --phases) phases="${2:?--phases needs a value}"; shift 2 ;;
    --models) models="${2:?--models needs a value}"; shift 2 ;;
    --storage) storage="${2:?--storage needs a value}"; shift 2 ;;
    --workers) workers="${2:?--workers needs a value}"; shift 2 ;;
    --store) store="${2:?--store needs a value}"; shift 2 ;;
    --config) config="${2:?--config needs a value}"; shift 2 ;;
    --log) log="${2:?--log needs a value}"; shift 2 ;;
    --ultra) ultra=1; shift ;;
    -h|--help) usage ;;
    *) echo "Error: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$models" ] || { echo "Error: --models is required (comma list)" >&2; exit 2; }
mkdir -p "$store"
log="${log:-$store/systematic_test_$(date -u +%Y%m%dT%H%M%SZ).log}"
config_args=()
[ -n "$config" ] && config_args=(--config "$config")

say() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$log"; }

failed=0
IFS=',' read -r -a phase_list <<< "$phases"
IFS=',' read -r -a model_list <<< "$models"
say "systematic test: phases ${phases}; models ${models}; storage ${storage}; store ${store}; log ${log}"
for phase in "${phase_list[@]}"; do
  for model in "${model_list[@]}"; do
    if [ "$ultra" -eq 1 ]; then
      step=("$runbench" ultra-parallel --model "$model" --phase "$phase" --max-workers "$workers")
    else
      step=("$runbench" smart-batch --model "$model" --phase "$phase" --max-workers "$workers")
    fi
    step+=(--storage "$storage" --store "$store" --quiet "${config_args[@]}")
    say "phase ${phase} / ${model}: ${step[*]}"
    if "${step[@]}" >>"$log" 2>&1; then
      say "phase ${phase} / ${model}: done"
    else
      code=$?
      failed=1
      say "phase ${phase} / ${model}: FAILED with exit ${code} (re-run this script to resume)"
    fi
  done
done
"$runbench" report --storage "$storage" --store "$store" --format markdown >>"$log" 2>&1 || failed=1
if [ "$failed" -ne 0 ]; then
  say "some steps failed; see ${log}; running the same command again resumes exactly"
  exit 1
fi
say "all phases done; report appended to ${log}"
