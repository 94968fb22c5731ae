// Latency: queue wait, run time and end-to-end latency, averages, percentiles, heatmaps.
// A function of the mixin's _config (grafana/dashboards.libsonnet).
function(config)
local g = (import 'lib.libsonnet')(config);
local W = g.W;
local t = g.target;

local kinds = [
  { key: 'queue', metric: 'agent_run_queue_wait_seconds', title: 'Queue wait', spec: 'latency.queueLatency',
    what: 'time from queueing to start (queue_wait_seconds)' },
  { key: 'execution', metric: 'agent_run_duration_seconds', title: 'Execution time', spec: 'latency.executionLatency',
    what: 'run time from start to finish (runtime_seconds)' },
  { key: 'end-to-end', metric: 'agent_run_end_to_end_seconds', title: 'End-to-end latency', spec: 'latency.endToEndLatency',
    what: 'time from queueing to finish (total_latency_seconds)' },
];
local quantiles = ['0.5', '0.75', '0.9', '0.95', '0.99'];
local qname(q) = 'p' + std.strReplace(std.substr(q + '0', 2, 2), '.', '');

// Over the selected workspaces; platform-wide rules with All (lib.libsonnet, wsAgg).
local buckets(k) = g.wsAgg('sum by (le)', 'workspace_le:%s_bucket:rate5m' % k.metric);
local quantile(k, q) = 'histogram_quantile(%s, %s)' % [q, buckets(k)];
// Mean over the selected workspaces: the per-workspace average rule weighted by each
// workspace's observation rate (the +Inf bucket).
local mean(k) = '(%s)' % g.meanOf(k.metric);
local tagged(expr, k) = 'label_replace(%s, "latency", "%s", "", "")' % [expr, k.key];
local union(f) = std.join('\nor\n', [tagged(f(k), k) for k in kinds]);

g.dashboard('latency', 'Queue, execution and end-to-end latency of agent runs: averages and percentiles from the exporter histograms (via the recording rules), and their heatmaps.', [
  g.table('Latency summary (last 5 minutes)',
          'Average and p50/p75/p90/p95/p99 of the three latencies over the selected workspaces (latency.queueLatency, executionLatency, endToEndLatency; median = p50). Percentiles come from histogram_quantile over the bucket rate rules; docs/metrics.md states their measured error against exact PERCENTILE_CONT.',
          [t(union(mean), format='table')] + [t(union(function(k) quantile(k, q)), format='table') for q in quantiles],
          g.pos(0, 0, 24, 6),
          [
            { name: 'latency', title: 'Latency' },
            { name: 'Value #A', title: 'avg', unit: 's', decimals: 2 },
          ] + [
            { name: 'Value #' + std.char(66 + i), title: qname(quantiles[i]), unit: 's', decimals: 2 }
            for i in std.range(0, std.length(quantiles) - 1)
          ]),
] + std.flattenArrays([
  local k = kinds[i];
  local y = 6 + i * 9;
  [
    g.timeseries('%s percentiles' % k.title, '%s: %s. Average and percentiles over the selected workspaces, 5m windows (%s).' % [k.title, k.what, k.spec],
                 [t(mean(k), 'avg')] + [t(quantile(k, q), qname(q)) for q in quantiles],
                 g.pos(0, y, 12, 9), unit='s', legendCalcs=['mean', 'max', 'lastNotNull']) {
      fieldConfig+: { overrides: [g.overrideName('avg', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } })] },
    },
    g.heatmap('%s heatmap' % k.title, 'Distribution of %s over time: finished runs per second in each histogram bucket (5m rate rule).' % k.what,
              t(buckets(k)), g.pos(12, y, 12, 9)),
  ]
  for i in std.range(0, std.length(kinds) - 1)
]) + [
  g.timeseries('p95 execution time by workspace', 'p95 run time of each selected workspace, straight from the per-workspace quantile rule.' + g.topNote,
               [t(g.topWorkspacesNamed('workspace_quantile:agent_run_duration_seconds:rate5m', ['quantile="0.95"']), '{{workspace_name}}')],
               g.pos(0, 33, 12, 8), unit='s', legendCalcs=['mean', 'max']),
  g.timeseries('p95 queue wait by workspace', 'p95 queue wait of each selected workspace, straight from the per-workspace quantile rule.' + g.topNote,
               [t(g.topWorkspacesNamed('workspace_quantile:agent_run_queue_wait_seconds:rate5m', ['quantile="0.95"']), '{{workspace_name}}')],
               g.pos(12, 33, 12, 8), unit='s', legendCalcs=['mean', 'max']),
  g.timeseries('Mean end-to-end latency, 1h window, by workspace', 'Hourly mean end-to-end latency per workspace (the rule behind the latency comparison with the previous period).' + g.topNote,
               [t(g.topWorkspacesNamed('workspace:agent_run_end_to_end_seconds:avg_rate1h'), '{{workspace_name}}')],
               g.pos(0, 41, 12, 8), unit='s'),
  g.timeseries('Latency distribution over time (share of runs per bucket, 1h window)', 'Share of the runs of the last hour in each run-time bucket of the spec (0-1s ... 60s+), per selected workspace total.',
               [t('%s\n  / ignoring (bucket) group_left () (%s > 0)' % [g.wsAgg('sum by (bucket)', 'workspace_bucket:agent_run_duration_seconds:increase1h'), g.wsAgg('sum', 'workspace_bucket:agent_run_duration_seconds:increase1h')], '{{bucket}}')],
               g.pos(12, 41, 12, 8), unit='percentunit', min=0, max=1, stack=true),
  g.timeseries('Runs waiting now: average and oldest wait', 'Mean age of the runs waiting in the queue (solid) and age of the oldest one (dashed) per selected workspace (realtime.avgQueueWaitTime; AgentQueueWaitHigh fires on the oldest). Unlike the queue-wait histogram, which records runs once they start, this shows runs still waiting. At most %d workspaces are drawn: those with the oldest waiting run.' % config.dashboardTopWorkspaces,
               [
                 t(g.topWorkspacesNamed('workspace:agent_queue_wait_seconds_avg:max', by='workspace:agent_queue_oldest_age_seconds:max'), 'avg {{workspace_name}}'),
                 t(g.topWorkspacesNamed('workspace:agent_queue_oldest_age_seconds:max'), 'oldest {{workspace_name}}'),
               ],
               g.pos(0, 49, 24, 7), unit='s') {
    fieldConfig+: { overrides: [g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } })] },
    links: [g.panelLink('overview', 'Queue depth on the overview')],
  },
])
