// A small local panel library for the agent_execution_exporter dashboards (no
// grafonnet: only Debian's jsonnet is available). Everything here produces plain
// Grafana 10/11 dashboard JSON (schemaVersion 39, no Angular panel types).
//
// A function of the mixin's _config (alerts/config.libsonnet, overridable: docs/mixin.md):
//   local g = (import 'lib.libsonnet')(config);
//
// Conventions used by tests/e2e/check_dashboards.py:
//  - every panel and target uses the datasource variable ${datasource};
//  - every query is scoped by the $cluster and $job variables (P below), and every
//    selector of an exporter series also by $instance (sel below); recording rules
//    have no instance label: they are deduplicated across HA replicas;
//  - a target whose expression may legitimately return nothing carries a PromQL
//    comment line  "# allow-empty(<class>): <reason>"  (see docs/dashboards.md).
function(config) {
  config:: config,

  ds:: { type: 'prometheus', uid: '${datasource}' },

  // ---------------------------------------------------------------- PromQL helpers
  // The platform scope: the cluster and job variables (recording rules keep both labels).
  P:: '%s=~"$cluster", job=~"$job"' % config.clusterLabel,
  // Label matchers of an exporter series: the configurable selector, the platform scope,
  // the instance variable, plus the given matchers (each matcher once).
  sel(matchers=[])::
    local all = std.flattenArrays([
      std.split(std.strReplace(m, ', ', '\n'), '\n')
      for m in [config.selector, $.P, 'instance=~"$instance"'] + matchers
      if m != ''
    ]);
    std.join(', ', std.foldl(function(acc, m) if std.member(acc, m) then acc else acc + [m], all, [])),
  W:: $.P + ', workspace_id=~"$workspace"',
  // $workspace = All (its allValue .+) against a selection of workspaces: `job` is never
  // empty and never a workspace id, so job=~"$workspace" holds only with All and
  // job!~"$workspace" only with a selection. With All the panels read the platform-wide
  // rules (`:x`, `le:x`, `status:x`, ...) instead of summing thousands of per-workspace
  // series at query time; Prometheus resolves the gate from its index, so the branch not
  // taken reads nothing. tests/e2e/check_dashboards.py (lint) fails on any aggregation of
  // a per-workspace rule without the notAll gate.
  allOnly:: 'job=~"$workspace"',
  notAll:: 'job!~"$workspace"',
  // Mean of a latency histogram over the selected workspaces: the mean rule weighted by
  // the observation rate (the +Inf bucket), platform-wide with All.
  meanOf(metric)::
    $.weightedMean(':%s:avg_rate5m' % metric, 'le:%s_bucket:rate5m' % metric,
                   'workspace:%s:avg_rate5m' % metric, 'workspace_le:%s_bucket:rate5m' % metric, ['le="+Inf"']),
  // A mean over the selected workspaces weighted by another figure (gate): platform-wide
  // the platform rules (mean x weight summed over the platforms selected, over their
  // summed weight), per workspace the per-workspace rules. weightExtra: matchers of the
  // weight's selectors (the +Inf bucket of a histogram rule).
  weightedMean(platformMean, platformWeight, wsMean, wsWeight, weightExtra=[])::
    local w(scope) = std.join(', ', [scope] + weightExtra);
    local join = if std.length(weightExtra) > 0 then ' ignoring (le)' else '';
    $.gate(
      function(scope) '(sum(%s{%s} *%s %s{%s})\n  / (sum(%s{%s}) > 0))' % [platformMean, scope, join, platformWeight, w(scope), platformWeight, w(scope)],
      function(scope) '(sum(%s{%s} * on (workspace_id) %s{%s})\n  / (sum(%s{%s}) > 0))' % [wsMean, scope, wsWeight, w(scope), wsWeight, w(scope)],
    ),
  // The platform scope with All selected, and the selected workspaces otherwise.
  PA:: $.P + ', ' + $.allOnly,
  WS:: $.W + ', ' + $.notAll,
  // The platform-wide rule of a per-workspace one (alerts/rules.libsonnet, platform()).
  platformRule(rule)::
    local parts = std.split(rule, ':');
    std.join(':', [std.strReplace(std.strReplace(parts[0], 'workspace_', ''), 'workspace', '')] + parts[1:]),
  // The All/selection gate of one figure over the selected workspaces: platform(PA), the
  // platform-wide form read with All, or selected(WS), the per-workspace form read with a
  // selection. Each is a function of the label matchers to put in its selectors.
  gate(platform, selected):: '(%s or %s)' % [platform($.PA), selected($.WS)],
  // agg ('sum', 'sum by (hour)', ...) of either form (gate).
  gatedAgg(agg, platform, selected)::
    $.gate(function(scope) '%s(%s)' % [agg, platform(scope)], function(scope) '%s(%s)' % [agg, selected(scope)]),
  // agg ('sum', 'sum by (le)', ...) of a per-workspace rule over the selected workspaces:
  // its platform-wide rule with All, the per-workspace series otherwise. With window
  // ('$__range', ...) each series is first averaged over that window (avg_over_time).
  wsAgg(agg, rule, extra=[], offset='', window='')::
    local o = if offset == '' then '' else ' offset ' + offset;
    local series(name) = function(scope)
      local s = '%s{%s}' % [name, std.join(', ', [scope] + extra)];
      if window == '' then s + o else 'avg_over_time(%s[%s]%s)' % [s, window, o];
    $.gatedAgg(agg, series($.platformRule(rule)), series(rule)),
  // At most config.dashboardTopWorkspaces series of a per-workspace panel: the largest by
  // `by` (the expression itself unless given; topk keeps each series' labels).
  topWorkspaces(expr, by='')::
    if by == '' then 'topk(%d, %s)' % [config.dashboardTopWorkspaces, expr]
    else '(%s)\n  and on (workspace_id) topk(%d, %s)' % [expr, config.dashboardTopWorkspaces, by],
  // A per-workspace panel's series, with workspace_name, at most
  // config.dashboardTopWorkspaces: with All the rule's pre-capped form (rule +
  // '_top_workspaces', alerts/rules.libsonnet, which carries workspace_name), re-ranked
  // over the platforms selected; with a selection of workspaces the largest of those. `by`:
  // a per-workspace rule to rank by instead of the rule itself (its pre-capped form
  // restricts the rule's). rank: a format applied to the ranking key ('abs(%s)': the
  // largest changes either way; the rule's pre-capped form must rank the same way).
  topWorkspacesNamed(rule, extra=[], by='', rank='%s')::
    local s(scope, name) = '%s{%s}' % [name, std.join(', ', [scope] + extra)];
    local n = config.dashboardTopWorkspaces;
    local plain = by == '' && rank == '%s';
    $.gate(
      function(scope)
        if plain then 'topk(%d, %s)' % [n, s(scope, rule + '_top_workspaces')]
        else '%s\n  and on (workspace_id) topk(%d, %s)' % [
          s(scope, rule + '_top_workspaces'), n,
          rank % (if by == '' then s(scope, rule + '_top_workspaces') else '%s{%s}' % [by + '_top_workspaces', scope]),
        ],
      function(scope) $.withWorkspaceName($.topWorkspaces(s(scope, rule),
                                                          if plain then '' else rank % (if by == '' then s(scope, rule) else '%s{%s}' % [by, scope])), [scope]),
    ),
  // Appended to those panels' descriptions.
  topNote:: ' At most %d workspaces are drawn: the largest.' % config.dashboardTopWorkspaces,
  // A table with one row per agent (several joined targets): every target restricted to
  // the same at most config.dashboardTopAgents agents, the largest by `by`, so that the
  // rows of the join stay whole (a topk per target would pick other agents per column).
  topAgents(expr, by)::
    '(%s)\n  and on (workspace_id, agent_id) topk(%d, %s)' % [expr, config.dashboardTopAgents, by],
  A:: 'agent_id=~"$agent"',
  // The gate of a per-agent figure (it follows $agent too): platform(PAA), the pre-capped
  // rule, with All workspaces and All agents; selected(...) with a selection of workspaces,
  // or with All workspaces and a selection of agents (two branches: one selector cannot
  // say "either is a selection"). Each reads nothing unless its case holds.
  PAA:: $.PA + ', job=~"$agent"',
  gateAgents(platform, selected)::
    '(%s\nor\n%s\nor\n%s)' % [
      platform($.PAA),
      selected(std.join(', ', [$.WS, $.A])),
      selected(std.join(', ', [$.PA, 'workspace_id=~"$workspace"', $.A, 'job!~"$agent"'])),
    ],
  // A table with one row per agent: with All, a column's pre-capped rule (rule +
  // '_top_agents', restricted to the agents of the ranking rule and carrying agent_name),
  // re-ranked over the platforms; otherwise topAgents over the selection, with agent_name.
  topAgentsNamed(rule, by, fmt='%s')::
    local n = config.dashboardTopAgents;
    $.gateAgents(
      function(scope) $.topAgents(fmt % ('%s_top_agents{%s}' % [rule, scope]), '%s_top_agents{%s}' % [by, scope]),
      function(scope) $.withAgentName($.topAgents(fmt % ('%s{%s}' % [rule, scope]), '%s{%s}' % [by, scope]), [scope]),
    ),
  // Worker metrics: the selected workspaces' own pools plus the shared pool (workspace_id="").
  Wpool:: $.P + ', workspace_id=~"${workspace}|"',
  // One series per HA replica group: drop the replica labels before aggregating.
  dedup(expr):: 'max without (%s) (%s)' % [std.join(', ', config.replicaLabels), expr],
  // Raw exporter metric, deduplicated.
  raw(metric, matchers=[]):: self.dedup('%s{%s}' % [metric, self.sel(matchers)]),
  // The name series, of the workspaces (agents) that `matchers` select. A gated branch
  // passes its scope: Prometheus evaluates both sides of `*`, so an info selector without
  // the gate would read every workspace's (agent's) name series in the branch not taken
  // too (10 000 agent_info series per target at 2 000 workspaces).
  wsInfo:: self.wsInfoOf([]),
  wsInfoOf(matchers):: 'max by (workspace_id, workspace_name) (agent_workspace_info{%s})' % self.sel(matchers),
  agentInfoOf(matchers):: 'max by (workspace_id, agent_id, agent_name) (agent_info{%s})' % self.sel(matchers),
  withWorkspaceName(expr, matchers=[]):: '(%s)\n  * on (workspace_id) group_left (workspace_name) %s' % [expr, self.wsInfoOf(matchers)],
  withAgentName(expr, matchers=[]):: '(%s)\n  * on (workspace_id, agent_id) group_left (agent_name) %s' % [expr, self.agentInfoOf(matchers)],
  // Marks a target as allowed to return no series (see check_dashboards.py).
  allowEmpty(expr, class, reason):: '%s\n# allow-empty(%s): %s' % [expr, class, reason],
  // Workers: the shared pool has workspace_id=""; name it "shared" in a pool label.
  poolLabel(expr)::
    'label_replace(label_replace(%s, "pool", "$1", "workspace_id", "(.+)"), "pool", "shared", "workspace_id", "")' % expr,

  // ---------------------------------------------------------------- targets
  target(expr, legend='', refId='A', instant=false, format='time_series', interval='')::
    {
      datasource: $.ds,
      editorMode: 'code',
      expr: expr,
      legendFormat: legend,
      range: !instant,
      instant: instant,
      format: format,
      refId: refId,
    } + (if interval != '' then { interval: interval } else {}),

  // Assigns refIds A, B, C... to a list of targets.
  withRefIds(targets):: [
    targets[i] { refId: std.char(65 + i) }
    for i in std.range(0, std.length(targets) - 1)
  ],

  // ---------------------------------------------------------------- panels
  panel(type, title, description, targets, gridPos)::
    {
      type: type,
      title: title,
      description: description,
      datasource: $.ds,
      gridPos: gridPos,
      targets: $.withRefIds(targets),
      links: [],
      fieldConfig: { defaults: {}, overrides: [] },
      options: {},
    },

  pos(x, y, w, h):: { x: x, y: y, w: w, h: h },

  thresholds(steps):: {
    mode: 'absolute',
    steps: [{ color: steps[0], value: null }] + [
      { color: steps[i + 1], value: steps[i] }
      for i in std.range(1, std.length(steps) - 1)
      if i % 2 == 1
    ],
  },
  // thresholds(['green', 0.9, 'orange', 0.95, 'red']): base colour then value/colour pairs.

  timeseries(title, description, targets, gridPos, unit='short', min=null, max=null, stack=false, bars=false, legendCalcs=[])::
    $.panel('timeseries', title, description, targets, gridPos) {
      fieldConfig: {
        defaults: {
          unit: unit,
          color: { mode: 'palette-classic' },
          custom: {
            drawStyle: if bars then 'bars' else 'line',
            lineWidth: 1,
            fillOpacity: if stack || bars then 60 else 10,
            gradientMode: 'none',
            showPoints: 'never',
            spanNulls: false,
            axisPlacement: 'auto',
            axisSoftMin: 0,
            stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
            thresholdsStyle: { mode: 'off' },
          },
        } + (if min != null then { min: min } else {}) + (if max != null then { max: max } else {}),
        overrides: [],
      },
      options: {
        legend: {
          displayMode: if std.length(legendCalcs) > 0 then 'table' else 'list',
          placement: 'bottom',
          showLegend: true,
          calcs: legendCalcs,
        },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // Field override by query (refId) or by display name.
  overrideQuery(refId, props):: {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [{ id: k, value: props[k] } for k in std.objectFields(props)],
  },
  overrideName(name, props):: {
    matcher: { id: 'byName', options: name },
    properties: [{ id: k, value: props[k] } for k in std.objectFields(props)],
  },

  stat(title, description, targets, gridPos, unit='short', decimals=null, thresholds=['green'], graph=false, colorMode='value', textMode='auto')::
    $.panel('stat', title, description, [t { instant: !graph, range: graph } for t in targets], gridPos) {
      fieldConfig: {
        defaults: {
          unit: unit,
          color: { mode: 'thresholds' },
          thresholds: $.thresholds(thresholds),
          mappings: [],
        } + (if decimals != null then { decimals: decimals } else {}),
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: colorMode,
        graphMode: if graph then 'area' else 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: textMode,
        wideLayout: true,
        showPercentChange: false,
      },
    },

  bargauge(title, description, targets, gridPos, unit='short', min=0, max=null, decimals=null, thresholds=['blue'], orientation='horizontal')::
    $.panel('bargauge', title, description, [t { instant: true, range: false } for t in targets], gridPos) {
      fieldConfig: {
        defaults: {
          unit: unit,
          min: min,
          color: { mode: 'thresholds' },
          thresholds: $.thresholds(thresholds),
          mappings: [],
        } + (if max != null then { max: max } else {}) + (if decimals != null then { decimals: decimals } else {}),
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        orientation: orientation,
        displayMode: 'gradient',
        valueMode: 'color',
        namePlacement: 'auto',
        showUnfilled: true,
        sizing: 'auto',
        minVizWidth: 8,
        minVizHeight: 16,
        maxVizHeight: 300,
      },
    },

  // Table of instant queries (format table) merged on their common labels.
  // columns: [{ name: 'Value #A' or a label, title, unit?, ... }] in display order;
  // every other column is hidden.
  table(title, description, targets, gridPos, columns, sortBy=null, sortDesc=true)::
    local visible = [c.name for c in columns];
    // The properties that are set (std.prune would also drop the null base threshold).
    local withoutNulls(o) = { [k]: o[k] for k in std.objectFields(o) if o[k] != null };
    $.panel('table', title, description, [t { instant: true, range: false, format: 'table' } for t in targets], gridPos) {
      fieldConfig: {
        defaults: {
          custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false, filterable: true },
          mappings: [],
          thresholds: $.thresholds(['green']),
        },
        overrides: [
          $.overrideName(c.title, withoutNulls({
            unit: std.get(c, 'unit', null),
            decimals: std.get(c, 'decimals', null),
            'custom.width': std.get(c, 'width', null),
            'custom.cellOptions': std.get(c, 'cell', null),
            thresholds: if std.objectHas(c, 'thresholds') then $.thresholds(c.thresholds) else null,
            min: std.get(c, 'min', null),
            max: std.get(c, 'max', null),
            links: std.get(c, 'links', null),
            mappings: std.get(c, 'mappings', null),
          }))
          for c in columns
          if std.length(std.prune({
            a: std.get(c, 'unit', null),
            b: std.get(c, 'decimals', null),
            c: std.get(c, 'width', null),
            d: std.get(c, 'cell', null),
            e: std.get(c, 'thresholds', null),
            f: std.get(c, 'links', null),
            g: std.get(c, 'mappings', null),
          })) > 0
        ],
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        frameIndex: 0,
        footer: { show: false, reducer: ['sum'], countRows: false, fields: [] },
      } + (if sortBy != null then { sortBy: [{ displayName: sortBy, desc: sortDesc }] } else {}),
      transformations: [
        { id: 'merge', options: {} },
        {
          id: 'filterFieldsByName',
          options: { include: { names: visible } },
        },
        {
          id: 'organize',
          options: {
            excludeByName: {},
            indexByName: { [columns[i].name]: i for i in std.range(0, std.length(columns) - 1) },
            renameByName: { [c.name]: c.title for c in columns if c.name != c.title },
          },
        },
      ],
    },

  heatmap(title, description, target, gridPos, unit='s')::
    $.panel('heatmap', title, description, [target { format: 'heatmap', legendFormat: '{{le}}', interval: '1m' }], gridPos) {
      fieldConfig: { defaults: { custom: { scaleDistribution: { type: 'linear' }, hideFrom: { legend: false, tooltip: false, viz: false } } }, overrides: [] },
      options: {
        calculate: false,
        cellGap: 1,
        color: { mode: 'scheme', scheme: 'Oranges', fill: 'dark-orange', scale: 'exponential', exponent: 0.5, steps: 64, reverse: false },
        yAxis: { axisPlacement: 'left', unit: unit, reverse: false },
        rowsFrame: { layout: 'auto' },
        cellValues: { unit: 'reqps' },
        filterValues: { le: 1e-9 },
        showValue: 'never',
        legend: { show: true },
        tooltip: { mode: 'single', yHistogram: false, showColorScale: false },
        exemplars: { color: 'rgba(255,0,255,0.7)' },
      },
    },

  // Bar chart over a merged instant table (x = a label column, e.g. hour).
  barchart(title, description, targets, gridPos, xField, unit='short')::
    $.panel('barchart', title, description, [t { instant: true, range: false, format: 'table' } for t in targets], gridPos) {
      fieldConfig: {
        defaults: {
          unit: unit,
          color: { mode: 'palette-classic' },
          custom: { fillOpacity: 80, gradientMode: 'none', lineWidth: 1, axisPlacement: 'auto', axisSoftMin: 0 },
        },
        overrides: [],
      },
      options: {
        xField: xField,
        orientation: 'vertical',
        showValue: 'never',
        stacking: 'none',
        groupWidth: 0.7,
        barWidth: 0.9,
        barRadius: 0,
        fullHighlight: false,
        xTickLabelRotation: 0,
        xTickLabelSpacing: 0,
        xTickLabelMaxLength: 0,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
        tooltip: { mode: 'multi', sort: 'none' },
      },
    },

  text(title, content, gridPos):: {
    type: 'text',
    title: title,
    gridPos: gridPos,
    options: { mode: 'markdown', content: content, code: { language: 'plaintext', showLineNumbers: false, showMiniMap: false } },
  },

  row(title, y):: {
    type: 'row',
    title: title,
    collapsed: false,
    gridPos: { x: 0, y: y, w: 24, h: 1 },
    panels: [],
  },

  // ---------------------------------------------------------------- dashboard
  uids:: {
    overview: 'agent-execution-overview',
    latency: 'agent-execution-latency',
    patterns: 'agent-execution-patterns',
    resources: 'agent-execution-resources',
  },
  titles:: {
    overview: 'Agent execution / Overview',
    latency: 'Agent execution / Latency',
    patterns: 'Agent execution / Patterns and anomalies',
    resources: 'Agent execution / Resources',
  },

  // The datasource and platform-scope variables as URL parameters (panel and data links).
  scopeParams:: '${datasource:queryparam}&${cluster:queryparam}&${job:queryparam}&${instance:queryparam}',
  // A link to another of the four dashboards keeping time range and variables.
  dashLink(key):: {
    title: $.titles[key],
    type: 'link',
    url: '/d/%s' % $.uids[key],
    icon: 'dashboard',
    tooltip: 'Open %s' % $.titles[key],
    includeVars: true,
    keepTime: true,
    asDropdown: false,
    targetBlank: false,
    tags: [],
  },
  // The same as a panel link (panel links do not have includeVars/keepTime).
  panelLink(key, title=null):: {
    title: if title == null then $.titles[key] else title,
    url: '/d/%s?${__url_time_range}&%s&${workspace:queryparam}&${agent:queryparam}' % [$.uids[key], $.scopeParams],
    targetBlank: false,
  },

  variables:: [
    {
      type: 'datasource',
      name: 'datasource',
      label: 'Data source',
      query: 'prometheus',
      regex: '',
      hide: 0,
      includeAll: false,
      multi: false,
      options: [],
      refresh: 1,
      skipUrlSync: false,
    },
  ] + [
    // The platform scope: cluster (the mixin's clusterLabel; empty when Prometheus has
    // no such label), job and the exporter instances (HA replicas, shards) in them.
    // "All" is .* so that series without the label match too.
    {
      type: 'query',
      name: v.name,
      label: v.label,
      description: v.description,
      datasource: $.ds,
      query: v.query,
      regex: '',
      refresh: 2,
      sort: 1,
      multi: true,
      includeAll: true,
      allValue: '.*',
      current: { selected: true, text: ['All'], value: ['$__all'] },
      hide: 0,
      options: [],
      skipUrlSync: false,
    }
    for v in [
      {
        name: 'cluster',
        label: 'Cluster',
        description: 'Platforms by their %s label (none when Prometheus watches one platform).' % config.clusterLabel,
        query: 'label_values(agent_exporter_build_info{%s}, %s)' % [std.join(', ', std.filter(function(m) m != '', [config.selector])), config.clusterLabel],
      },
      {
        name: 'job',
        label: 'Job',
        description: 'Prometheus jobs scraping the exporter in the selected clusters.',
        query: 'label_values(agent_exporter_build_info{%s}, job)' % std.join(', ', std.filter(function(m) m != '', [config.selector, '%s=~"$cluster"' % config.clusterLabel])),
      },
      {
        name: 'instance',
        label: 'Instance',
        description: 'Exporter instances (HA replicas, shards) of the selected jobs. Panels built on recording rules are deduplicated across replicas and ignore it; panels that read the exporter\'s series directly follow it.',
        query: 'label_values(agent_exporter_build_info{%s}, instance)' % std.join(', ', std.filter(function(m) m != '', [config.selector, $.P])),
      },
    ]
  ] + [
    {
      type: 'query',
      name: 'workspace',
      label: 'Workspace',
      description: 'Workspaces by name; the value used in queries is the workspace_id.',
      datasource: $.ds,
      // Grafana lists each series as  {workspace_id="…",workspace_name="…"} 1 <ts>  (labels
      // sorted); the named groups give the option's value and its text.
      query: 'query_result(%s)' % $.wsInfo,
      regex: '/workspace_id="(?<value>[^"]+)",workspace_name="(?<text>.*)"\\}/',
      refresh: 2,
      sort: 5,
      multi: true,
      includeAll: true,
      allValue: '.+',
      current: { selected: true, text: ['All'], value: ['$__all'] },
      hide: 0,
      options: [],
      skipUrlSync: false,
    },
    {
      type: 'query',
      name: 'agent',
      label: 'Agent',
      description: 'Agents of the selected workspaces by name; the value used in queries is the agent_id.',
      datasource: $.ds,
      query: 'query_result(max by (agent_id, agent_name) (agent_info{%s}))' % $.sel([$.W]),
      regex: '/agent_id="(?<value>[^"]+)",agent_name="(?<text>.*)"\\}/',
      refresh: 2,
      sort: 5,
      multi: true,
      includeAll: true,
      allValue: '.+',
      current: { selected: true, text: ['All'], value: ['$__all'] },
      hide: 0,
      options: [],
      skipUrlSync: false,
    },
  ],

  annotations:: [
    {
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    },
    {
      name: 'Anomalies',
      datasource: $.ds,
      enable: true,
      hide: false,
      iconColor: 'red',
      expr: $.allowEmpty(
        'ALERTS{alertname=~"AgentExecution(Spike|Drop|FailureSurge)", alertstate="firing", %s}' % $.W,
        'alerts', 'no anomaly alert is firing'
      ),
      step: '30s',
      // impact: the spec's anomaly severity (low, medium, high); severity: Alertmanager's.
      titleFormat: '{{alertname}} ({{anomaly}}, {{impact}} impact)',
      textFormat: 'workspace {{workspace_id}}, impact {{impact}}, severity {{severity}}',
      tagKeys: 'anomaly,impact,severity',
      useValueForTime: false,
    },
    {
      name: 'Bursts',
      datasource: $.ds,
      enable: true,
      hide: false,
      iconColor: 'orange',
      expr: $.allowEmpty(
        'ALERTS{alertname="AgentExecutionBurst", alertstate="firing", %s}' % $.W,
        'alerts', 'no burst is in progress'
      ),
      step: '30s',
      titleFormat: 'Burst ({{impact}} impact)',
      textFormat: 'workspace {{workspace_id}}',
      tagKeys: 'impact',
      useValueForTime: false,
    },
    {
      name: 'Queue, capacity and stuck runs',
      datasource: $.ds,
      enable: false,
      hide: false,
      iconColor: 'yellow',
      expr: $.allowEmpty(
        'ALERTS{alertname=~"AgentQueueBacklog|AgentQueueWaitHigh|AgentCapacitySaturated|AgentRunsStuck", alertstate="firing", %s}' % $.Wpool,
        'alerts', 'no queue, capacity or stuck-run alert is firing'
      ),
      step: '30s',
      titleFormat: '{{alertname}}',
      textFormat: 'workspace {{workspace_id}}, severity {{severity}}',
      tagKeys: 'severity',
      useValueForTime: false,
    },
  ],

  // Gives panels ids 1..n in order.
  withIds(panels):: [
    panels[i] { id: i + 1 }
    for i in std.range(0, std.length(panels) - 1)
  ],

  dashboard(key, description, panels):: {
    uid: $.uids[key],
    title: $.titles[key],
    description: description,
    tags: config.dashboardTags,
    timezone: config.dashboardTimezone,
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: config.dashboardRefresh,
    schemaVersion: 39,
    version: 1,
    weekStart: '',
    time: { from: 'now-1h', to: 'now' },
    timepicker: { refresh_intervals: ['10s', '30s', '1m', '5m', '15m', '1h'] },
    templating: { list: $.variables },
    annotations: { list: $.annotations },
    links: [$.dashLink(k) for k in ['overview', 'latency', 'patterns', 'resources'] if k != key],
    panels: $.withIds(panels),
  },
}
