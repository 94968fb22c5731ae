// The agent_execution_exporter mixin, in the monitoring-mixins shape:
//   prometheusRules    recording rules (rules.libsonnet)
//   prometheusAlerts   alerts (alerts.libsonnet)
//   grafanaDashboards  the four dashboards (../grafana/dashboards.libsonnet)
// all three configured by one _config (config.libsonnet). Override it in your own
// jsonnet, e.g. (docs/mixin.md):
//   (import 'alerts/mixin.libsonnet') + { _config+:: { selector: 'job="agents"', clusterLabel: 'k8s_cluster' } }
(import 'config.libsonnet')
+ (import 'rules.libsonnet')
+ (import 'alerts.libsonnet')
+ (import '../grafana/dashboards.libsonnet')
