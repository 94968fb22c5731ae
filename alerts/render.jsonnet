// Renders the committed rule files: jsonnet -S -m alerts alerts/render.jsonnet
// (make rules). A test fails when the committed files differ from this output.
local mixin = import 'mixin.libsonnet';
local header = '# Generated from alerts/*.libsonnet by `make rules`; edit those, not this file.\n';
{
  'agent_execution.rules.yml': header + std.manifestYamlDoc(mixin.prometheusRules, quote_keys=false),
  'agent_execution.alerts.yml': header + std.manifestYamlDoc(mixin.prometheusAlerts, quote_keys=false),
}
