// Patterns and anomalies: hour of day, peak and quiet hours, weekday vs weekend, daily
// average, comparison with the previous period, bursts and active anomalies.
// A function of the mixin's _config (grafana/dashboards.libsonnet).
function(config)
local g = (import 'lib.libsonnet')(config);
local W = g.W;
local t = g.target;

local historyReason = 'the patterns collector needs at least one complete past UTC day of runs (backfill)';
// With All the panels read the platform-wide pattern rules (alerts/rules.libsonnet,
// agent_execution_patterns); with a selection, the exporter's series of those workspaces.
// (The shared All/selection gate: lib.libsonnet, gate.)
local exporter(metric) = function(scope) g.raw(metric, [scope]);
local rule(name) = function(scope) '%s{%s}' % [name, scope];
// Hours "0".."23" padded to "00".."23" so they sort as text.
local padHour(expr) = 'label_replace(%s, "hour", "0$1", "hour", "([0-9])")' % expr;
local hourRuns = exporter('agent_executions_hour_of_day_average');
local byHourRuns = g.gatedAgg('sum by (hour)', rule('hour:agent_executions_hour_of_day_average:sum'), hourRuns);
// A rate per hour of the day weighted by each selected workspace's runs in that hour.
local weighted(metric) = g.gate(
  function(scope) 'sum by (hour) (%s)' % rule('hour:%s:weighted_avg' % metric)(scope),
  function(scope) 'sum by (hour) (%s * on (workspace_id, hour) %s)\n  / (sum by (hour) (%s) > 0)' % [
    exporter(metric)(scope), hourRuns(scope), hourRuns(scope),
  ]
);
// A daily figure summed over the selected workspaces.
local daily(metric) = g.gatedAgg('sum', rule(':%s:sum' % metric), exporter(metric));

// Tables with rows per workspace: the busiest workspaces by runs per day. With All the
// pre-capped rules (alerts/rules.libsonnet, agent_execution_patterns: the rows of the
// busiest workspaces per platform, with workspace_name) re-ranked over the platforms;
// with a selection the exporter's series of those workspaces.
local busiestRows(metric) = g.gate(
  function(scope) 'workspace_rank:%s:max_top_workspaces{%s}\n  and on (workspace_id) topk(%d, workspace:agent_executions_daily_average:max_top_workspaces{%s})' % [
    metric, scope, config.dashboardTopWorkspaces, scope],
  function(scope) g.withWorkspaceName(g.topWorkspaces(g.raw(metric, [scope]), g.raw('agent_executions_daily_average', [scope]))),
);
local busiestNote = ' At most %d workspaces are listed: the busiest.' % config.dashboardTopWorkspaces;

local alertNames = {
  AgentExecutionSpike: 'Executions far above the usual rate for this time of day',
  AgentExecutionDrop: 'Executions far below the usual rate (or stopped)',
  AgentExecutionFailureSurge: 'Runs failing far more often than usual',
  AgentExecutionBurst: 'Burst of executions against the previous hour',
  AgentQueueBacklog: 'Queue keeps growing',
  AgentQueueWaitHigh: 'Runs wait too long in the queue',
  AgentCapacitySaturated: 'Worker capacity nearly exhausted',
  AgentRunsStuck: 'Runs stuck far past their estimate and the usual longest run',
  AgentExporterDown: 'Exporter cannot be scraped',
  AgentExporterCollectorFailing: 'A collector keeps failing',
};
local burstSel = 'ALERTS{alertname="AgentExecutionBurst", alertstate="firing", %s}' % W;
// Firing anomalies by grade: 1 low, 2 medium, 3 high (the impact label).
local anomalyGrades = ['low', 'medium', 'high'];
local anomalyGrade = 'max by (workspace_id, anomaly) (\n  %s\n)' % std.join('\n  or ', [
  '(ALERTS{alertname=~"AgentExecution(Spike|Drop|FailureSurge)", alertstate="firing", impact="%s", %s} * 0 + %d)' % [anomalyGrades[i], W, i + 1]
  for i in std.range(0, 2)
]);
local burstRate = '(workspace:agent_runs_finished:rate1m{%s} * 60 and on (workspace_id) %s)' % [W, burstSel];

