// The PrometheusRule of deploy/kubernetes: the mixin's recording rules and alerts
// (alerts/mixin.libsonnet, prometheusRules and prometheusAlerts) in one object.
// Rendered by deploy/kubernetes/render.sh (make rules).
local mixin = import '../../alerts/mixin.libsonnet';
{
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'agent-execution-exporter',
    labels: { 'app.kubernetes.io/name': 'agent-execution-exporter' },
  },
  spec: { groups: mixin.prometheusRules.groups + mixin.prometheusAlerts.groups },
}
