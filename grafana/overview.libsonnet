// Execution overview: the spec's ExecutionMetricsDashboard, top to bottom.
// A function of the mixin's _config (grafana/dashboards.libsonnet).
function(config)
local g = (import 'lib.libsonnet')(config);
local W = g.W;
local A = g.A;
local t = g.target;

// Sum of a per-workspace recording rule over the selected workspaces.
// (The platform-wide rule when $workspace is All: lib.libsonnet, wsAgg.)
local wsum(rule, extra=[]) = g.wsAgg('sum', rule, extra);
local finishedRate = wsum('workspace:agent_runs_finished:rate5m');
local durationBuckets = g.wsAgg('sum by (le)', 'workspace_le:agent_run_duration_seconds_bucket:rate5m');
local PA = g.PA;
local WS = g.WS;

// Runs currently listed by the realtime collector (the N longest running per workspace):
// with All the config.dashboardTopRuns longest of them (pre-capped rules with agent_name,
// re-ranked over the platforms), otherwise every listed run of the selection.
local topRuns(scope) = 'topk(%d, workspace_agent_run:agent_run_elapsed_seconds:max_top_runs{%s})' % [config.dashboardTopRuns, scope];
local liveRuns(f) = g.gateAgents(
  function(scope) f(topRuns(scope),
                    'workspace_agent_run:agent_run_estimated_runtime_seconds:max_top_runs{%s}\n  and on (workspace_id, agent_id, run_id) %s' % [scope, topRuns(scope)]),
  function(scope) g.withAgentName(f('max by (workspace_id, agent_id, run_id) (agent_run_elapsed_seconds{%s})' % g.sel([scope]),
                                    'max by (workspace_id, agent_id, run_id) (agent_run_estimated_runtime_seconds{%s})' % g.sel([scope])), [scope]),
);
local idleReason = 'no run of the selected agents is running right now';
local pendingEstimate = 'the longest-running runs have no estimated_runtime (or --collector.realtime.top-runs=0)';

local bucketNames = ['0-1s', '1-5s', '5-10s', '10-30s', '30-60s', '60s+'];
local bucketCount(b) = wsum('workspace_bucket:agent_run_duration_seconds:increase1h', ['bucket="%s"' % b]);

// Performance by agent: each column restricted to the same busiest agents (runs in the
// last 24h, the first column's own rule), so Grafana joins whole rows (lib.libsonnet, topAgents).
local byAgent(rule, fmt='%s') = g.topAgentsNamed(rule, 'workspace_agent:agent_runs_finished:increase1d', fmt);

local agentCols = function(extra) [
  { name: 'agent_name', title: 'Agent', width: 200, links: [{
    title: 'Filter the dashboards on this agent',
    url: '/d/agent-execution-overview?${__url_time_range}&%s&${workspace:queryparam}&var-agent=${__data.fields.agent_id}' % g.scopeParams,
  }] },
] + extra;

