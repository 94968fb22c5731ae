// Alerts. Names are a contract. Every alert carries severity, summary, a templated
// description with the values that matter, runbook_url and dashboard_url.
{
  local cfg = $._config,
  local sel = cfg.selector,
  local m(name) = '%s{%s}' % [name, sel],
  local runbook(name) = '%s#%s' % [cfg.runbookURL, std.asciiLower(name)],
  local dashboard(ws=true) = '%s/d/%s%s' % [cfg.grafanaURL, cfg.overviewDashboardUID, if ws then '?var-workspace={{ $labels.workspace_id }}' else ''],
  // The workspace's display name, looked up when the alert is rendered.
  local wsName = '{{ with printf "agent_workspace_info{workspace_id=\'%s\'}" $labels.workspace_id | query }}{{ . | first | label "workspace_name" }}{{ else }}{{ $labels.workspace_id }}{{ end }}',
  local alert(name, expr, forDuration, severity, summary, description, labels={}, ws=true) = {
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: severity } + labels,
    annotations: {
      summary: summary,
      description: description,
      runbook_url: runbook(name),
      dashboard_url: dashboard(ws),
    },
  },
  local minRate = cfg.minRunsPer5m / 300,

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'agent_execution_anomalies',
        rules: [
          alert('AgentExecutionSpike',
                |||
                  workspace:agent_runs_finished:rate5m
                    > on (workspace_id) %(factor)g * clamp_min(workspace:agent_runs_finished:rate5m_baseline, %(minRate)g)
                  and on (workspace_id) workspace:agent_runs_finished:rate5m >= %(minRate)g
                ||| % { factor: cfg.spikeFactor, minRate: minRate },
                cfg.spikeFor, 'warning',
                'Agent executions are far above their usual rate for this time of day.',
                'Workspace ' + wsName + ' finishes {{ $value | humanize }} runs/s, more than %g times its baseline (same time last week, else yesterday).' % cfg.spikeFactor,
                { anomaly: 'spike' }),
          alert('AgentExecutionDrop',
                |||
                  (workspace:agent_runs_finished:rate5m or on (workspace_id) (workspace:agent_runs_finished:rate5m_baseline * 0))
                    < on (workspace_id) %(factor)g * workspace:agent_runs_finished:rate5m_baseline
                  and on (workspace_id) workspace:agent_runs_finished:rate5m_baseline >= %(minRate)g
                  and on (workspace_id) (workspace:agent_runs_finished:rate5m > 0)
                ||| % { factor: cfg.dropFactor, minRate: minRate },
                cfg.dropFor, 'warning',
                'Agent executions fell far below their usual rate for this time of day.',
                'Workspace ' + wsName + ' finishes {{ $value | humanize }} runs/s, less than %g %% of its baseline.' % (cfg.dropFactor * 100),
                { anomaly: 'drop' }),
          alert('AgentExecutionDrop',
                |||
                  (workspace:agent_runs_finished:rate5m or on (workspace_id) (workspace:agent_runs_finished:rate5m_baseline * 0)) == 0
                  and on (workspace_id) workspace:agent_runs_finished:rate5m_baseline >= %(minRate)g
                ||| % { minRate: minRate },
                cfg.dropFor, 'critical',
                'Agent executions stopped completely.',
                'Workspace ' + wsName + ' finished no run for %s although it usually finishes {{ with printf "workspace:agent_runs_finished:rate5m_baseline{workspace_id=\'%%s\'}" $labels.workspace_id | query }}{{ . | first | value | humanize }}{{ end }} runs/s at this time.' % cfg.dropFor,
                { anomaly: 'drop' }),
          alert('AgentExecutionFailureSurge',
                |||
                  workspace:agent_runs_failure:ratio_rate10m
                    > on (workspace_id) clamp_min(
                        (%(factor)g * workspace:agent_runs_failure:ratio_baseline)
                          or on (workspace_id) (workspace:agent_runs_failure:ratio_rate10m * 0),
                        %(floor)g)
                  and on (workspace_id) workspace_status:agent_runs_finished:rate10m{status="failed"} * 600 >= %(minRuns)d
                ||| % { factor: cfg.failureSurgeFactor, floor: cfg.failureRatioFloor, minRuns: cfg.failureMinRuns },
                cfg.failureSurgeFor, 'critical',
                'Agent runs are failing far more often than usual.',
                'Workspace ' + wsName + ': {{ $value | humanizePercentage }} of the runs finished in the last 10 minutes failed (at least %g %% and %g times the usual failure ratio).' % [cfg.failureRatioFloor * 100, cfg.failureSurgeFactor],
                { anomaly: 'failure_surge' }),
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
          alert('AgentRunsStuck',
                'workspace:agent_runs_overdue:sum > 0',
                cfg.stuckFor, 'warning',
                'Runs are running far past their estimated runtime.',
                'Workspace ' + wsName + ' has {{ $value }} runs running more than the overdue factor times their estimate; see agent_run_elapsed_seconds for their run ids.'),
        ],
      },
      {
        name: 'agent_execution_exporter',
        rules: [
          alert('AgentExporterDown',
                'up == 0 and on (job, instance) last_over_time(%s[1h])' % m('agent_exporter_build_info'),
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
