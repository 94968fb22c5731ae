// Every threshold, window and selector of the rule pack, in one place.
// Override in your own jsonnet:  (import 'mixin.libsonnet') + { _config+:: { selector: 'job="agents"' } }
{
  _config+:: {
    // Label matchers added to every exporter metric ('' = match metric names only).
    selector: '',
    // Labels that tell HA replicas of the exporter apart; dropped (max) before summing.
    replicaLabels: ['instance', 'pod'],
    // Links placed on every alert.
    runbookURL: 'https://github.com/agent-execution-exporter/agent_execution_exporter/blob/main/docs/runbook.md',
    grafanaURL: 'http://localhost:3000',
    overviewDashboardUID: 'agent-execution-overview',

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
    stuckFor: '5m',
    exporterDownFor: '5m',
    collectorFailingFor: '5m',
  },
}
