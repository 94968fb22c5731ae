// Every threshold, window, selector and link of the mixin (rules, alerts and dashboards),
// in one place. Override in your own jsonnet (docs/mixin.md):
//   (import 'alerts/mixin.libsonnet') + { _config+:: { selector: 'job="agents"', clusterLabel: 'k8s_cluster' } }
{
  _config+:: {
    // Label matchers added to every exporter metric ('' = match metric names only).
    selector: '',
    // The label that tells platforms (a Prometheus external or target label) apart, as
    // kubernetes-mixin's clusterLabel. Recording rules aggregate by it and by `job`, so
    // two platforms in one Prometheus never merge, and alerts carry it for routing. An
    // absent label (one platform per Prometheus) costs nothing: it stays empty.
    clusterLabel: 'cluster',
    // Labels that tell HA replicas apart; dropped (max) before summing (a histogram's
    // series all from one replica per workspace, docs/metrics.md): the exporter's
    // (`instance`, `pod`) and, when Prometheus HA pairs remote-write to one central
    // Prometheus, the pair's external label (`prometheus_replica`, as Prometheus
    // Operator names it; docs/operations.md, Scaling out). An absent label costs nothing.
    replicaLabels: ['instance', 'pod', 'prometheus_replica'],
    // Links placed on every alert. runbookURLPattern: %s is the alert name in lower
    // case; dashboardURLPattern: %s is a dashboard uid. The patterns follow runbookURL
    // and grafanaURL unless overridden themselves.
    runbookURL: 'https://github.com/agent-execution-exporter/agent_execution_exporter/blob/main/docs/runbook.md',
    runbookURLPattern: self.runbookURL + '#%s',
    grafanaURL: 'http://localhost:3000',
    dashboardURLPattern: self.grafanaURL + '/d/%s',
    overviewDashboardUID: 'agent-execution-overview',

    // Dashboards (grafanaDashboards).
    dashboardRefresh: '30s',
    dashboardTimezone: 'utc',  // or 'browser': the viewer's time zone
    dashboardTags: ['agent-execution', 'agent_execution_exporter'],
    // Panels that draw one series or stat per workspace show at most this many, the
    // largest by the panel's value: with All over thousands of workspaces they stay
    // readable and their queries return a bounded result.
    dashboardTopWorkspaces: 20,
    // Tables with one row per agent (the overview's Performance by agent) list at most
    // this many agents, the busiest by runs in the last 24 hours.
    dashboardTopAgents: 50,
    // The overview's Live executions with all workspaces selected lists at most this many
    // runs, the longest running (of the --collector.realtime.top-runs per workspace).
    dashboardTopRuns: 100,

    // Anomaly baselines: the same time of day one week ago, else one day ago, each
    // averaged over an hour centred on that moment.
    // Minimum volume: a workspace with fewer runs than this per 5 minutes (now for a
    // spike, in the baseline for a drop) never pages anyone.
    minRunsPer5m: 30,
    spikeFactor: 3,  // fires above 3x the baseline rate
    spikeFor: '10m',
    dropFactor: 0.3,  // fires below 30 % of the baseline rate (0 included)
    dropFor: '15m',

    failureRatioFloor: 0.2,  // a failure surge is at least this failure ratio
    failureSurgeFactor: 3,  // and 3x the baseline failure ratio
    failureMinRuns: 20,  // with at least this many failed runs in 10 minutes
    failureSurgeFor: '5m',

    // Anomaly grades: the spec's anomalies[].severity, as the `impact` label
    // (low|medium|high), from the anomaly's size relative to its baseline. An anomaly
    // fires once it has been past its threshold (the factors above) for its whole
    // `...For` window; its grade is its size now and follows it while it fires.
    //  - spike: rate / baseline rate. low above spikeFactor, then from these:
    spikeImpact: { medium: 6, high: 12 },
    //  - drop: rate / baseline rate. low below dropFactor, medium below this, high
    //    when nothing finished at all:
    dropImpact: { medium: 0.1 },
    //  - failure surge: failure ratio / baseline failure ratio, the baseline taken
    //    as at least failureRatioFloor / failureSurgeFactor (so the floor is the low
    //    threshold when the usual ratio is small). low above failureSurgeFactor, then:
    failureImpact: { medium: 5, high: 8 },
    // Alertmanager `severity` of each grade. The routing key stays info|warning|critical
    // and, by default, what it was before the grades: a spike warns (more traffic is no
    // outage by itself; its consequences page through the queue and capacity alerts), a
    // drop warns unless nothing finishes at all, a failure surge is critical whatever its
    // size (graded on its 10-minute ratio, which may still be climbing when it fires).
    // Route by `impact` for more detail.
    anomalySeverity: {
      spike: { low: 'warning', medium: 'warning', high: 'warning' },
      drop: { low: 'warning', medium: 'warning', high: 'critical' },
      failure_surge: { low: 'critical', medium: 'critical', high: 'critical' },
    },

    // Bursts: the last minute's rate against the previous hour's average.
    burstImpact: { low: 2, medium: 4, high: 8 },
    burstMinRunsPerMinute: 20,
    burstFor: '1m',

    queueBacklogDepth: 100,
    queueBacklogFor: '10m',
    queueWaitSeconds: 300,
    queueWaitFor: '5m',
    capacityRatio: 0.9,
    capacityFor: '15m',

    // Stuck runs (AgentRunsStuck), from the per-run families (agent_run_elapsed_seconds
    // and agent_run_estimated_runtime_seconds, --collector.realtime.top-runs > 0). A run
    // is stuck when the same run has been past stuckFactor x its estimate for the whole
    // stuckWindow, and has run longer than stuckTailFactor x the longest run its
    // workspace finished in the last stuckTailWindow (the upper bound of that run's
    // histogram bucket). The first condition is what "overdue" means; the second
    // keeps the normal heavy tail of a busy workspace quiet (docs/runbook.md).
    stuckFactor: 3,  // the exporter's --collector.realtime.overdue-factor
    stuckWindow: '5m',
    stuckTailFactor: 2,
    stuckTailWindow: '1d',
    stuckFor: '1m',
    exporterDownFor: '5m',
    // AgentExporterShardDown: how long a shard (agent_exporter_shard_info{index}) that
    // stopped reporting is remembered.
    shardDownLookback: '1d',
    collectorFailingFor: '5m',
  },
}
