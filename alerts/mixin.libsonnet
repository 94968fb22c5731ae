// The agent_execution_exporter mixin: recording rules, alerts (and the dashboards in
// ../grafana). Configure through _config (config.libsonnet).
(import 'config.libsonnet') + (import 'rules.libsonnet') + (import 'alerts.libsonnet')
