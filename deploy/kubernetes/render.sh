#!/usr/bin/env bash
# Renders the generated parts of deploy/kubernetes (make rules runs it):
#   prometheusrule.yaml   from the mixin (prometheusrule.jsonnet)
#   dashboards/*.json     copies of grafana/dashboards/*.json for the configMapGenerator
#                         (kustomize loads no file outside the kustomization's folder)
# With --check, renders into a temporary folder and fails when the committed files differ.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=deploy/kubernetes
if [[ ${1:-} == --check ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  mkdir -p "$out/dashboards"
fi
{
  echo '# Generated from alerts/mixin.libsonnet by `make rules` (deploy/kubernetes/render.sh); do not edit.'
  jsonnet -S -e "std.manifestYamlDoc(import 'deploy/kubernetes/prometheusrule.jsonnet', quote_keys=false)"
} >"$out/prometheusrule.yaml"
rm -f "$out"/dashboards/*.json
cp grafana/dashboards/*.json "$out/dashboards/"
if [[ ${1:-} == --check ]]; then
  diff -r -u "$out/dashboards" deploy/kubernetes/dashboards >&2 || { echo "deploy/kubernetes/dashboards is stale: make rules" >&2; exit 1; }
  diff -u "$out/prometheusrule.yaml" deploy/kubernetes/prometheusrule.yaml >&2 || { echo "deploy/kubernetes/prometheusrule.yaml is stale: make rules" >&2; exit 1; }
fi
