#!/usr/bin/env bash
# Checks the rule pack: the committed YAML is what the jsonnet renders, promtool
# accepts it (with lint), _config overrides reach rules, alerts and dashboards, and
# every promtool unit test passes.
set -uo pipefail
cd "$(dirname "$0")"
passed=0; failed=0
step() { local name=$1; shift; if out=$("$@" 2>&1); then echo "ok   - $name"; passed=$((passed + 1)); else echo "FAIL - $name"; echo "$out" | tail -40; failed=$((failed + 1)); fi; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
jsonnet -S -m "$tmp" render.jsonnet >/dev/null
for f in "$tmp"/*.yml; do
  step "$(basename "$f") is up to date (make rules)" diff -u "$(basename "$f")" "$f"
done
step "tests/dashboard_rankings_cap_test.yml is up to date (tests/dashboard_rankings_cap_gen.py)" \
  bash -c 'python3 tests/dashboard_rankings_cap_gen.py | diff -u tests/dashboard_rankings_cap_test.yml -'
step "promtool check rules --lint=all" promtool check rules --lint=all agent_execution.rules.yml agent_execution.alerts.yml
# The mixin's _config reaches rules, alerts and dashboards, vendored as jsonnet-bundler does.
step "mixin _config overrides reach rules, alerts and every dashboard (tests/mixin_override_test.py)" \
  /usr/bin/python3 tests/mixin_override_test.py ..
# AgentRunsStuck under 100 runs/s of heavy-tailed traffic: that test is generated (a
# simulated day and four hours, about 1.5 MB, not committed), in the background.
mkdir -p "$tmp/gen"
( if python3 tests/stuck_runs_gen.py "$PWD" >"$tmp/gen/stuck_runs_test.yml" 2>"$tmp/gen/out"; then
    promtool test rules "$tmp/gen/stuck_runs_test.yml" >"$tmp/gen/out" 2>&1
  fi
  echo $? >"$tmp/gen/rc" ) &
gen_pid=$!
for t in tests/*_test.yml; do
  step "promtool test rules $t" promtool test rules "$t"
done
wait "$gen_pid"
step "promtool test rules tests/stuck_runs_gen.py (generated)" bash -c "cat '$tmp/gen/out'; exit \$(cat '$tmp/gen/rc')"
# Every alert has a promtool test and a runbook section.
for a in $(grep -h '^  - alert:' agent_execution.alerts.yml | sed 's/.*alert: "\(.*\)"/\1/' | sort -u); do
  step "$a has a promtool test" grep -q "alertname: $a\$" tests/*_test.yml
  step "$a has a runbook section" grep -q "^## $a\$" ../docs/runbook.md
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
