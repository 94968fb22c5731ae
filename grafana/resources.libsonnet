// Resources: compute (workers), model usage and cost, database load, exporter health.
// A function of the mixin's _config (grafana/dashboards.libsonnet).
function(config)
local g = (import 'lib.libsonnet')(config);
local W = g.W;
local t = g.target;

local P = g.Wpool;
local rateOf(metric, matchers, by, window='$__rate_interval') =
  'sum by (%s) (%s)' % [by, g.dedup('rate(%s{%s}[%s])' % [metric, g.sel(matchers), window])];
local increaseOf(metric, matchers, by) =
  'sum by (%s) (%s)' % [by, g.dedup('increase(%s{%s}[$__range])' % [metric, g.sel(matchers), ])];
// agg of a per-workspace recording rule averaged over the selected range.
local rangeAgg(agg, rule, extra=[]) = g.wsAgg(agg, rule, extra, window='$__range');
// Model call latency: the recording rules take each workspace's buckets and _sum from
// one replica (alerts/rules.libsonnet, agent_execution_models).
local modelBuckets = 'workspace_model_le:agent_model_call_duration_seconds_bucket:rate5m';
local modelSeconds = 'workspace_model:agent_model_call_duration_seconds_sum:rate5m';
local poolGauge(metric, fn='max') = g.poolLabel('%s by (workspace_id) (%s)' % [fn, g.raw(metric, [P])]);
local gpuReason = 'no live worker reports gpu_percent';
local statementsReason = 'pg_stat_statements is not installed in the platform database (the family is absent, not zero)';

