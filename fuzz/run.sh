#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a build (cmake -DAEE_FUZZ=ON) for a bounded time.
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (default: every target)
# Seeds come from fuzz/corpus/<target>/ (read only); what the fuzzer finds goes to
# BUILD_DIR/fuzz-corpus/<target>/, kept between runs. Crash, leak and timeout
# artifacts go to a temporary directory that is printed and kept when something
# failed. Exit status: non-zero when any target failed.
set -euo pipefail

build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(flags web_config workspace_tokens http_parsing http_server websocket)

declare -A dict=([flags]=flags.dict [web_config]=yaml.dict [workspace_tokens]=yaml.dict
                 [http_parsing]=http.dict [http_server]=http.dict [websocket]=websocket.dict)
declare -A max_len=([http_server]=20000 [websocket]=20000)

work=$(mktemp -d "${TMPDIR:-/tmp}/aee-fuzz-run.XXXXXX")
failed=()
printf '%-18s %8s %12s %10s %7s %7s  %s\n' target seconds execs exec/s cov ft result
for t in "${targets[@]}"; do
  bin=$build/fuzz/fuzz_$t
  [[ -x $bin ]] || { echo "fuzz/run.sh: $bin not built" >&2; exit 2; }
  corpus=$build/fuzz-corpus/$t
  mkdir -p "$corpus" "$work/$t/artifacts" "$work/$t/tmp"
  args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1
        -artifact_prefix="$work/$t/artifacts/" -dict="$src/dict/${dict[$t]}")
  [[ -n ${max_len[$t]:-} ]] && args+=(-max_len="${max_len[$t]}")
  log=$work/$t/log
  start=$(date +%s)
  rc=0
  TMPDIR=$work/$t/tmp ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" "${args[@]}" "$corpus" "$src/corpus/$t" >"$log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$done_line")
  rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$done_line")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$done_line")
  result=ok
  if [[ $rc -ne 0 || -z $done_line ]] || compgen -G "$work/$t/artifacts/*" >/dev/null; then
    result="FAILED (exit $rc; log $log)"
    failed+=("$t")
  fi
  printf '%-18s %8s %12s %10s %7s %7s  %s\n' "$t" "$took" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "$result"
  rm -rf "$work/$t/tmp"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  for t in "${failed[@]}"; do
    echo "== $t =="
    grep -E 'ERROR|INVARIANT|runtime error|SUMMARY|Test unit written|^    #[0-9]+ ' "$work/$t/log" | head -n 40 || true
  done
  echo "fuzz: failures in ${failed[*]}; logs and artifacts in $work" >&2
  exit 1
fi
rm -rf "$work"
