// Recording rules: level:metric:operation. Exporter replicas are deduplicated with
// max without (replica labels) before anything is summed, so an HA pair never
// doubles a rate. Histograms are the exception: their buckets, _sum and _count are
// only consistent within one replica (replicas scrape at different phases), so every
// rule that combines several series of one histogram takes them all from ONE replica
// per workspace (oneReplica below) instead of a max per series. Every rule keeps the platform labels (clusterLabel and job), so two
// platforms in one Prometheus never merge: `level` names the labels below them.
{
  local cfg = $._config,
  local sel = cfg.selector,
  local dedup(expr) = 'max without (%s) (%s)' % [std.join(', ', cfg.replicaLabels), expr],
  local m(name) = '%s{%s}' % [name, sel],
  local withLabel(name, matcher) = '%s{%s}' % [name, std.join(', ', std.filter(function(s) s != '', [sel, matcher]))],
  local withLe(name, le) = withLabel(name, 'le="%s"' % le),
  // One replica per workspace for every series of a histogram: `expr` is computed per
  // replica (its groupings carry the replica labels, `by (workspace_id, ...)` here
  // meaning `by (workspace_id, ..., <replica labels>)`), and only the replica with the
  // most observations in the window (`key`, per replica: the +Inf bucket's or _count's
  // rate or increase) is kept; ties go to one of them (topk), never to a mix. So a
  // quantile, a bucket band or a mean never mixes buckets of replicas scraped at
  // different phases, and a lagging or restarting replica is not the one read.
  local replicas = std.join(', ', cfg.replicaLabels),
  local perReplica(expr) = std.strReplace(expr, 'by (workspace_id', 'by (workspace_id, %s' % replicas),
  local oneReplica(expr, key) =
    'max without (%(r)s) (\n  %(e)s\n  and on (workspace_id, %(r)s)\n  topk by (workspace_id) (1, sum by (workspace_id, %(r)s) (%(k)s))\n)' % {
      r: replicas, e: perReplica(expr), k: key,
    },
  // The expressions below are written per workspace; scoped() makes every grouping
  // and join keep the platform labels: `by (x)` and `on (x)` become
  // `by (cluster, job, x)` and `on (cluster, job, x)`, and `sum(` sums per platform.
  local scope = std.join(', ', [cfg.clusterLabel, 'job']),
  local scoped(expr) =
    std.strReplace(std.strReplace(std.strReplace(expr, ' by (', ' by (%s, ' % scope), ' on (', ' on (%s, ' % scope), 'sum(', 'sum by (%s) (' % scope),
  local rule(record, expr, labels={}) = { record: record, expr: scoped(expr) } + (if labels == {} then {} else { labels: labels }),
  local latencies = [
    { name: 'queue_wait', metric: 'agent_run_queue_wait_seconds' },
    { name: 'duration', metric: 'agent_run_duration_seconds' },
    { name: 'end_to_end', metric: 'agent_run_end_to_end_seconds' },
  ],
  local quantiles = ['0.5', '0.75', '0.9', '0.95', '0.99'],
  // The spec's latency distribution; each bound is a bucket boundary.
  local distribution = [
    { bucket: '0-1s', lo: null, hi: '1' },
    { bucket: '1-5s', lo: '1', hi: '5' },
    { bucket: '5-10s', lo: '5', hi: '10' },
    { bucket: '10-30s', lo: '10', hi: '30' },
    { bucket: '30-60s', lo: '30', hi: '60' },
    { bucket: '60s+', lo: '60', hi: '+Inf' },
  ],
  local bucketIncrease(le) = 'sum by (workspace_id) (increase(%s[1h]))' % withLe('agent_run_duration_seconds_bucket', le),
  local baselineOffsets = ['6d23h30m', '23h30m'],
  local baseline(expr) =
    // Same time last week, else same time yesterday: an hour centred on that moment.
    '(%s)' % std.join(' or ', ['avg_over_time(%s[1h] offset %s)' % [expr, o] for o in baselineOffsets]),
  // A ratio's baseline: numerator and denominator averaged over the same hour (the
  // same runs), last week's hour else yesterday's, never a mix of the two.
  local baselineRatio(num, den) =
    '(%s)' % std.join('\n  or\n', [
      '(%s / (avg_over_time(%s[1h] offset %s) > 0))' % [num % o, den, o]
      for o in baselineOffsets
    ]),
  // Seconds of a Prometheus duration such as '5m' or '1h30m'.
  local seconds(d) =
    local units = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    local step(acc, c) =
      if std.objectHas(units, c) then { total: acc.total + std.parseInt(acc.num) * units[c], num: '' }
      else { total: acc.total, num: acc.num + c };
    std.foldl(step, std.stringChars(d), { total: 0, num: '' }).total,

  // The platform-wide version of a per-workspace rule: the same level without workspace
  // (`workspace_status:x` -> `status:x`, `workspace:x` -> `:x`), summed over the
  // workspaces. The dashboards read these when $workspace is All instead of summing
  // thousands of per-workspace series at query time.
  local platformName(record) =
    local parts = std.split(record, ':');
    local level = std.strReplace(std.strReplace(parts[0], 'workspace_', ''), 'workspace', '');
    std.join(':', [level] + parts[1:]),
  local platform(record) =
    local level = std.split(platformName(record), ':')[0];
    rule(platformName(record), if level == '' then 'sum(%s)' % record else 'sum by (%s) (%s)' % [std.strReplace(level, '_', ', '), record]),

  // The dashboards' rankings, pre-capped (grafana/lib.libsonnet, topWorkspaces,
  // topAgents and topRuns read these with $workspace = All): one topk per rule interval
  // instead of one per panel, step and dashboard load over thousands of workspaces or
  // agents. Each keeps at most the configured cap per platform (topk by clusterLabel and
  // job; a dashboard over several platforms re-ranks their union, which holds the global
  // top) and carries the display name (workspace_name, agent_name) the panel shows, so
  // the panel reads a few series and joins nothing. `_top_workspaces` / `_top_agents` /
  // `_top_runs`: the rule's value for the top workspaces (agents, runs) only.
  local topBy(n, expr) = 'topk by (%s) (%d, %s)' % [scope, n, expr],
  local wsNames = 'max by (%s, workspace_id, workspace_name) (%s)' % [scope, dedup(m('agent_workspace_info'))],
  local agentNames = 'max by (%s, workspace_id, agent_id, agent_name) (%s)' % [scope, dedup(m('agent_info'))],
  // The top cfg.dashboardTopWorkspaces workspaces by `by` (default: the rule itself), with
  // workspace_name; perLabel (e.g. quantile) ranks each value of that label apart; byAbs
  // ranks by the absolute value (changes either way). `expr`: the expression whose
  // values are kept, when the source is not a rule (record then names the rule).
  local topWorkspacesRule(source, by='', perLabel='', byAbs=false, expr='') =
    local n = cfg.dashboardTopWorkspaces;
    local e = if expr == '' then source else expr;
    local key = if by == '' then e else by;
    local ranked =
      if perLabel != '' then 'topk by (%s, %s) (%d, %s)' % [scope, perLabel, n, e]
      else if by == '' && !byAbs then topBy(n, e)
      else '%s\n  and on (%s, workspace_id) %s' % [e, scope, topBy(n, if byAbs then 'abs(%s)' % key else key)];
    {
      record: source + '_top_workspaces',
      expr: '(%s)\n  * on (%s, workspace_id) group_left (workspace_name) %s' % [ranked, scope, wsNames],
    },
  // Values of a per-agent rule for the agents of the ranking rule below (and its agent_name).
  local topAgentsRanking = 'workspace_agent:agent_runs_finished:increase1d_top_agents',
  local topAgentsRule(source) = {
    record: source + '_top_agents',
    expr: '%s\n  * on (%s, workspace_id, agent_id) group_left (agent_name) group by (%s, workspace_id, agent_id, agent_name) (%s)' % [
      source, scope, scope, topAgentsRanking],
  },

  prometheusRules+:: {
    groups+: [
      {
        name: 'agent_execution_throughput',
        rules: [
          rule('workspace_agent_status:agent_runs_finished:rate5m',
               'sum by (workspace_id, agent_id, status) (%s)' % dedup('rate(%s[5m])' % m('agent_runs_finished_total'))),
          rule('workspace_status:agent_runs_finished:rate5m',
               'sum by (workspace_id, status) (workspace_agent_status:agent_runs_finished:rate5m)'),
          rule('workspace:agent_runs_finished:rate5m', 'sum by (workspace_id) (workspace_status:agent_runs_finished:rate5m)'),
          rule(':agent_runs_finished:rate5m', 'sum(workspace:agent_runs_finished:rate5m)'),
          rule('workspace:agent_runs_finished:rate1m',
               'sum by (workspace_id) (%s)' % dedup('rate(%s[1m])' % m('agent_runs_finished_total'))),
          rule('workspace_status:agent_runs_finished:rate10m',
               'sum by (workspace_id, status) (%s)' % dedup('rate(%s[10m])' % m('agent_runs_finished_total'))),
          rule('workspace:agent_executions_per_minute:rate5m', 'workspace:agent_runs_finished:rate5m * 60'),
          rule(':agent_executions_per_minute:rate5m', ':agent_runs_finished:rate5m * 60'),
          topWorkspacesRule('workspace:agent_executions_per_minute:rate5m'),
          topWorkspacesRule('workspace:agent_runs_finished:rate5m'),
          // The exporter's day-anchored counters (runs finished since 00:00 UTC) summed.
          rule('workspace:agent_runs_finished_total:sum', 'sum by (workspace_id) (%s)' % dedup(m('agent_runs_finished_total'))),
          platform('workspace:agent_runs_finished_total:sum'),
          rule('workspace_status:agent_runs_finished:increase1h',
               'sum by (workspace_id, status) (%s)' % dedup('increase(%s[1h])' % m('agent_runs_finished_total'))),
          rule('workspace:agent_runs_finished:increase1h', 'sum by (workspace_id) (workspace_status:agent_runs_finished:increase1h)'),
          rule('workspace:agent_runs_finished:increase1d',
               'sum by (workspace_id) (%s)' % dedup('increase(%s[1d])' % m('agent_runs_finished_total'))),
          rule('workspace:agent_runs_finished:peak_rate5m_1d', 'max_over_time(workspace:agent_runs_finished:rate5m[1d])'),
          rule(':agent_runs_finished:peak_rate5m_1d', 'max_over_time(:agent_runs_finished:rate5m[1d])'),
          platform('workspace_status:agent_runs_finished:rate5m'),
          platform('workspace_status:agent_runs_finished:increase1h'),
          platform('workspace:agent_runs_finished:increase1h'),
          platform('workspace:agent_runs_finished:increase1d'),
        ],
      },
      {
        name: 'agent_execution_outcomes',
        rules: [
          rule('workspace:agent_runs_%s:ratio_rate5m' % o.name,
               'sum by (workspace_id) (workspace_status:agent_runs_finished:rate5m{status="%s"}) / (workspace:agent_runs_finished:rate5m > 0)' % o.status)
          for o in [{ name: 'success', status: 'completed' }, { name: 'failure', status: 'failed' }, { name: 'cancellation', status: 'cancelled' }]
        ] + [
          rule(':agent_runs_success:ratio_rate5m',
               'sum(workspace_status:agent_runs_finished:rate5m{status="completed"}) / (:agent_runs_finished:rate5m > 0)'),
          rule('workspace:agent_runs_failure:ratio_rate10m',
               'sum by (workspace_id) (workspace_status:agent_runs_finished:rate10m{status="failed"}) / (sum by (workspace_id) (workspace_status:agent_runs_finished:rate10m) > 0)'),
          rule('workspace:agent_runs_success:ratio_1h',
               'sum by (workspace_id) (workspace_status:agent_runs_finished:increase1h{status="completed"}) / (workspace:agent_runs_finished:increase1h > 0)'),
          rule('workspace_agent:agent_runs_finished:rate5m',
               'sum by (workspace_id, agent_id) (workspace_agent_status:agent_runs_finished:rate5m)'),
          rule('workspace_agent:agent_runs_success:ratio_rate5m',
               'sum by (workspace_id, agent_id) (workspace_agent_status:agent_runs_finished:rate5m{status="completed"}) / (workspace_agent:agent_runs_finished:rate5m > 0)'),
          rule('workspace_agent:agent_runs_error:ratio_rate5m',
               'sum by (workspace_id, agent_id) (workspace_agent_status:agent_runs_finished:rate5m{status="failed"}) / (workspace_agent:agent_runs_finished:rate5m > 0)'),
          // agent_run_runtime_seconds_total sums the runtime of every run that started,
          // cancelled ones included: its average divides by the runs that have a
          // runtime, i.e. the runs the duration histogram counts. Per agent that count
          // exists with --collector.runs.agent-histograms; without it, completed + failed
          // + the agent's share of its workspace's cancelled-after-start runs.
          // That share is a difference of two rates over a third, small one, so all three
          // come from ONE replica (oneReplica): within one scrape they share timestamps
          // and Prometheus' extrapolation cancels, where a max per series mixed replicas
          // scraped at different phases and turned 1 % of extrapolation into tens of %
          // (seen: 0.61 against 1 for the same runs; alerts/tests/ha_cancelled_ratio_test.yml).
          rule('workspace:agent_runs_cancelled_after_start:ratio_rate5m',
               'clamp(\n  %s,\n  0, 1)' % oneReplica(
                 '(sum by (workspace_id) (rate(%s[5m]))\n    - sum by (workspace_id) (rate(%s[5m])))\n  / (sum by (workspace_id) (rate(%s[5m])) > 0)' % [
                   m('agent_run_duration_seconds_count'),
                   withLabel('agent_runs_finished_total', 'status=~"completed|failed"'),
                   withLabel('agent_runs_finished_total', 'status="cancelled"'),
                 ],
                 'rate(%s[5m])' % m('agent_run_duration_seconds_count'))),
          rule('workspace_agent:agent_runs_with_runtime:rate5m',
               'sum by (workspace_id, agent_id) (%s)\nor\n%s' % [
                 dedup('rate(%s[5m])' % withLabel('agent_run_duration_seconds_count', 'agent_id!=""')),
                 '(\n  sum by (workspace_id, agent_id) (workspace_agent_status:agent_runs_finished:rate5m{status=~"completed|failed"})\n  + on (workspace_id, agent_id)\n  sum by (workspace_id, agent_id) (workspace_agent_status:agent_runs_finished:rate5m{status="cancelled"})\n    * on (workspace_id) group_left ()\n    (workspace:agent_runs_cancelled_after_start:ratio_rate5m or on (workspace_id) (workspace:agent_runs_finished:rate5m * 0))\n)',
               ]),
          rule('workspace_agent:agent_run_runtime_seconds:avg_rate5m',
               'sum by (workspace_id, agent_id) (%s)\n  / on (workspace_id, agent_id) (workspace_agent:agent_runs_with_runtime:rate5m > 0)' % dedup('rate(%s[5m])' % m('agent_run_runtime_seconds_total'))),
          rule('workspace_agent:agent_runs_finished:increase1d',
               'sum by (workspace_id, agent_id) (%s)' % dedup('increase(%s[1d])' % m('agent_runs_finished_total'))),
          // The overview's Performance by agent: the busiest cfg.dashboardTopAgents agents
          // by runs in the last 24 hours, then each column's rule for those agents (read
          // after the ranking in the same evaluation, so every column has the same rows).
          {
            record: topAgentsRanking,
            expr: '(%s)\n  * on (%s, workspace_id, agent_id) group_left (agent_name) %s' % [
              topBy(cfg.dashboardTopAgents, 'workspace_agent:agent_runs_finished:increase1d'), scope, agentNames],
          },
        ] + [
          topAgentsRule(r)
          for r in [
            'workspace_agent:agent_runs_finished:rate5m',
            'workspace_agent:agent_runs_success:ratio_rate5m',
            'workspace_agent:agent_runs_error:ratio_rate5m',
            'workspace_agent:agent_run_runtime_seconds:avg_rate5m',
          ]
        ],
      },
      {
        name: 'agent_execution_latency',
        rules: std.flattenArrays([
          [
            rule('workspace_le:%s_bucket:rate5m' % l.metric,
                 oneReplica('sum by (workspace_id, le) (rate(%s[5m]))' % m(l.metric + '_bucket'),
                            'rate(%s[5m])' % withLe(l.metric + '_bucket', '+Inf'))),
            platform('workspace_le:%s_bucket:rate5m' % l.metric),
          ] + [
            rule('workspace:%s:avg_rate%s' % [l.metric, w],
                 oneReplica('sum by (workspace_id) (rate(%s[%s])) / (sum by (workspace_id) (rate(%s[%s])) > 0)' % [
                              m(l.metric + '_sum'), w, m(l.metric + '_count'), w],
                            'rate(%s[%s])' % [m(l.metric + '_count'), w]))
            for w in ['5m', '1h']
          ] + [
          ] + [
            rule('workspace_quantile:%s:rate5m' % l.metric,
                 'histogram_quantile(%s, workspace_le:%s_bucket:rate5m)' % [q, l.metric], { quantile: q })
            for q in quantiles
          ] + [
            rule('quantile:%s:rate5m' % l.metric, 'histogram_quantile(%s, le:%s_bucket:rate5m)' % [q, l.metric], { quantile: q })
            for q in quantiles
          ] + [
            // The platform-wide mean: each workspace's mean weighted by its observations.
            rule(':%s:avg_rate5m' % l.metric,
                 'sum(workspace:%(m)s:avg_rate5m * on (workspace_id) workspace_le:%(m)s_bucket:rate5m{le="+Inf"})\n  / (sum(workspace_le:%(m)s_bucket:rate5m{le="+Inf"}) > 0)' % { m: l.metric }),
          ]
          for l in latencies
        ]) + [
          // Each band is a difference of two buckets of one replica (the one with the
          // most runs in the hour), never of two maxima that may come from two replicas.
          rule('workspace_bucket:agent_run_duration_seconds:increase1h',
               oneReplica(if d.lo == null then bucketIncrease(d.hi)
                          else '%s - %s' % [bucketIncrease(d.hi), bucketIncrease(d.lo)],
                          'increase(%s[1h])' % withLe('agent_run_duration_seconds_bucket', '+Inf')),
               { bucket: d.bucket })
          for d in distribution
        ] + [
          platform('workspace_bucket:agent_run_duration_seconds:increase1h'),
          rule('workspace_bucket:agent_run_duration_seconds:ratio1h',
               'workspace_bucket:agent_run_duration_seconds:increase1h / ignoring (bucket) group_left () (sum by (workspace_id) (workspace_bucket:agent_run_duration_seconds:increase1h) > 0)'),
          // The longest run finished in the window, as the upper bound of its bucket
          // (3600 for anything longer): histogram_quantile(1) returns exactly that bound.
          rule('workspace:agent_run_duration_seconds:max5m',
               'histogram_quantile(1, workspace_le:agent_run_duration_seconds_bucket:rate5m)\n  and on (workspace_id) (workspace_le:agent_run_duration_seconds_bucket:rate5m{le="+Inf"} > 0)'),
          rule('workspace:agent_run_duration_seconds:max%s' % cfg.stuckTailWindow,
               'max_over_time(workspace:agent_run_duration_seconds:max5m[%s])' % cfg.stuckTailWindow),
          // The latency dashboard's per-workspace lines (each quantile ranked apart).
          topWorkspacesRule('workspace_quantile:agent_run_duration_seconds:rate5m', perLabel='quantile'),
          topWorkspacesRule('workspace_quantile:agent_run_queue_wait_seconds:rate5m', perLabel='quantile'),
          topWorkspacesRule('workspace:agent_run_end_to_end_seconds:avg_rate1h'),
        ],
      },
      {
        // Model call latency per workspace and model, each workspace's buckets, _sum
        // and _count from one replica (the one with the most calls), like the run
        // histograms; the platform-wide rules sum the workspaces. The resources
        // dashboard reads these instead of a max per bucket over raw series.
        name: 'agent_execution_models',
        local metric = 'agent_model_call_duration_seconds',
        local calls = 'rate(%s[5m])' % m(metric + '_count'),
        rules: [
          rule('workspace_model_le:%s_bucket:rate5m' % metric,
               oneReplica('sum by (workspace_id, model, le) (rate(%s[5m]))' % m(metric + '_bucket'), calls)),
          platform('workspace_model_le:%s_bucket:rate5m' % metric),
          rule('workspace_model:%s_sum:rate5m' % metric,
               oneReplica('sum by (workspace_id, model) (rate(%s[5m]))' % m(metric + '_sum'), calls)),
          platform('workspace_model:%s_sum:rate5m' % metric),
          // Mean latency: seconds over calls, both from the same replica's window.
          rule('workspace_model:%s:avg_rate5m' % metric,
               oneReplica('sum by (workspace_id, model) (rate(%s[5m])) / (sum by (workspace_id, model) (rate(%s[5m])) > 0)' % [
                            m(metric + '_sum'), m(metric + '_count')], calls)),
          rule('model:%s:avg_rate5m' % metric,
               'sum by (model) (model:%(m)s_sum:rate5m)\n  / on (model) (sum by (model) (model_le:%(m)s_bucket:rate5m{le="+Inf"}) > 0)' % { m: metric }),
          // Calls, tokens and cost per second (5m rates) per workspace and model (tokens
          // also per type), and platform-wide per model: the resources dashboard's rates.
          rule('workspace_model:agent_model_calls:rate5m',
               'sum by (workspace_id, model) (%s)' % dedup('rate(%s[5m])' % m('agent_model_calls_total'))),
          platform('workspace_model:agent_model_calls:rate5m'),
          rule('workspace_model_type:agent_model_tokens:rate5m',
               'sum by (workspace_id, model, type) (%s)' % dedup('rate(%s[5m])' % m('agent_model_tokens_total'))),
          platform('workspace_model_type:agent_model_tokens:rate5m'),
          rule('workspace_model:agent_model_cost_dollars:rate5m',
               'sum by (workspace_id, model) (%s)' % dedup('rate(%s[5m])' % m('agent_model_cost_dollars_total'))),
          platform('workspace_model:agent_model_cost_dollars:rate5m'),
          rule('workspace:agent_model_cost_dollars:rate5m', 'sum by (workspace_id) (workspace_model:agent_model_cost_dollars:rate5m)'),
          topWorkspacesRule('workspace:agent_model_cost_dollars:rate5m'),
        ],
      },
      {
        // The execution patterns (a day's figures, refreshed once a day) summed over the
        // workspaces, for the patterns dashboard with All: 24 series an hour profile
        // instead of 24 per workspace at query time. The hourly success ratio and mean
        // latency are weighted by each workspace's runs of that hour.
        name: 'agent_execution_patterns',
        local hourly = dedup(m('agent_executions_hour_of_day_average')),
        local dailyAverage = 'max by (%s, workspace_id) (%s)' % [scope, dedup(m('agent_executions_daily_average'))],
        rules: [
          rule('hour:agent_executions_hour_of_day_average:sum', 'sum by (hour) (%s)' % hourly),
        ] + [
          rule('hour:%s:weighted_avg' % metric,
               'sum by (hour) (%s * on (workspace_id, hour) %s)\n  / (sum by (hour) (%s) > 0)' % [dedup(m(metric)), hourly, hourly])
          for metric in ['agent_executions_hour_of_day_success_ratio', 'agent_executions_hour_of_day_latency_seconds_avg']
        ] + [
          rule(':%s:sum' % metric, 'sum(%s)' % dedup(m(metric)))
          for metric in ['agent_executions_daily_average', 'agent_executions_weekday_average', 'agent_executions_weekend_average']
        ] + [
          // The patterns dashboard's Peak hours and Quiet hours with All: the rows (rank,
          // hour) of the busiest workspaces by runs per day, ranked here once per
          // evaluation instead of over every workspace per load.
          topWorkspacesRule('workspace:agent_executions_daily_average:max', expr=dailyAverage),
        ] + [
          topWorkspacesRule('workspace_rank:%s:max' % metric, expr=dedup(m(metric)),
                            by=dailyAverage)
          for metric in ['agent_executions_peak_hour', 'agent_executions_quiet_hour']
        ],
      },
      {
        name: 'agent_execution_realtime',
        rules: [
          rule('workspace:agent_runs_running:sum', 'sum by (workspace_id) (%s)' % dedup(m('agent_runs_running'))),
          rule('workspace:agent_queue_depth:sum', 'sum by (workspace_id) (%s)' % dedup(m('agent_queue_depth'))),
          rule('workspace:agent_queue_wait_seconds_avg:max', 'max by (workspace_id) (%s)' % dedup(m('agent_queue_wait_seconds_avg'))),
          rule('workspace:agent_queue_oldest_age_seconds:max', 'max by (workspace_id) (%s)' % dedup(m('agent_queue_oldest_age_seconds'))),
          rule('workspace:agent_runs_overdue:sum', 'sum by (workspace_id) (%s)' % dedup(m('agent_runs_overdue'))),
          // Stuck runs (AgentRunsStuck), one series per run with its elapsed seconds:
          // past stuckFactor x its estimate for the whole stuckWindow (elapsed grows one
          // second a second, so this is the same run the whole time), and longer than
          // stuckTailFactor x the longest run the workspace finished in the last
          // stuckTailWindow (0 when it finished none).
          rule('workspace_agent_run:agent_run_elapsed_seconds:stuck',
               '%(elapsed)s\n  >= on (workspace_id, agent_id, run_id)\n    (%(factor)g * %(estimate)s + %(window)d)\n  >= on (workspace_id) group_left ()\n    (%(tail)g * (workspace:agent_run_duration_seconds:max%(tailWindow)s or on (workspace_id) (workspace:agent_runs_running:sum * 0)))' % {
                 elapsed: dedup(m('agent_run_elapsed_seconds')),
                 estimate: dedup(m('agent_run_estimated_runtime_seconds')),
                 factor: cfg.stuckFactor,
                 window: seconds(cfg.stuckWindow),
                 tail: cfg.stuckTailFactor,
                 tailWindow: cfg.stuckTailWindow,
               }),
          platform('workspace:agent_runs_running:sum'),
          platform('workspace:agent_queue_depth:sum'),
          platform('workspace:agent_runs_overdue:sum'),
          // Mean age of the waiting runs over the platform, weighted by queue depth;
          // absent when nothing waits.
          rule(':agent_queue_wait_seconds_avg:weighted_avg',
               'sum(workspace:agent_queue_wait_seconds_avg:max * on (workspace_id) workspace:agent_queue_depth:sum)\n  / (:agent_queue_depth:sum > 0)'),
          // Stuck runs over the platform (absent when none).
          rule(':agent_runs_stuck:count', 'sum(count by (workspace_id) (workspace_agent_run:agent_run_elapsed_seconds:stuck))'),
          // The latency dashboard's runs waiting now: the workspaces with the oldest
          // waiting run, their oldest and their mean wait.
          topWorkspacesRule('workspace:agent_queue_oldest_age_seconds:max'),
          topWorkspacesRule('workspace:agent_queue_wait_seconds_avg:max', by='workspace:agent_queue_oldest_age_seconds:max'),
          // The overview's live executions with All: the cfg.dashboardTopRuns longest
          // running runs (of the N per workspace the exporter lists), with agent_name, and
          // the estimates of those runs.
          {
            record: 'workspace_agent_run:agent_run_elapsed_seconds:max_top_runs',
            expr: '(%s)\n  * on (%s, workspace_id, agent_id) group_left (agent_name) %s' % [
              topBy(cfg.dashboardTopRuns, 'max by (%s, workspace_id, agent_id, run_id) (%s)' % [scope, dedup(m('agent_run_elapsed_seconds'))]),
              scope, agentNames],
          },
          {
            record: 'workspace_agent_run:agent_run_estimated_runtime_seconds:max_top_runs',
            expr: 'max by (%(s)s, workspace_id, agent_id, run_id) (%(e)s)\n  * on (%(s)s, workspace_id, agent_id, run_id) group_left (agent_name)\n    group by (%(s)s, workspace_id, agent_id, run_id, agent_name) (workspace_agent_run:agent_run_elapsed_seconds:max_top_runs)' % {
              s: scope, e: dedup(m('agent_run_estimated_runtime_seconds')) },
          },
          rule(':agent_worker_slots:sum', 'sum(%s)' % dedup(m('agent_worker_slots'))),
          rule(':agent_capacity_utilisation:ratio', ':agent_runs_running:sum / (:agent_worker_slots:sum > 0)'),
          rule(':agent_capacity_utilisation:peak_1d', 'max_over_time(:agent_capacity_utilisation:ratio[1d])'),
        ],
      },
      {
        name: 'agent_execution_comparison',
        rules: [
          rule('workspace:agent_runs_finished:increase1h_change_ratio',
               '(workspace:agent_runs_finished:increase1h - workspace:agent_runs_finished:increase1h offset 1h) / (workspace:agent_runs_finished:increase1h offset 1h > 0)'),
          rule('workspace:agent_runs_success:ratio_1h_change',
               'workspace:agent_runs_success:ratio_1h - workspace:agent_runs_success:ratio_1h offset 1h'),
          rule('workspace:agent_run_duration_seconds:avg_rate1h_change_ratio',
               '(workspace:agent_run_duration_seconds:avg_rate1h - workspace:agent_run_duration_seconds:avg_rate1h offset 1h) / (workspace:agent_run_duration_seconds:avg_rate1h offset 1h > 0)'),
          rule('workspace:agent_runs_finished:increase1d_change_ratio_1w',
               '(workspace:agent_runs_finished:increase1d - workspace:agent_runs_finished:increase1d offset 1w) / (workspace:agent_runs_finished:increase1d offset 1w > 0)'),
        ] + [
          // The patterns dashboard's comparisons with All: the largest changes either way.
          topWorkspacesRule(r, byAbs=true)
          for r in [
            'workspace:agent_runs_finished:increase1h_change_ratio',
            'workspace:agent_runs_success:ratio_1h_change',
            'workspace:agent_run_duration_seconds:avg_rate1h_change_ratio',
            'workspace:agent_runs_finished:increase1d_change_ratio_1w',
          ]
        ],
      },
      {
        name: 'agent_execution_baselines',
        rules: [
          rule('workspace:agent_runs_finished:rate5m_baseline', baseline('workspace:agent_runs_finished:rate5m')),
          rule('workspace:agent_runs_failure:ratio_baseline',
               baselineRatio('sum by (workspace_id) (avg_over_time(workspace_status:agent_runs_finished:rate5m{status="failed"}[1h] offset %s))',
                             'workspace:agent_runs_finished:rate5m')),
          // Sizes of the anomalies against their baselines (the alerts' grades).
          // Spike and drop: the rate against the baseline rate (a workspace without a
          // run in 5 minutes is at 0), the baseline taken as at least the minimum volume.
          rule('workspace:agent_runs_finished:baseline_ratio',
               '(workspace:agent_runs_finished:rate5m or on (workspace_id) (workspace:agent_runs_finished:rate5m_baseline * 0))\n  / on (workspace_id) clamp_min(workspace:agent_runs_finished:rate5m_baseline, %g)' % (cfg.minRunsPer5m / 300)),
          // Failure surge: the 10-minute failure ratio against the baseline failure
          // ratio, taken as at least failureRatioFloor / failureSurgeFactor (and as that
          // when there is no baseline yet).
          rule('workspace:agent_runs_failure:baseline_ratio',
               'workspace:agent_runs_failure:ratio_rate10m\n  / on (workspace_id) clamp_min(workspace:agent_runs_failure:ratio_baseline or on (workspace_id) (workspace:agent_runs_failure:ratio_rate10m * 0), %g / %g)' % [cfg.failureRatioFloor, cfg.failureSurgeFactor]),
          // Only once a whole hour of history exists: on a fresh Prometheus the first
          // minutes' partial rates would make any load look like a burst.
          rule('workspace:agent_runs_finished:burst_ratio',
               '(workspace:agent_runs_finished:rate1m / clamp_min(avg_over_time(workspace:agent_runs_finished:rate5m[1h] offset 10m), %g)) and on (workspace_id) (workspace:agent_runs_finished:rate5m offset 70m)' % (cfg.burstMinRunsPerMinute / 60 / 2)),
          // The patterns dashboard's Executions against their anomaly baseline with All:
          // the baseline and burst ratio of the busiest workspaces by 5m rate.
          topWorkspacesRule('workspace:agent_runs_finished:rate5m_baseline', by='workspace:agent_runs_finished:rate5m'),
          topWorkspacesRule('workspace:agent_runs_finished:burst_ratio', by='workspace:agent_runs_finished:rate5m'),
        ],
      },
    ],
  },
}
