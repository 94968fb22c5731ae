#!/usr/bin/env bash
# Type-checks the committed dashboards against Grafana's published types: each
# grafana/dashboards/*.json becomes a .ts that declares it as model.ts's Dashboard (the
# SDK's Dashboard with panel options typed per panel plugin), compiled by
# tsc --strict --noEmit. Then proves the check bites: mutated copies (a wrong type, an
# unknown key, a unit that is no Grafana unit id, a missing required field) must each fail.
#   tests/dashboards_types/check.sh [DASHBOARD_DIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "${1:-$here/../../grafana/dashboards}" && pwd)
passed=0; failed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }

if ! out=$("$here/install.sh" 2>&1); then
  fail "install the pinned @grafana/grafana-foundation-sdk and typescript"; echo "$out" | tail -20
  echo "$passed passed, $failed failed"; exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tsc() { (cd "$tmp" && "$here/node_modules/.bin/tsc" --strict --noEmit --target es2020 --module node16 --moduleResolution node16 "$@"); }
sdk=$(node -p "require('$here/node_modules/@grafana/grafana-foundation-sdk/package.json').version")

/usr/bin/python3 "$here/generate.py" "$tmp/dashboards" "$dir"/*.json
if out=$(tsc "$here/model.ts" "$tmp"/dashboards/*.ts 2>&1); then
  ok "$(ls "$dir"/*.json | wc -l) dashboards type-check as Grafana's Dashboard (@grafana/grafana-foundation-sdk $sdk, tsc --strict)"
else
  fail "dashboards type-check as Grafana's Dashboard (@grafana/grafana-foundation-sdk $sdk)"
  echo "$out" | cut -c1-400 | head -40
fi

# Mutants of the first dashboard with a table: each must fail to compile.
mkdir -p "$tmp/mutants"
/usr/bin/python3 - "$dir" "$tmp/mutants" <<'PY'
import glob, json, os, sys
src, out = sys.argv[1], sys.argv[2]
for f in sorted(glob.glob(os.path.join(src, "*.json"))):
    d = json.load(open(f))
    tables = [p for p in d["panels"] if p["type"] == "table"]
    if tables:
        break
def mutant(name, change):
    m = json.loads(json.dumps(d))
    change(m)
    json.dump(m, open(os.path.join(out, name + ".json"), "w"))
first_table = lambda m: next(p for p in m["panels"] if p["type"] == "table")
first_ts = lambda m: next(p for p in m["panels"] if p["type"] == "timeseries")
mutant("footer_fields_string", lambda m: first_table(m)["options"]["footer"].__setitem__("fields", ""))
mutant("unknown_panel_option", lambda m: first_table(m)["options"].__setitem__("showFooterTotals", True))
mutant("unknown_dashboard_key", lambda m: m.__setitem__("refreshInterval", "30s"))
mutant("default_unit_x", lambda m: first_ts(m)["fieldConfig"]["defaults"].__setitem__("unit", "x"))
mutant("override_unit_x", lambda m: first_ts(m)["fieldConfig"]["overrides"].append(
    {"matcher": {"id": "byName", "options": "a"}, "properties": [{"id": "unit", "value": "x"}]}))
mutant("target_expr_missing", lambda m: first_ts(m)["targets"][0].pop("expr"))
mutant("variable_type_unknown", lambda m: m["templating"]["list"][0].__setitem__("type", "prometheus"))
PY
/usr/bin/python3 "$here/generate.py" "$tmp/mutants/ts" "$tmp"/mutants/*.json
out=$(tsc "$here/model.ts" "$tmp"/mutants/ts/*.ts 2>&1)
for f in "$tmp"/mutants/ts/*.ts; do
  name=$(basename "$f" .ts)
  if grep -q "^[^ ].*$name\.ts(" <<<"$out"; then
    ok "mutant $name fails the type check ($(grep -m1 -o "$name\.ts([0-9,]*): error TS[0-9]*" <<<"$out" | sed 's/.*: //'))"
  else
    fail "mutant $name passes the type check: the check is not strict enough"
  fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
