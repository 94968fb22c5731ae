// Renders the committed dashboards of the mixin (deterministic: sorted keys, 2-space
// indent):  jsonnet -S -m grafana/dashboards grafana/dashboards.jsonnet  (make rules).
// tests/e2e/check_dashboards.py lint fails when the committed JSON is stale.
local mixin = import '../alerts/mixin.libsonnet';
{
  [name]: std.manifestJsonEx(mixin.grafanaDashboards[name], '  ') + '\n'
  for name in std.objectFields(mixin.grafanaDashboards)
}