g.dashboard('patterns', 'When agents run: hour-of-day profile, peak and quiet hours, weekday against weekend, comparison with the previous period, bursts and anomalies.', [
  // ------------------------------------------------------------- hour of day (y 0)
  g.barchart('Executions by hour of day (average per day)', 'Runs finished in each hour of the day, averaged over the lookback days of the patterns collector (UTC unless the exporter sets a time zone). Summed over the selected workspaces (performance.byHour[].executions).',
             [t(g.allowEmpty(padHour(byHourRuns), 'history', historyReason), format='table')],
             g.pos(0, 0, 16, 9), 'hour') {
    transformations: [
      { id: 'merge', options: {} },
      { id: 'filterFieldsByName', options: { include: { names: ['hour', 'Value'] } } },
      { id: 'sortBy', options: { sort: [{ field: 'hour', desc: false }] } },
      { id: 'organize', options: { renameByName: { Value: 'runs per day' } } },
    ],
  },
  g.stat('Daily average', 'Runs finished per day over the lookback days (patterns.patterns.averageDaily).',
         [t(g.allowEmpty(daily('agent_executions_daily_average'), 'history', historyReason), 'per day')],
         g.pos(16, 0, 8, 3), decimals=0),
  g.bargauge('Weekday vs weekend', 'Average runs per Monday-Friday day and per Saturday/Sunday over the lookback (patterns.patterns.weekdayAverage, weekendAverage).',
             [
               t(g.allowEmpty(daily('agent_executions_weekday_average'), 'history', historyReason), 'weekday'),
               t(g.allowEmpty(daily('agent_executions_weekend_average'), 'history', historyReason), 'weekend'),
               t(g.allowEmpty(daily('agent_executions_daily_average'), 'history', historyReason), 'all days'),
             ],
             g.pos(16, 3, 8, 6), decimals=0, thresholds=['blue']),

  // ------------------------------------------------------------- peak and quiet hours, by hour table (y 9)
  g.table('Peak hours', 'The busiest hours of the day per workspace (rank 1 = busiest), with their average runs per day (patterns.patterns.peakHours).' + busiestNote,
          [t(g.allowEmpty(busiestRows('agent_executions_peak_hour'), 'history', historyReason), format='table')],
          g.pos(0, 9, 6, 9),
          [
            { name: 'workspace_name', title: 'Workspace' },
            { name: 'rank', title: 'Rank' },
            { name: 'hour', title: 'Hour' },
            { name: 'Value', title: 'Runs / day', decimals: 1 },
          ]),
  g.table('Quiet hours', 'The quietest hours of the day per workspace (rank 1 = quietest) (patterns.patterns.quietHours).' + busiestNote,
          [t(g.allowEmpty(busiestRows('agent_executions_quiet_hour'), 'history', historyReason), format='table')],
          g.pos(6, 9, 6, 9),
          [
            { name: 'workspace_name', title: 'Workspace' },
            { name: 'rank', title: 'Rank' },
            { name: 'hour', title: 'Hour' },
            { name: 'Value', title: 'Runs / day', decimals: 1 },
          ]),
  g.table('Performance by hour of day', 'Per hour of the day over the lookback: average runs per day, success rate and mean end-to-end latency, the rates weighted by each workspace\'s runs (performance.byHour).',
          [
            t(g.allowEmpty(padHour(byHourRuns), 'history', historyReason), format='table'),
            t(g.allowEmpty(padHour(weighted('agent_executions_hour_of_day_success_ratio')), 'history', historyReason), format='table'),
            t(g.allowEmpty(padHour(weighted('agent_executions_hour_of_day_latency_seconds_avg')), 'history', historyReason), format='table'),
          ],
          g.pos(12, 9, 12, 9),
          [
            { name: 'hour', title: 'Hour' },
            { name: 'Value #A', title: 'Runs / day', decimals: 1 },
            { name: 'Value #B', title: 'Success rate', unit: 'percentunit', decimals: 1 },
            { name: 'Value #C', title: 'Avg latency', unit: 's', decimals: 2 },
          ],
          sortBy='Hour', sortDesc=false),

  // ------------------------------------------------------------- vs last period (y 18)
  g.stat('Executions vs previous hour', 'Change of the runs finished in the last hour against the hour before, per workspace (performance.vsLastPeriod.executionsChange). At most %d workspaces are shown: the largest changes either way.' % config.dashboardTopWorkspaces,
         [t(g.allowEmpty(g.topWorkspacesNamed('workspace:agent_runs_finished:increase1h_change_ratio', rank='abs(%s)'), 'history', 'needs 2 hours of Prometheus history'), '{{workspace_name}}')],
         g.pos(0, 18, 6, 5), unit='percentunit', decimals=1, thresholds=['blue'], textMode='value_and_name'),
  g.stat('Success rate vs previous hour', 'Difference of the hourly success rate against the hour before, per workspace, in percentage points (performance.vsLastPeriod.successRateChange). At most %d workspaces are shown: the largest changes either way.' % config.dashboardTopWorkspaces,
         [t(g.allowEmpty(g.topWorkspacesNamed('workspace:agent_runs_success:ratio_1h_change', rank='abs(%s)'), 'history', 'needs 2 hours of Prometheus history'), '{{workspace_name}}')],
         g.pos(6, 18, 6, 5), unit='percentunit', decimals=1, thresholds=['red', -0.02, 'green'], textMode='value_and_name'),
  g.stat('Latency vs previous hour', 'Change of the hourly mean run time against the hour before, per workspace (performance.vsLastPeriod.latencyChange). At most %d workspaces are shown: the largest changes either way.' % config.dashboardTopWorkspaces,
         [t(g.allowEmpty(g.topWorkspacesNamed('workspace:agent_run_duration_seconds:avg_rate1h_change_ratio', rank='abs(%s)'), 'history', 'needs 2 hours of Prometheus history'), '{{workspace_name}}')],
         g.pos(12, 18, 6, 5), unit='percentunit', decimals=1, thresholds=['green', 0.2, 'orange', 0.5, 'red'], textMode='value_and_name'),
  g.stat('Last 24h vs a week earlier', 'Change of the runs finished in the last 24 hours against the same 24 hours one week earlier, per workspace. At most %d workspaces are shown: the largest changes either way.' % config.dashboardTopWorkspaces,
         [t(g.allowEmpty(g.topWorkspacesNamed('workspace:agent_runs_finished:increase1d_change_ratio_1w', rank='abs(%s)'), 'history', 'needs 8 days of Prometheus history'), '{{workspace_name}}')],
         g.pos(18, 18, 6, 5), unit='percentunit', decimals=1, thresholds=['blue'], textMode='value_and_name'),
  g.timeseries('Executions per hour: now, yesterday, last week', 'Runs finished in the trailing hour over the selected workspaces, against the same moment one day and one week earlier.',
               [
                 t(g.wsAgg('sum', 'workspace:agent_runs_finished:increase1h'), 'now'),
                 t(g.allowEmpty(g.wsAgg('sum', 'workspace:agent_runs_finished:increase1h', offset='1d'), 'history', 'needs 1 day of Prometheus history'), '1 day earlier'),
                 t(g.allowEmpty(g.wsAgg('sum', 'workspace:agent_runs_finished:increase1h', offset='1w'), 'history', 'needs 1 week of Prometheus history'), '1 week earlier'),
               ],
               g.pos(0, 23, 12, 8)) {
    fieldConfig+: { overrides: [
      g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } }),
      g.overrideQuery('C', { 'custom.lineStyle': { fill: 'dot', dash: [0, 10] } }),
    ] },
  },
  g.timeseries('Executions against their anomaly baseline', 'Runs finished per second (5m rate) per workspace against the baseline the spike and drop alerts use (same time last week, else yesterday), and the burst ratio (last minute against the previous hour) on the right axis.' + g.topNote,
               [
                 t(g.topWorkspacesNamed('workspace:agent_runs_finished:rate5m'), '{{workspace_name}}'),
                 t(g.allowEmpty(g.topWorkspacesNamed('workspace:agent_runs_finished:rate5m_baseline', by='workspace:agent_runs_finished:rate5m'), 'history', 'needs 1 day of Prometheus history'), '{{workspace_name}} baseline'),
                 t(g.allowEmpty(g.topWorkspacesNamed('workspace:agent_runs_finished:burst_ratio', by='workspace:agent_runs_finished:rate5m'), 'history', 'needs 10 minutes of Prometheus history'), '{{workspace_name}} burst ratio'),
               ],
               g.pos(12, 23, 12, 8), unit='short') {
    fieldConfig+: { overrides: [
      g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } }),
      g.overrideQuery('C', { 'custom.axisPlacement': 'right', unit: 'short', 'custom.fillOpacity': 0 }),
    ] },
  },

  // ------------------------------------------------------------- anomalies and bursts (y 31)
  g.table('Active anomalies and alerts', 'Firing alerts of the rule pack for the selected workspaces (and the global ones): type, impact (the spec\'s anomaly severity: low, medium, high, for anomalies and bursts), Alertmanager severity, since when (patterns.anomalies; since = when the alert reached its current grade). The annotations on the time series and the timeline below show their history.',
          [t(g.allowEmpty(std.foldl(function(e, l) 'label_replace(%s, "%s", "%s", "%s", "")' % [e, l[0], l[1], l[0]],
                                    [['workspace_id', '(all)'], ['anomaly', '-'], ['impact', '-']],
                                    'max by (alertname, workspace_id, anomaly, impact, severity) (ALERTS_FOR_STATE{alertname=~"Agent.+", %s}\n  and on (alertname, workspace_id, anomaly, impact, severity) ALERTS{alertstate="firing", %s}) * 1000' % [g.Wpool, g.Wpool]),
                          'alerts', 'no alert of the rule pack is firing'), format='table')],
          g.pos(0, 31, 14, 8),
          [
            { name: 'Value', title: 'Since', unit: 'dateTimeAsIso' },
            { name: 'alertname', title: 'Alert', mappings: [{ type: 'value', options: {
              [k]: { text: '%s: %s' % [k, alertNames[k]], index: std.find(k, std.objectFields(alertNames))[0] }
              for k in std.objectFields(alertNames)
            } }] },
            { name: 'workspace_id', title: 'Workspace' },
            { name: 'anomaly', title: 'Type' },
            { name: 'impact', title: 'Impact' },
            { name: 'severity', title: 'Severity' },
          ],
          sortBy='Since'),
  g.table('Bursts in the selected range', 'Per workspace: peak executions per minute and approximate runs finished during the minutes an AgentExecutionBurst alert was firing, within the selected range (patterns.bursts; start and end show as "Bursts" annotations).',
          [
            t(g.allowEmpty(g.withWorkspaceName('max_over_time(%s[$__range:1m])' % burstRate), 'alerts', 'no burst in the selected range'), format='table'),
            t(g.allowEmpty(g.withWorkspaceName('sum_over_time(%s[$__range:1m])' % burstRate), 'alerts', 'no burst in the selected range'), format='table'),
            t(g.allowEmpty(g.withWorkspaceName('count_over_time(%s[$__range:1m])' % burstRate), 'alerts', 'no burst in the selected range'), format='table'),
          ],
          g.pos(14, 31, 10, 8),
          [
            { name: 'workspace_name', title: 'Workspace' },
            { name: 'Value #A', title: 'Peak / min', decimals: 1 },
            { name: 'Value #B', title: 'Runs during bursts', decimals: 0 },
            { name: 'Value #C', title: 'Burst minutes', decimals: 0 },
          ]),

  // ------------------------------------------------------------- anomaly grades over time (y 39)
  g.panel('state-timeline', 'Anomalies by impact',
          'When each workspace had a spike, drop or failure surge and how large it was against its baseline: the impact label of AgentExecutionSpike, AgentExecutionDrop and AgentExecutionFailureSurge (patterns.anomalies[].severity: low, medium, high; thresholds in alerts/config.libsonnet). The Alertmanager severity of each grade is in the table above.',
          [t(g.allowEmpty(g.withWorkspaceName(anomalyGrade), 'alerts', 'no anomaly alert is firing'), '{{workspace_name}}: {{anomaly}}')],
          g.pos(0, 39, 24, 7)) {
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        thresholds: g.thresholds(['yellow', 2, 'orange', 3, 'red']),
        mappings: [{ type: 'value', options: {
          [std.toString(i + 1)]: { text: anomalyGrades[i], index: i }
          for i in std.range(0, 2)
        } }],
        custom: { fillOpacity: 80, lineWidth: 0, hideFrom: { legend: false, tooltip: false, viz: false } },
      },
      overrides: [],
    },
    options: {
      mergeValues: true,
      showValue: 'auto',
      alignValue: 'left',
      rowHeight: 0.9,
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
      tooltip: { mode: 'single', sort: 'none' },
    },
  },
])
