// Alerts. Names are a contract. Every alert carries severity, summary, a templated
// description with the values that matter, runbook_url and dashboard_url.
{
  local cfg = $._config,
  local sel = cfg.selector,
  local m(name) = '%s{%s}' % [name, sel],
  local runbook(name) = cfg.runbookURLPattern % std.asciiLower(name),
  // Alerts keep the platform labels of the rules (clusterLabel, job): joins below are
  // written per workspace and scoped like the rules (`on (x)` and `by (x)` take the
  // platform labels too), and lookups and dashboard links select the alert's own platform. An
  // absent label is empty, and `label=""` matches a series without it.
  local cl = cfg.clusterLabel,
  local scoped(expr) = std.strReplace(std.strReplace(expr, ' on (', ' on (%s, job, ' % cl), ' by (', ' by (%s, job, ' % cl),
  local dashboard(ws=true) = (cfg.dashboardURLPattern % cfg.overviewDashboardUID) + '?var-cluster={{ $labels.%s }}&var-job={{ $labels.job }}%s' % [
    cl, if ws then '&var-workspace={{ $labels.workspace_id }}' else ''],
  // A PromQL selector of the alert's platform and workspace, for lookups.
  local wsSelector(metric) = 'printf "%s{%s=\'%%s\',job=\'%%s\',workspace_id=\'%%s\'}" $labels.%s $labels.job $labels.workspace_id' % [metric, cl, cl],
  // The workspace's display name, looked up when the alert is rendered.
  local wsName = '{{ with %s | query }}{{ . | first | label "workspace_name" }}{{ else }}{{ $labels.workspace_id }}{{ end }}' % wsSelector('agent_workspace_info'),
  local alert(name, expr, forDuration, severity, summary, description, labels={}, ws=true) = {
    alert: name,
    expr: scoped(expr),
    labels: { severity: severity } + labels,
    annotations: {
      summary: summary,
      description: description,
      runbook_url: runbook(name),
      dashboard_url: dashboard(ws),
    },
  } + (if forDuration == null then {} else { 'for': forDuration }),
  local minRate = cfg.minRunsPer5m / 300,
  // Values looked up when the alert is rendered.
  local lookup(record, filter='humanize') =
    '{{ with %s | query }}{{ . | first | value | %s }}{{ end }}' % [wsSelector(record), filter],
  local rate5m = lookup('workspace:agent_runs_finished:rate5m', 'printf "%.4g"'),
  local baselineRate = lookup('workspace:agent_runs_finished:rate5m_baseline', 'printf "%.4g"'),
  local failureRatio = lookup('workspace:agent_runs_failure:ratio_rate10m', 'humanizePercentage'),

  prometheusAlerts+:: {
    assert cfg.spikeFactor < cfg.spikeImpact.medium && cfg.spikeImpact.medium < cfg.spikeImpact.high
           : 'spikeFactor < spikeImpact.medium < spikeImpact.high',
    assert cfg.dropImpact.medium < cfg.dropFactor && cfg.dropImpact.medium > 0 : '0 < dropImpact.medium < dropFactor',
    assert cfg.failureSurgeFactor < cfg.failureImpact.medium && cfg.failureImpact.medium < cfg.failureImpact.high
           : 'failureSurgeFactor < failureImpact.medium < failureImpact.high',
    groups+: [
      {
        name: 'agent_execution_anomalies',
        // Graded anomalies: one rule per grade (impact low|medium|high, each with its
        // Alertmanager severity). "Past the threshold for the whole window" is part of
        // the expression (every value of the size in the window, and a value at its
        // start), not a `for`: a `for` would start again from pending whenever the
        // grade, and so the labels, change, and an anomaly growing through a grade
        // boundary would not fire in time.
        rules: [
          alert('AgentExecutionSpike',
                |||
                  workspace:agent_runs_finished:baseline_ratio %(grade)s
                  and on (workspace_id) min_over_time(workspace:agent_runs_finished:baseline_ratio[%(for)s]) > %(factor)g
                  and on (workspace_id) (workspace:agent_runs_finished:baseline_ratio offset %(for)s)
                  and on (workspace_id) workspace:agent_runs_finished:rate5m >= %(minRate)g
                ||| % { grade: g.cond, factor: cfg.spikeFactor, minRate: minRate, 'for': cfg.spikeFor },
                null, cfg.anomalySeverity.spike[g.impact],
                'Agent executions are far above their usual rate for this time of day (%s impact).' % g.impact,
                'Workspace ' + wsName + ' finishes ' + rate5m + ' runs/s, {{ $value | humanize }} times its baseline (same time last week, else yesterday), and above %g times for %s: %s impact.' % [cfg.spikeFactor, cfg.spikeFor, g.impact],
                { anomaly: 'spike', impact: g.impact })
          for g in [
            { impact: 'low', cond: '> %g < %g' % [cfg.spikeFactor, cfg.spikeImpact.medium] },
            { impact: 'medium', cond: '>= %g < %g' % [cfg.spikeImpact.medium, cfg.spikeImpact.high] },
            { impact: 'high', cond: '>= %g' % cfg.spikeImpact.high },
          ]
        ] + [
          alert('AgentExecutionDrop',
                |||
                  workspace:agent_runs_finished:baseline_ratio %(grade)s
                  and on (workspace_id) max_over_time(workspace:agent_runs_finished:baseline_ratio[%(for)s]) < %(factor)g
                  and on (workspace_id) (workspace:agent_runs_finished:baseline_ratio offset %(for)s)
                  and on (workspace_id) workspace:agent_runs_finished:rate5m_baseline >= %(minRate)g
                ||| % { grade: g.cond, factor: cfg.dropFactor, minRate: minRate, 'for': cfg.dropFor },
                null, cfg.anomalySeverity.drop[g.impact],
                g.summary,
                g.description,
                { anomaly: 'drop', impact: g.impact })
          for g in [
            {
              impact: 'low',
              cond: '< %g >= %g' % [cfg.dropFactor, cfg.dropImpact.medium],
              summary: 'Agent executions fell far below their usual rate for this time of day (low impact).',
              description: 'Workspace ' + wsName + ' finishes ' + rate5m + ' runs/s, {{ $value | humanizePercentage }} of its baseline (' + baselineRate + ' runs/s at this time), and below %g %% for %s: low impact.' % [cfg.dropFactor * 100, cfg.dropFor],
            },
            {
              impact: 'medium',
              cond: '< %g > 0' % cfg.dropImpact.medium,
              summary: 'Agent executions fell far below their usual rate for this time of day (medium impact).',
              description: 'Workspace ' + wsName + ' finishes ' + rate5m + ' runs/s, {{ $value | humanizePercentage }} of its baseline (' + baselineRate + ' runs/s at this time), and below %g %% for %s: medium impact.' % [cfg.dropFactor * 100, cfg.dropFor],
            },
            {
              impact: 'high',
              cond: '== 0',
              summary: 'Agent executions stopped completely (high impact).',
              description: 'Workspace ' + wsName + ' finishes no run at all although it usually finishes ' + baselineRate + ' runs/s at this time, and has been below %g %% of that for %s: high impact.' % [cfg.dropFactor * 100, cfg.dropFor],
            },
          ]
        ] + [
          alert('AgentExecutionFailureSurge',
                |||
                  workspace:agent_runs_failure:baseline_ratio %(grade)s
                  and on (workspace_id) min_over_time(workspace:agent_runs_failure:baseline_ratio[%(for)s]) > %(factor)g
                  and on (workspace_id) (workspace:agent_runs_failure:baseline_ratio offset %(for)s)
                  and on (workspace_id) workspace_status:agent_runs_finished:rate10m{status="failed"} * 600 >= %(minRuns)d
                ||| % { grade: g.cond, factor: cfg.failureSurgeFactor, minRuns: cfg.failureMinRuns, 'for': cfg.failureSurgeFor },
                null, cfg.anomalySeverity.failure_surge[g.impact],
                'Agent runs are failing far more often than usual (%s impact).' % g.impact,
                'Workspace ' + wsName + ': ' + failureRatio + ' of the runs finished in the last 10 minutes failed, {{ $value | humanize }} times the usual failure ratio (taken as at least %g %%), and above %g times for %s: %s impact.' % [
                  std.floor(cfg.failureRatioFloor / cfg.failureSurgeFactor * 10000 + 0.5) / 100, cfg.failureSurgeFactor, cfg.failureSurgeFor, g.impact],
                { anomaly: 'failure_surge', impact: g.impact })
          for g in [
            { impact: 'low', cond: '> %g < %g' % [cfg.failureSurgeFactor, cfg.failureImpact.medium] },
            { impact: 'medium', cond: '>= %g < %g' % [cfg.failureImpact.medium, cfg.failureImpact.high] },
            { impact: 'high', cond: '>= %g' % cfg.failureImpact.high },
          ]
        ] + [
          local lo = cfg.burstImpact[i.impact];
          local hi = if i.next == null then null else cfg.burstImpact[i.next];
          alert('AgentExecutionBurst',
                'workspace:agent_runs_finished:burst_ratio >= %g%s and on (workspace_id) workspace:agent_runs_finished:rate1m * 60 >= %d' % [
                  lo, if hi == null then '' else ' < %g' % hi, cfg.burstMinRunsPerMinute]
                  ,
                cfg.burstFor, i.severity,
                'A burst of agent executions (%s impact).' % i.impact,
                'Workspace ' + wsName + ' finished runs at {{ $value | humanize }} times its rate of the previous hour during the last minute.',
                { impact: i.impact })
          for i in [
            { impact: 'low', next: 'medium', severity: 'info' },
            { impact: 'medium', next: 'high', severity: 'warning' },
            { impact: 'high', next: null, severity: 'warning' },
          ]
        ],
      },
      {
        name: 'agent_execution_queue_and_capacity',
        rules: [
          alert('AgentQueueBacklog',
                'workspace:agent_queue_depth:sum > %d and on (workspace_id) deriv(workspace:agent_queue_depth:sum[10m]) > 0' % cfg.queueBacklogDepth,
                cfg.queueBacklogFor, 'warning',
                'The execution queue keeps growing.',
                'Workspace ' + wsName + ' has {{ $value }} runs waiting, more than %d, and the queue is still growing.' % cfg.queueBacklogDepth),
          alert('AgentQueueWaitHigh',
                'workspace:agent_queue_oldest_age_seconds:max > %d' % cfg.queueWaitSeconds,
                cfg.queueWaitFor, 'warning',
                'Runs wait too long in the queue.',
                'The oldest waiting run of workspace ' + wsName + ' has waited {{ $value | humanizeDuration }} (threshold %ds).' % cfg.queueWaitSeconds),
          alert('AgentCapacitySaturated',
                ':agent_capacity_utilisation:ratio > %g' % cfg.capacityRatio,
                cfg.capacityFor, 'warning',
                'Worker capacity is nearly exhausted.',
                '{{ $value | humanizePercentage }} of the worker slots are running runs (threshold %g %%).' % (cfg.capacityRatio * 100),
                ws=false),
          // Not "some run is overdue": a busy workspace always has overdue runs (heavy
          // tails). Stuck: one run past the factor for the whole window and longer than
          // the workspace's usual tail (rules: workspace_agent_run:agent_run_elapsed_seconds:stuck).
          alert('AgentRunsStuck',
                'count by (workspace_id) (workspace_agent_run:agent_run_elapsed_seconds:stuck)',
                cfg.stuckFor, 'warning',
                'Runs are stuck: far past their estimated runtime and longer than any usual run of the workspace.',
                'Workspace ' + wsName + (' has {{ $value }} stuck run(s), past %g times their estimated runtime for over %s and running more than %g times as long as the longest run it finished in the last %s: ' % [
                  cfg.stuckFactor, cfg.stuckWindow, cfg.stuckTailFactor, cfg.stuckTailWindow])
                + '{{ range $i, $r := ' + wsSelector('workspace_agent_run:agent_run_elapsed_seconds:stuck') + ' | query }}{{ if $i }}, {{ end }}run {{ $r.Labels.run_id }} (agent {{ $r.Labels.agent_id }}){{ end }}.'),
        ],
      },
      {
        name: 'agent_execution_exporter',
        rules: [
          alert('AgentExporterDown',
                'up == 0 and on (instance) last_over_time(%s[1h])' % m('agent_exporter_build_info'),
                cfg.exporterDownFor, 'critical',
                'An agent_execution_exporter cannot be scraped.',
                'Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}); the agent execution metrics of that replica are missing.',
                { scope: 'instance' }, ws=false),
          alert('AgentExporterDown',
                'absent_over_time(%s[10m])' % m('agent_exporter_build_info'),
                cfg.exporterDownFor, 'critical',
                'No agent_execution_exporter is reporting.',
                'No series of agent_exporter_build_info for 10 minutes: no exporter is being scraped, so no agent execution alert can fire.',
                { scope: 'all' }, ws=false),
          // A shard (--shard.index) of which no replica is scraped while the other shards
          // are: its workspaces have no series, so none of their alerts can fire. The
          // shards a platform has are the ones seen in the last shardDownLookback with the
          // shard count the live exporters report (a changed --shard.count retires the old
          // indices); when every exporter is down, AgentExporterDown{scope="all"} fires.
          alert('AgentExporterShardDown',
                |||
                  group by (index, count) (last_over_time(%(info)s[%(lookback)s]))
                    unless on (index) %(info)s
                    and on (count) group by (count) (%(info)s)
                ||| % { info: m('agent_exporter_shard_info'), lookback: cfg.shardDownLookback },
                cfg.exporterDownFor, 'critical',
                'A shard of the agent_execution_exporter has no live replica.',
                'No exporter of shard {{ $labels.index }} (of {{ $labels.count }}, job {{ $labels.job }}) has been scraped for %s while the other shards are: the workspaces of that shard have no metrics and none of their alerts can fire.' % cfg.exporterDownFor,
                { scope: 'shard' }, ws=false),
          alert('AgentExporterCollectorFailing',
                '%s == 0' % m('agent_exporter_collector_up'),
                cfg.collectorFailingFor, 'warning',
                'An exporter collector keeps failing.',
                'Collector {{ $labels.collector }} on {{ $labels.instance }} has failed for %s; its metrics are frozen at their last values. See /readyz on the exporter for the error.' % cfg.collectorFailingFor,
                ws=false),
        ],
      },
    ],
  },
}
