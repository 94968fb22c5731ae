// The committed dashboards typed as Grafana's published model: the Dashboard of
// @grafana/grafana-foundation-sdk (pinned in package.json: Grafana 10.4, the version of
// deploy/docker-compose.yml), with each panel's `options` and `fieldConfig.defaults.custom`
// typed by its panel plugin's own Options/FieldConfig from the same SDK (the SDK leaves
// them `any` on the generic Panel), and units restricted to the SDK's unit ids.
// check.sh compiles one generated .ts per dashboard with tsc --strict --noEmit: a wrong
// type, a missing required field or an unknown key (excess property) fails.
import type * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import type * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import type * as barchart from "@grafana/grafana-foundation-sdk/barchart";
import type * as bargauge from "@grafana/grafana-foundation-sdk/bargauge";
import type * as heatmap from "@grafana/grafana-foundation-sdk/heatmap";
import type * as stat from "@grafana/grafana-foundation-sdk/stat";
import type * as statetimeline from "@grafana/grafana-foundation-sdk/statetimeline";
import type * as table from "@grafana/grafana-foundation-sdk/table";
import type * as text from "@grafana/grafana-foundation-sdk/text";
import type * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import type * as units from "@grafana/grafana-foundation-sdk/units";

// The JSON form of an SDK type: enums become the literals JSON holds ("link", not
// DashboardLinkType.Link); `any` stays `any`.
type Json<T> = 0 extends 1 & T
  ? T
  : T extends string
    ? `${T}`
    : T extends number | boolean | null | undefined
      ? T
      : T extends readonly (infer U)[]
        ? Json<U>[]
        : T extends object
          ? { [K in keyof T]: Json<T[K]> }
          : T;

// A Grafana unit id (the SDK's units package).
export type Unit = (typeof units)[keyof typeof units];

type DataSourceRef = Json<dashboard.DataSourceRef>;

// A Prometheus query (the SDK's prometheus dataquery, without its TypeScript-only marker
// method), its datasource a reference like everywhere else.
type Target = Omit<Json<prometheus.dataquery>, "_implementsDataqueryVariant" | "datasource"> & {
  datasource?: DataSourceRef;
};

// Panel and field links are what Grafana's panels render: @grafana/data's DataLink
// (title, url, targetBlank). The SDK's 10.4 schema declares the dashboard-level
// DashboardLink there, whose tags/icon/asDropdown/... no panel reads.
type DataLink = { title: string; url: string; targetBlank?: boolean };

type FieldConfig<Custom> = Omit<Json<dashboard.FieldConfig>, "unit" | "custom" | "links"> & {
  unit?: Unit;
  links?: DataLink[];
} & ([Custom] extends [never] ? { custom?: never } : { custom?: Json<Custom> });

// Override properties by id, typed like the field config they override.
type Property =
  | { id: "unit"; value: Unit }
  | { id: "decimals" | "min" | "max"; value: number }
  | { id: "displayName" | "noValue"; value: string }
  | { id: "thresholds"; value: Json<dashboard.ThresholdsConfig> }
  | { id: "color"; value: Json<dashboard.FieldColor> }
  | { id: "links"; value: DataLink[] }
  | { id: "mappings"; value: Json<dashboard.ValueMapping>[] }
  | { id: `custom.${string}`; value: unknown };

type FieldConfigSource<Custom> = {
  defaults: FieldConfig<Custom>;
  overrides: { matcher: Json<dashboard.MatcherConfig>; properties: Property[] }[];
};

type GenericPanel = Omit<Json<dashboard.Panel>, "type" | "options" | "fieldConfig" | "targets" | "datasource" | "links">;

type TypedPanel<Type extends string, Options, Custom> = GenericPanel & {
  type: Type;
  datasource?: DataSourceRef;
  targets?: Target[];
  links?: DataLink[];
  options: Json<Options>;
  fieldConfig?: FieldConfigSource<Custom>;
};

export type Panel =
  | TypedPanel<"timeseries", timeseries.Options, timeseries.FieldConfig>
  | TypedPanel<"stat", stat.Options, never>
  | TypedPanel<"bargauge", bargauge.Options, never>
  | TypedPanel<"table", table.Options, table.FieldConfig>
  | TypedPanel<"heatmap", heatmap.Options, heatmap.FieldConfig>
  | TypedPanel<"barchart", barchart.Options, barchart.FieldConfig>
  | TypedPanel<"state-timeline", statetimeline.Options, statetimeline.FieldConfig>
  | TypedPanel<"text", text.Options, never>;

// The Prometheus datasource's annotation options (Grafana's Prometheus annotation
// editor: step, title/text format, tag keys, value as time) beside the SDK's
// AnnotationQuery, which declares the generic part only.
type Annotation = Json<dashboard.AnnotationQuery> & {
  step?: string;
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
};

export type Dashboard = Omit<Json<dashboard.Dashboard>, "panels" | "annotations"> & {
  panels?: (Panel | Json<dashboard.RowPanel>)[];
  annotations: { list?: Annotation[] };
};
