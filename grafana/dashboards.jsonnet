// Renders the committed dashboards (deterministic: sorted keys, 2-space indent):
//   jsonnet -S -m grafana/dashboards grafana/dashboards.jsonnet
// tests/e2e/check_dashboards.py lint fails when the committed JSON is stale.
local render(d) = std.manifestJsonEx(d, '  ') + '\n';
{
  'agent-execution-overview.json': render(import 'overview.libsonnet'),
  'agent-execution-latency.json': render(import 'latency.libsonnet'),
  'agent-execution-patterns.json': render(import 'patterns.libsonnet'),
  'agent-execution-resources.json': render(import 'resources.libsonnet'),
}
