#!/usr/bin/env bash
# Checks the rule pack: the committed YAML is what the jsonnet renders, promtool
# accepts it (with lint), and every promtool unit test passes.
set -uo pipefail
cd "$(dirname "$0")"
passed=0; failed=0
step() { local name=$1; shift; if out=$("$@" 2>&1); then echo "ok   - $name"; passed=$((passed + 1)); else echo "FAIL - $name"; echo "$out" | tail -40; failed=$((failed + 1)); fi; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
jsonnet -S -m "$tmp" render.jsonnet >/dev/null
for f in "$tmp"/*.yml; do
  step "$(basename "$f") is up to date (make rules)" diff -u "$(basename "$f")" "$f"
done
step "promtool check rules --lint=all" promtool check rules --lint=all agent_execution.rules.yml agent_execution.alerts.yml
for t in tests/*_test.yml; do
  step "promtool test rules $t" promtool test rules "$t"
done
# Every alert has a promtool test and a runbook section.
for a in $(grep -h '^  - alert:' agent_execution.alerts.yml | sed 's/.*alert: "\(.*\)"/\1/' | sort -u); do
  step "$a has a promtool test" grep -q "alertname: $a\$" tests/*_test.yml
  step "$a has a runbook section" grep -q "^## $a\$" ../docs/runbook.md
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