g.dashboard('overview', 'Agent executions right now and over the selected time range: the ExecutionMetricsDashboard of the execution metrics spec.', [
  // ------------------------------------------------------------- status bar (y 0)
  g.stat('Running now', 'Runs with status running (realtime.currentlyRunning).',
         [t(wsum('workspace:agent_runs_running:sum'), 'running')], g.pos(0, 0, 4, 4),
         thresholds=['green'], graph=true) {
    links: [g.panelLink('resources', 'Workers and capacity')],
  },
  g.stat('Queue depth', 'Runs waiting in execution_queue (realtime.queueDepth).',
         [t(wsum('workspace:agent_queue_depth:sum'), 'queued')], g.pos(4, 0, 4, 4),
         thresholds=['green', 50, 'orange', 100, 'red'], graph=true),
  g.stat('Average queue wait', 'Mean age of the waiting runs, weighted by queue depth over the selected workspaces; 0 when nothing waits (realtime.avgQueueWaitTime).',
         [t('%s\nor vector(0)' % g.weightedMean(':agent_queue_wait_seconds_avg:weighted_avg', ':agent_queue_depth:sum',
                                                  'workspace:agent_queue_wait_seconds_avg:max', 'workspace:agent_queue_depth:sum'), 'avg wait')],
         g.pos(8, 0, 4, 4), unit='s', thresholds=['green', 60, 'orange', 300, 'red'], graph=true) {
    links: [g.panelLink('latency', 'Queue latency percentiles')],
  },
  g.stat('Per minute', 'Runs finished per minute, 5m rate (throughput.executionsPerMinute).',
         [t(wsum('workspace:agent_executions_per_minute:rate5m'), 'per minute')], g.pos(12, 0, 4, 4),
         decimals=1, thresholds=['blue'], graph=true),
  g.stat('Success rate', 'Completed / finished runs over the last 5 minutes (performance.successRate).',
         [t('%s\n  / (%s > 0)' % [wsum('workspace_status:agent_runs_finished:rate5m', ['status="completed"']), finishedRate], 'success')],
         g.pos(16, 0, 4, 4), unit='percentunit', decimals=1, thresholds=['red', 0.9, 'orange', 0.97, 'green'], graph=true),
  g.stat('Median latency', 'Median run time (execution latency p50) over the last 5 minutes, from the duration histogram (latency.executionLatency.median).',
         [t('histogram_quantile(0.5, %s)' % durationBuckets, 'p50')], g.pos(20, 0, 4, 4),
         unit='s', decimals=2, thresholds=['green', 30, 'orange', 120, 'red'], graph=true) {
    links: [g.panelLink('latency', 'All latency percentiles')],
  },

  // ------------------------------------------------------------- live executions + system load (y 4)
  g.table('Live executions (longest running)',
          'The N longest-running runs of each selected workspace (--collector.realtime.top-runs; with all workspaces the %d longest of those), elapsed against their estimate. Progress above 100 %% means the run overran its estimate, above 300 %% it is overdue; a run that stays overdue and outlives its workspace\'s usual longest run is stuck (AgentRunsStuck) (realtime.executionsInProgress).' % config.dashboardTopRuns,
          [
            t(g.allowEmpty(liveRuns(function(e, est) e), 'filtered', idleReason), format='table'),
            t(g.allowEmpty(liveRuns(function(e, est) est), 'optional', pendingEstimate), format='table'),
            t(g.allowEmpty(liveRuns(function(e, est) '(%s) / (%s > 0)' % [e, est]), 'optional', pendingEstimate), format='table'),
            t(g.allowEmpty(liveRuns(function(e, est) '(time() - %s) * 1000' % e), 'filtered', idleReason), format='table'),
            t(g.allowEmpty(liveRuns(function(e, est) '(time() - %s + %s) * 1000' % [e, est]), 'optional', pendingEstimate), format='table'),
          ],
          g.pos(0, 4, 14, 10),
          agentCols([
            { name: 'run_id', title: 'Run', width: 300 },
            { name: 'Value #A', title: 'Elapsed', unit: 's', decimals: 1 },
            { name: 'Value #B', title: 'Estimate', unit: 's', decimals: 1 },
            { name: 'Value #C', title: 'Progress', unit: 'percentunit', min: 0, max: 1.5,
              thresholds: ['blue', 1, 'orange', 3, 'red'],
              cell: { type: 'gauge', mode: 'basic', valueDisplayMode: 'text' } },
            { name: 'Value #D', title: 'Started at', unit: 'dateTimeAsIso' },
            { name: 'Value #E', title: 'Estimated completion', unit: 'dateTimeAsIso' },
            { name: 'agent_id', title: 'agent_id' },
          ]),
          sortBy='Elapsed'),
  g.stat('Workers', 'Workers by state in the selected workspaces\' pools and the shared pool (stale heartbeats count as offline), and their run slots (realtime.systemLoad.workers).',
         [
           t('sum(%s)' % g.raw('agent_workers', [g.Wpool, 'state="busy"']), 'busy'),
           t('sum(%s)' % g.raw('agent_workers', [g.Wpool, 'state="idle"']), 'idle'),
           t('sum(%s)' % g.raw('agent_workers', [g.Wpool, 'state="offline"']), 'offline'),
           t('sum(%s)' % g.raw('agent_workers', [g.Wpool]), 'total'),
           t('sum(%s)' % g.raw('agent_worker_slots', [g.Wpool]), 'slots'),
         ],
         g.pos(14, 4, 7, 4), textMode='value_and_name') {
    fieldConfig+: { overrides: [
      g.overrideName('busy', { color: { mode: 'fixed', fixedColor: 'green' } }),
      g.overrideName('idle', { color: { mode: 'fixed', fixedColor: 'blue' } }),
      g.overrideName('offline', { color: { mode: 'fixed', fixedColor: 'red' } }),
      g.overrideName('total', { color: { mode: 'fixed', fixedColor: 'text' } }),
      g.overrideName('slots', { color: { mode: 'fixed', fixedColor: 'text' } }),
    ] },
    links: [g.panelLink('resources', 'Compute resources')],
  },
  g.stat('Stuck runs', 'Stuck: runs past 3 times their estimated runtime for over 5 minutes and running more than twice as long as the longest run their workspace finished in the last day, what AgentRunsStuck pages on (workspace_agent_run:agent_run_elapsed_seconds:stuck). Overdue: every running run past 3 times its estimate (agent_runs_overdue), the normal heavy tail of a busy workspace included. The live executions table shows them with progress above 300 %.',
         [
           t('sum(:agent_runs_stuck:count{%s}) or count(workspace_agent_run:agent_run_elapsed_seconds:stuck{%s}) or vector(0)' % [PA, WS], 'stuck'),
           t(wsum('workspace:agent_runs_overdue:sum'), 'overdue'),
         ],
         g.pos(21, 4, 3, 4), decimals=0, thresholds=['green', 1, 'red'], colorMode='background', textMode='value_and_name') {
    fieldConfig+: { overrides: [g.overrideName('overdue', { color: { mode: 'fixed', fixedColor: 'blue' } })] },
  },
  g.bargauge('System load', 'Mean CPU and memory usage of the live workers of those pools (realtime.systemLoad.cpu, .memory), and the share of worker slots running runs (all pools).',
             [
               t('avg(%s)' % g.raw('agent_worker_cpu_usage_ratio_avg', [g.Wpool]), 'CPU'),
               t('avg(%s)' % g.raw('agent_worker_memory_usage_ratio_avg', [g.Wpool]), 'Memory'),
               t(':agent_capacity_utilisation:ratio{%s}' % g.P, 'Slots in use'),
             ],
             g.pos(14, 8, 10, 6), unit='percentunit', min=0, max=1, thresholds=['green', 0.75, 'orange', 0.9, 'red']),

  // ------------------------------------------------------------- throughput (y 14)
  g.stat('Executions last hour', 'Runs finished in the last hour (throughput.executionsPerHour).',
         [t(wsum('workspace:agent_runs_finished:increase1h'), 'last 1h')], g.pos(0, 14, 4, 4), decimals=0),
  g.stat('Executions per day', 'Runs finished in the last 24 hours (throughput.executionsPerDay; needs 24h of Prometheus history to be complete), and since 00:00 UTC straight from the exporter\'s day-anchored counter (exact whatever the Prometheus history).',
         [
           t(wsum('workspace:agent_runs_finished:increase1d'), 'last 24h'),
           t(wsum('workspace:agent_runs_finished_total:sum'), 'today (UTC)'),
         ], g.pos(4, 14, 4, 4), decimals=0, textMode='value_and_name'),
  g.stat('Peak per minute', 'Highest 5m-rate throughput within the selected time range (throughput.peakThroughput.value).',
         [t('max_over_time(%s[$__range:1m])' % wsum('workspace:agent_executions_per_minute:rate5m'), 'peak')],
         g.pos(8, 14, 4, 4), decimals=1, thresholds=['blue']),
  g.stat('Peak at', 'When that peak happened (throughput.peakThroughput.timestamp): the latest minute of the range at the peak value.',
         [t('max_over_time(\n  (timestamp(%(s)s) and (%(s)s >= scalar(max_over_time(%(s)s[$__range:1m] @ end()))))[$__range:1m]\n) * 1000' % { s: wsum('workspace:agent_executions_per_minute:rate5m') }, 'peak at')],
         g.pos(12, 14, 4, 4), unit='dateTimeAsIso', thresholds=['text']),
  g.stat('Capacity utilisation', 'Running runs / run slots of the live workers, all pools (throughput.capacityUtilization).',
         [t(':agent_capacity_utilisation:ratio{%s}' % g.P, 'utilisation')], g.pos(16, 14, 4, 4),
         unit='percentunit', decimals=1, thresholds=['green', 0.75, 'orange', 0.9, 'red'], graph=true),
  g.stat('Max capacity', 'Run slots of the workers that are not offline, all pools: how many runs can run at once (throughput.maxCapacity).',
         [t(':agent_worker_slots:sum{%s}' % g.P, 'slots')], g.pos(20, 14, 4, 4), decimals=0),

  g.timeseries('Throughput', 'Runs finished per minute (5m rate) per workspace, the trailing 24h peak of the selection, and capacity utilisation on the right axis (throughput.throughputTrend, peakThroughput, capacityUtilization).' + g.topNote,
               [
                 t(g.topWorkspacesNamed('workspace:agent_executions_per_minute:rate5m'), '{{workspace_name}}'),
                 t('max_over_time(%s[1d:1m])' % wsum('workspace:agent_executions_per_minute:rate5m'), 'peak (24h)'),  // 1m steps: 5m steps can miss the first minutes of data
                 t(':agent_capacity_utilisation:ratio{%s}' % g.P, 'capacity utilisation'),
               ],
               g.pos(0, 18, 12, 9), unit='short', stack=false, legendCalcs=['mean', 'max', 'lastNotNull']) {
    fieldConfig+: { overrides: [
      g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] }, color: { mode: 'fixed', fixedColor: 'red' }, 'custom.fillOpacity': 0 }),
      g.overrideQuery('C', { unit: 'percentunit', max: 1, 'custom.axisPlacement': 'right', 'custom.fillOpacity': 0, color: { mode: 'fixed', fixedColor: 'purple' } }),
    ] },
  },
  g.bargauge('Latency distribution (runs, last 1h)', 'Runs finished in the last hour by run time bucket, read off the histogram buckets exactly (latency.latencyDistribution[].count).',
             [t(bucketCount(b), b) for b in bucketNames],
             g.pos(12, 18, 6, 9), unit='short', thresholds=['blue']) {
    options+: { displayMode: 'basic' },
  },
  g.bargauge('Latency distribution (share, last 1h)', 'The same buckets as shares of all runs with a run time (latency.latencyDistribution[].percentage).',
             [
               t('%s\n  / scalar(%s > 0)' % [bucketCount(b), wsum('workspace_bucket:agent_run_duration_seconds:increase1h')], b)
               for b in bucketNames
             ],
             g.pos(18, 18, 6, 9), unit='percentunit', min=0, max=1, thresholds=['purple']) {
    options+: { displayMode: 'basic' },
  },

  // ------------------------------------------------------------- execution timeline (y 27)
  g.timeseries('Execution timeline', 'Executions per minute (bars), success rate and mean run time over time (patterns.timeline). Anomalies (spike, drop, failure surge) and bursts appear as annotations from the ALERTS series.',
               [
                 t(wsum('workspace:agent_executions_per_minute:rate5m'), 'executions / min'),
                 t('%s\n  / (%s > 0)' % [wsum('workspace_status:agent_runs_finished:rate5m', ['status="completed"']), finishedRate], 'success rate'),
                 t(g.meanOf('agent_run_duration_seconds'), 'mean run time'),
               ],
               g.pos(0, 27, 24, 9), unit='short') {
    fieldConfig+: { overrides: [
      g.overrideQuery('A', { 'custom.drawStyle': 'bars', 'custom.fillOpacity': 50, color: { mode: 'fixed', fixedColor: 'blue' } }),
      g.overrideQuery('B', { unit: 'percentunit', min: 0, max: 1, 'custom.axisPlacement': 'right', color: { mode: 'fixed', fixedColor: 'green' } }),
      g.overrideQuery('C', { unit: 's', 'custom.axisPlacement': 'right', color: { mode: 'fixed', fixedColor: 'orange' } }),
    ] },
    links: [g.panelLink('patterns', 'Patterns and anomalies')],
  },

  // ------------------------------------------------------------- outcomes (y 36)
  g.stat('Outcomes (last 1h)', 'Runs finished in the last hour by terminal status (performance.totalExecutions, successfulExecutions, failedExecutions, cancelledExecutions).',
         [
           t(wsum('workspace_status:agent_runs_finished:increase1h'), 'total'),
           t(wsum('workspace_status:agent_runs_finished:increase1h', ['status="completed"']), 'completed'),
           t(wsum('workspace_status:agent_runs_finished:increase1h', ['status="failed"']), 'failed'),
           t(wsum('workspace_status:agent_runs_finished:increase1h', ['status="cancelled"']), 'cancelled'),
         ],
         g.pos(0, 36, 12, 4), decimals=0, textMode='value_and_name') {
    fieldConfig+: { overrides: [
      g.overrideName('completed', { color: { mode: 'fixed', fixedColor: 'green' } }),
      g.overrideName('failed', { color: { mode: 'fixed', fixedColor: 'red' } }),
      g.overrideName('cancelled', { color: { mode: 'fixed', fixedColor: 'orange' } }),
      g.overrideName('total', { color: { mode: 'fixed', fixedColor: 'text' } }),
    ] },
  },
  g.stat('Outcome rates (5m)', 'Shares of the runs finished in the last 5 minutes (performance.successRate, failureRate, cancellationRate).',
         [
           t('%s\n  / (%s > 0)' % [wsum('workspace_status:agent_runs_finished:rate5m', ['status="%s"' % s[0]]), finishedRate], s[1])
           for s in [['completed', 'success'], ['failed', 'failure'], ['cancelled', 'cancellation']]
         ],
         g.pos(12, 36, 12, 4), unit='percentunit', decimals=1, textMode='value_and_name') {
    fieldConfig+: { overrides: [
      g.overrideName('success', { color: { mode: 'fixed', fixedColor: 'green' } }),
      g.overrideName('failure', { color: { mode: 'fixed', fixedColor: 'red' } }),
      g.overrideName('cancellation', { color: { mode: 'fixed', fixedColor: 'orange' } }),
    ] },
  },

  // ------------------------------------------------------------- performance by agent (y 40)
  g.table('Performance by agent', 'Per agent of the selected workspaces: runs finished in the last 24h and per minute now, success rate, error (failure) rate and mean run time over the last 5 minutes (performance.byAgent). Rates are empty for an agent without runs in the last 5 minutes. At most %d agents are listed: the busiest by runs in the last 24h.' % config.dashboardTopAgents,
          [
            t(byAgent('workspace_agent:agent_runs_finished:increase1d'), format='table'),
            t(byAgent('workspace_agent:agent_runs_finished:rate5m', '%s * 60'), format='table'),
            t(byAgent('workspace_agent:agent_runs_success:ratio_rate5m'), format='table'),
            t(byAgent('workspace_agent:agent_runs_error:ratio_rate5m'), format='table'),
            t(byAgent('workspace_agent:agent_run_runtime_seconds:avg_rate5m'), format='table'),
          ],
          g.pos(0, 40, 24, 10),
          agentCols([
            { name: 'Value #A', title: 'Executions (24h)', decimals: 0 },
            { name: 'Value #B', title: 'Per minute', decimals: 2 },
            { name: 'Value #C', title: 'Success rate', unit: 'percentunit', decimals: 1,
              thresholds: ['red', 0.9, 'orange', 0.97, 'green'], cell: { type: 'color-text' } },
            { name: 'Value #D', title: 'Error rate', unit: 'percentunit', decimals: 1,
              thresholds: ['green', 0.05, 'orange', 0.1, 'red'], cell: { type: 'color-text' } },
            { name: 'Value #E', title: 'Avg runtime', unit: 's', decimals: 2 },
            { name: 'agent_id', title: 'agent_id' },
            { name: 'workspace_id', title: 'workspace_id' },
          ]),
          sortBy='Executions (24h)'),
])