g.dashboard('resources', 'Resources behind agent executions: worker compute, model calls, tokens and cost, database load, and the health of the exporter itself.', [
  // ------------------------------------------------------------- compute (y 0)
  g.timeseries('Workers by state', 'Workers of the selected workspaces\' pools and the shared pool by state; a worker with a stale heartbeat counts as offline (realtime.systemLoad.workers). Dashed: run slots of the live workers; dotted: runs running.',
               [
                 t('sum by (state) (%s)' % g.raw('agent_workers', [P]), '{{state}}'),
                 t('sum(%s)' % g.raw('agent_worker_slots', [P]), 'slots'),
                 t(':agent_runs_running:sum{%s}' % g.P, 'runs running (all workspaces)'),
               ],
               g.pos(0, 0, 12, 8), stack=false) {
    fieldConfig+: { overrides: [
      g.overrideName('busy', { color: { mode: 'fixed', fixedColor: 'green' } }),
      g.overrideName('idle', { color: { mode: 'fixed', fixedColor: 'blue' } }),
      g.overrideName('offline', { color: { mode: 'fixed', fixedColor: 'red' } }),
      g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] }, color: { mode: 'fixed', fixedColor: 'text' } }),
      g.overrideQuery('C', { 'custom.lineStyle': { fill: 'dot', dash: [0, 10] }, color: { mode: 'fixed', fixedColor: 'purple' } }),
    ] },
  },
  g.timeseries('Capacity utilisation', 'Running runs / run slots of the live workers (all pools) and its 24h peak (throughput.capacityUtilization). AgentCapacitySaturated fires above 90 % for 15 minutes.',
               [
                 t(':agent_capacity_utilisation:ratio{%s}' % g.P, 'utilisation'),
                 t(':agent_capacity_utilisation:peak_1d{%s}' % g.P, 'peak (24h)'),
               ],
               g.pos(12, 0, 12, 8), unit='percentunit', min=0) {
    fieldConfig+: { defaults+: { custom+: { thresholdsStyle: { mode: 'line+area' } }, thresholds: g.thresholds(['transparent', 0.9, 'red']) } },
  },
  g.timeseries('Worker CPU', 'Mean (solid) and highest (dashed) CPU usage of the live workers per pool (resources.compute.cpuUsage, realtime.systemLoad.cpu).',
               [t(poolGauge('agent_worker_cpu_usage_ratio_avg'), 'avg {{pool}}'), t(poolGauge('agent_worker_cpu_usage_ratio_max'), 'max {{pool}}')],
               g.pos(0, 8, 8, 8), unit='percentunit', min=0, max=1) {
    fieldConfig+: { overrides: [g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } })] },
  },
  g.timeseries('Worker memory', 'Mean (solid) and highest (dashed) memory usage of the live workers per pool (resources.compute.memoryUsage, realtime.systemLoad.memory).',
               [t(poolGauge('agent_worker_memory_usage_ratio_avg'), 'avg {{pool}}'), t(poolGauge('agent_worker_memory_usage_ratio_max'), 'max {{pool}}')],
               g.pos(8, 8, 8, 8), unit='percentunit', min=0, max=1) {
    fieldConfig+: { overrides: [g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } })] },
  },
  g.timeseries('Worker GPU', 'Mean (solid) and highest (dashed) GPU usage of the live workers reporting one, per pool (resources.compute.gpuUsage; absent when no worker has a GPU).',
               [
                 t(g.allowEmpty(poolGauge('agent_worker_gpu_usage_ratio_avg'), 'optional', gpuReason), 'avg {{pool}}'),
                 t(g.allowEmpty(poolGauge('agent_worker_gpu_usage_ratio_max'), 'optional', gpuReason), 'max {{pool}}'),
               ],
               g.pos(16, 8, 8, 8), unit='percentunit', min=0, max=1) {
    fieldConfig+: { overrides: [g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } })] },
  },

  // ------------------------------------------------------------- model usage (y 16)
  g.table('Model usage in the selected range', 'Per model, over the selected workspaces and time range: calls, tokens (prompt + completion), cost, mean and p95 call latency (resources.modelUsage). The latency columns average the 5-minute rates of the recording rules over the range.',
          [
            t(increaseOf('agent_model_calls_total', [W], 'model'), format='table'),
            t(increaseOf('agent_model_tokens_total', [W], 'model'), format='table'),
            t(increaseOf('agent_model_cost_dollars_total', [W], 'model'), format='table'),
            t('%s\n  / (%s > 0)' % [rangeAgg('sum by (model)', modelSeconds), rangeAgg('sum by (model)', modelBuckets, ['le="+Inf"'])], format='table'),
            t('histogram_quantile(0.95, %s)' % rangeAgg('sum by (model, le)', modelBuckets), format='table'),
          ],
          g.pos(0, 16, 24, 7),
          [
            { name: 'model', title: 'Model' },
            { name: 'Value #A', title: 'Calls', decimals: 0 },
            { name: 'Value #B', title: 'Tokens', unit: 'short', decimals: 0 },
            { name: 'Value #C', title: 'Cost', unit: 'currencyUSD', decimals: 2 },
            { name: 'Value #D', title: 'Avg latency', unit: 's', decimals: 2 },
            { name: 'Value #E', title: 'p95 latency', unit: 's', decimals: 2 },
          ],
          sortBy='Cost'),
  g.timeseries('Model calls per second', 'Model calls per second (5m rate) by model over the selected workspaces.',
               [t(g.wsAgg('sum by (model)', 'workspace_model:agent_model_calls:rate5m'), '{{model}}')], g.pos(0, 23, 6, 8), unit='reqps', stack=true),
  g.timeseries('Tokens per second', 'Tokens per second (5m rate) by model and type (prompt, completion) over the selected workspaces.',
               [t(g.wsAgg('sum by (model, type)', 'workspace_model_type:agent_model_tokens:rate5m'), '{{model}} {{type}}')], g.pos(6, 23, 6, 8), unit='short', stack=true),
  g.timeseries('Model cost per hour', 'Spend rate in US dollars per hour (5m rate) by model over the selected workspaces.',
               [t('%s * 3600' % g.wsAgg('sum by (model)', 'workspace_model:agent_model_cost_dollars:rate5m'), '{{model}}')], g.pos(12, 23, 6, 8), unit='currencyUSD', stack=true),
  g.timeseries('Model call latency', 'p50 (solid) and p95 (dashed) model call latency by model over the selected workspaces (5-minute rates).',
               [
                 t('histogram_quantile(0.5, %s)' % g.wsAgg('sum by (model, le)', modelBuckets), 'p50 {{model}}'),
                 t('histogram_quantile(0.95, %s)' % g.wsAgg('sum by (model, le)', modelBuckets), 'p95 {{model}}'),
               ],
               g.pos(18, 23, 6, 8), unit='s') {
    fieldConfig+: { overrides: [g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } })] },
  },
  g.timeseries('Cost per workspace per hour', 'Spend rate in US dollars per hour (5m rate) by workspace.' + g.topNote,
               [t('%s * 3600' % g.topWorkspacesNamed('workspace:agent_model_cost_dollars:rate5m'), '{{workspace_name}}')],
               g.pos(0, 31, 12, 7), unit='currencyUSD', stack=true),
  g.stat('Model spend in the selected range', 'US dollars spent on model calls by the selected workspaces within the selected time range.',
         [t('sum(%s)' % increaseOf('agent_model_cost_dollars_total', [W], 'model'), 'cost')],
         g.pos(12, 31, 4, 7), unit='currencyUSD', decimals=2, thresholds=['text']),
  g.stat('Tokens in the selected range', 'Prompt and completion tokens of the selected workspaces within the selected time range.',
         [t(increaseOf('agent_model_tokens_total', [W], 'type'), '{{type}}')],
         g.pos(16, 31, 8, 7), unit='short', decimals=0, thresholds=['text'], textMode='value_and_name'),

  // ------------------------------------------------------------- database load (y 38)
  g.timeseries('Database connections', 'Client connections to the platform database by state (resources.databaseLoad.connections), against max_connections (dashed).',
               [
                 t('sum by (state) (%s)' % g.raw('agent_db_connections'), '{{state}}'),
                 t('max(%s)' % g.raw('agent_db_max_connections'), 'max_connections'),
               ],
               g.pos(0, 38, 8, 8), stack=false) {
    fieldConfig+: { overrides: [g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] }, color: { mode: 'fixed', fixedColor: 'red' } })] },
  },
  g.timeseries('Transactions per second', 'Committed and rolled back transactions per second in the platform database (resources.databaseLoad.queryRate), and statements per second when pg_stat_statements is installed.',
               [
                 t(rateOf('agent_db_transactions_total', [], 'result'), '{{result}}'),
                 t(g.allowEmpty('sum(%s)' % g.dedup('rate(agent_db_statement_calls_total{%s}[$__rate_interval])' % g.sel()), 'optional', statementsReason), 'statements'),
               ],
               g.pos(8, 38, 8, 8), unit='ops'),
  g.timeseries('Statement time', 'Mean statement execution time from pg_stat_statements: cumulative mean (solid) and over the rate window (dashed) (resources.databaseLoad.avgQueryTime). Dotted: the exporter\'s own mean cycle (query) time per collector.',
               [
                 t(g.allowEmpty('max(%s)' % g.raw('agent_db_statement_mean_seconds'), 'optional', statementsReason), 'mean (cumulative)'),
                 t(g.allowEmpty('sum(%s)\n  / (sum(%s) > 0)' % [g.dedup('rate(agent_db_statement_seconds_total{%s}[$__rate_interval])' % g.sel()), g.dedup('rate(agent_db_statement_calls_total{%s}[$__rate_interval])' % g.sel())], 'optional', statementsReason), 'mean (rate window)'),
                 t('max by (collector) (\n  rate(agent_exporter_collector_duration_seconds_total{%s}[$__rate_interval])\n  / (rate(agent_exporter_collector_cycles_total{%s}[$__rate_interval]) > 0))' % [g.sel(), g.sel()], 'exporter {{collector}}'),
               ],
               g.pos(16, 38, 8, 8), unit='s') {
    fieldConfig+: { overrides: [
      g.overrideQuery('B', { 'custom.lineStyle': { fill: 'dash', dash: [10, 10] } }),
      g.overrideQuery('C', { 'custom.lineStyle': { fill: 'dot', dash: [0, 10] } }),
    ] },
  },

  // ------------------------------------------------------------- exporter health (y 46)
  g.table('Exporter collectors', 'Per exporter instance and collector: up (last cycle succeeded), seconds since the last success, last cycle duration, configured interval, failed cycles in the selected range, and the share of wall time spent in database cycles (rate of agent_exporter_collector_duration_seconds_total). AgentExporterCollectorFailing fires when a collector stays down.',
          [
            t('max by (instance, collector) (agent_exporter_collector_up{%s})' % g.sel(), format='table'),
            t('time() - max by (instance, collector) (agent_exporter_collector_last_success_timestamp_seconds{%s} > 0)' % g.sel(), format='table'),
            t('max by (instance, collector) (agent_exporter_collector_duration_seconds{%s})' % g.sel(), format='table'),
            t('max by (instance, collector) (agent_exporter_collector_interval_seconds{%s})' % g.sel(), format='table'),
            t('sum by (instance, collector) (increase(agent_exporter_collector_errors_total{%s}[$__range]))' % g.sel(), format='table'),
            t('sum by (instance, collector) (rate(agent_exporter_collector_duration_seconds_total{%s}[$__rate_interval]))' % g.sel(), format='table'),
          ],
          g.pos(0, 46, 14, 8),
          [
            { name: 'instance', title: 'Instance' },
            { name: 'collector', title: 'Collector' },
            { name: 'Value #A', title: 'Up', mappings: [{ type: 'value', options: { '0': { text: 'down', color: 'red', index: 0 }, '1': { text: 'up', color: 'green', index: 1 } } }], cell: { type: 'color-background' } },
            { name: 'Value #B', title: 'Since last success', unit: 's', decimals: 1 },
            { name: 'Value #C', title: 'Cycle duration', unit: 's', decimals: 3 },
            { name: 'Value #D', title: 'Interval', unit: 's' },
            { name: 'Value #E', title: 'Errors (range)', decimals: 0, thresholds: ['green', 1, 'red'], cell: { type: 'color-text' } },
            { name: 'Value #F', title: 'DB time / s', unit: 'percentunit', decimals: 2 },
          ]),
  g.timeseries('Exporter scrape targets up', 'Prometheus scrape health of every exporter instance (1 = up). AgentExporterDown fires after 5 minutes at 0.',
               [t('max by (job, instance) (up{%s}) and on (job, instance) max by (job, instance) (last_over_time(agent_exporter_build_info{%s}[1h]))' % [g.sel(), g.sel()], '{{instance}}')],
               g.pos(14, 46, 10, 8), min=0, max=1),
  g.timeseries('Rows read and skipped', 'Rows the collectors read from the platform tables per second, by collector and scan, and inconsistent rows skipped per second by reason.',
               [
                 t('sum by (collector, scan) (rate(agent_exporter_rows_read_total{%s}[$__rate_interval]))' % g.sel(), '{{collector}} {{scan}}'),
                 t(g.allowEmpty('sum by (collector, reason) (rate(agent_exporter_rows_skipped_total{%s}[$__rate_interval])) > 0' % g.sel(), 'optional', 'no inconsistent row was skipped'), 'skipped {{collector}} {{reason}}'),
               ],
               g.pos(0, 54, 12, 8), unit='short'),
  g.timeseries('Exporter process', 'CPU seconds per second and resident memory (right axis) of each exporter instance.',
               [
                 t('rate(process_cpu_seconds_total{%s}[$__rate_interval]) and on (job, instance) agent_exporter_build_info{%s}' % [g.sel(), g.sel()], 'cpu {{instance}}'),
                 t('process_resident_memory_bytes{%s} and on (job, instance) agent_exporter_build_info{%s}' % [g.sel(), g.sel()], 'rss {{instance}}'),
               ],
               g.pos(12, 54, 12, 8), unit='short') {
    fieldConfig+: { overrides: [g.overrideQuery('B', { unit: 'bytes', 'custom.axisPlacement': 'right' })] },
  },
])
