// The dashboards part of the mixin (alerts/mixin.libsonnet): grafanaDashboards, one
// entry per file name, each built from the mixin's _config so that an override
// (selector, clusterLabel, refresh, timezone, tags) reaches every dashboard.
{
  grafanaDashboards+:: {
    'agent-execution-overview.json': (import 'overview.libsonnet')($._config),
    'agent-execution-latency.json': (import 'latency.libsonnet')($._config),
    'agent-execution-patterns.json': (import 'patterns.libsonnet')($._config),
    'agent-execution-resources.json': (import 'resources.libsonnet')($._config),
  },
}
