// Validates deploy/kubernetes: renders the kustomization (the subset of kustomize it
// uses: resources, namespace, labels, images, secretGenerator and configMapGenerator with
// files; any other key is refused), then checks every object
//   - against its Kubernetes or prometheus-operator schema (npm kubernetes-models and
//     @kubernetes-models/prometheus-operator, pinned in package.json): types, enums,
//     required fields, and no key the schema does not know (a misspelt field fails);
//   - against what issue #14 asks of it: an HA pair, a numeric non-root UID equal to the
//     image's, a read-only root filesystem, /healthz and /readyz probes, resources, the
//     DB URL from a Secret the kustomization makes, a Service, ServiceMonitor and
//     NetworkPolicy that select the pods and name a real port, the PrometheusRule
//     holding exactly the mixin's rule groups, one dashboard ConfigMap per
//     grafana/dashboards/*.json labelled for Grafana's sidecar.
// Then it proves that it can fail: each of a set of broken copies must be refused.
// With `kubectl` on the PATH it also compares its rendering with `kubectl kustomize`.
//   node tests/kubernetes/validate.mjs [DIR]      (default deploy/kubernetes)
// Prints "ok   - ..." / "FAIL - ..." lines and "N passed, N failed".
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import YAML from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const dir = path.resolve(process.argv[2] ?? path.join(repo, "deploy/kubernetes"));

const MODELS = new Map(
  [ConfigMap, Secret, Service, Deployment, PodDisruptionBudget, NetworkPolicy, ServiceMonitor, PrometheusRule].map(
    (m) => [`${m.apiVersion}/${m.kind}`, m]));

// ---- rendering (kustomize's semantics for the keys used here) ----------------------
const KUSTOMIZATION_KEYS = new Set(["apiVersion", "kind", "namespace", "labels", "resources", "images",
  "generatorOptions", "secretGenerator", "configMapGenerator"]);

function readYamlDocs(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((o) => o !== null);
}

function fileInRoot(root, rel) {
  const p = path.resolve(root, rel);
  if (!p.startsWith(root + path.sep)) throw new Error(`${rel}: outside the kustomization folder (kustomize refuses it)`);
  return p;
}

function generatorFiles(root, files, fallback) {
  const data = {};
  for (const spec of files ?? []) {
    const [key, rel] = spec.includes("=") ? spec.split("=", 2) : [path.basename(spec), spec];
    let p = fileInRoot(root, rel);
    // The Secret's source (db-url) is the operator's and never committed: render the
    // committed example in its place.
    if (!fs.existsSync(p) && fallback && fs.existsSync(p + ".example")) p += ".example";
    data[key] = fs.readFileSync(p, "utf8");
  }
  return data;
}

export function render(root) {
  const k = YAML.parse(fs.readFileSync(path.join(root, "kustomization.yaml"), "utf8"));
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) throw new Error(`kustomization.yaml: key "${key}" is not one this renderer knows`);
  }
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization") {
    throw new Error("kustomization.yaml: want apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization");
  }
  const objects = [];
  for (const rel of k.resources ?? []) {
    for (const o of readYamlDocs(fileInRoot(root, rel))) objects.push({ source: rel, object: o });
  }
  const options = k.generatorOptions ?? {};
  for (const key of Object.keys(options)) {
    if (key !== "disableNameSuffixHash") throw new Error(`generatorOptions.${key}: not known to this renderer`);
  }
  if (options.disableNameSuffixHash !== true) {
    throw new Error("generatorOptions.disableNameSuffixHash: this renderer needs true (no name hashes to rewrite)");
  }
  const generated = (gen, kind) => {
    for (const key of Object.keys(gen)) {
      if (!["name", "files", "options", "type"].includes(key)) throw new Error(`${kind} generator ${gen.name}: key "${key}" not known`);
    }
    const data = generatorFiles(root, gen.files, kind === "Secret");
    const o = { apiVersion: "v1", kind, metadata: { name: gen.name } };
    if (gen.options?.labels) o.metadata.labels = { ...gen.options.labels };
    if (kind === "Secret") {
      o.type = gen.type ?? "Opaque";
      o.data = Object.fromEntries(Object.entries(data).map(([key, v]) => [key, Buffer.from(v).toString("base64")]));
    } else {
      o.data = data;
    }
    return { source: `${kind.toLowerCase()}Generator ${gen.name}`, object: o };
  };
  for (const g of k.secretGenerator ?? []) objects.push(generated(g, "Secret"));
  for (const g of k.configMapGenerator ?? []) objects.push(generated(g, "ConfigMap"));
  for (const { object } of objects) {
    object.metadata ??= {};
    if (k.namespace) object.metadata.namespace = k.namespace;
    for (const l of k.labels ?? []) {
      for (const key of Object.keys(l)) if (key !== "pairs") throw new Error(`labels: key "${key}" not known to this renderer`);
      object.metadata.labels = { ...(object.metadata.labels ?? {}), ...l.pairs };
    }
    for (const img of k.images ?? []) {
      const podSpec = object.spec?.template?.spec;
      for (const c of [...(podSpec?.containers ?? []), ...(podSpec?.initContainers ?? [])]) {
        const name = c.image.replace(/[:@].*$/, "");
        if (name === img.name) c.image = `${img.newName ?? name}${img.newTag ? ":" + img.newTag : ""}`;
      }
    }
  }
  return { kustomization: k, objects };
}

// ---- schema validation, strict ------------------------------------------------------
// The compiled schema validators read every property the schema declares; a key they
// never read is one the schema does not know.
function deepProxy(value, at, reads) {
  if (value === null || typeof value !== "object") return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key === "string" && Object.prototype.hasOwnProperty.call(target, key)) {
        reads.add(`${at}/${key}`);
        return deepProxy(v, `${at}/${key}`, reads);
      }
      return v;
    },
  });
}
function unreadKeys(value, at, reads, out) {
  if (value === null || typeof value !== "object") return out;
  for (const key of Object.keys(value)) {
    if (!Array.isArray(value) && !reads.has(`${at}/${key}`)) out.push(`${at}/${key}`);
    unreadKeys(value[key], `${at}/${key}`, reads, out);
  }
  return out;
}
export function validateSchema(object) {
  const model = MODELS.get(`${object.apiVersion}/${object.kind}`);
  if (!model) throw new Error(`${object.apiVersion} ${object.kind}: no schema known here (add its model)`);
  const plain = JSON.parse(JSON.stringify(object));
  const reads = new Set();
  model.prototype.validate.call(deepProxy(plain, "", reads));
  const unknown = unreadKeys(plain, "", reads, []);
  if (unknown.length) throw new Error(`fields not in the ${object.kind} schema: ${unknown.join(", ")}`);
}

// ---- what the deployment must be -----------------------------------------------------
function must(cond, what) { if (!cond) throw new Error(what); }
function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

export function checkPolicy(objects, { imageUid, dashboardsDir, ruleFiles }) {
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const one = (kind) => { const l = byKind(kind); must(l.length === 1, `want one ${kind}, have ${l.length}`); return l[0]; };
  const deploy = one("Deployment");
  const pod = deploy.spec.template;
  must(deploy.spec.replicas >= 2, `Deployment: replicas ${deploy.spec.replicas}, want an HA pair (>= 2)`);
  must(matches(deploy.spec.selector.matchLabels, pod.metadata.labels), "Deployment: selector does not match its pod template");
  const psc = pod.spec.securityContext ?? {};
  must(psc.runAsNonRoot === true, "pod securityContext.runAsNonRoot must be true");
  must(Number.isInteger(psc.runAsUser) && psc.runAsUser > 0, "pod securityContext.runAsUser must be a numeric non-root UID");
  if (imageUid !== undefined) must(psc.runAsUser === imageUid, `runAsUser ${psc.runAsUser} differs from the image's USER ${imageUid}`);
  for (const c of pod.spec.containers) {
    const sc = c.securityContext ?? {};
    must(sc.readOnlyRootFilesystem === true, `container ${c.name}: readOnlyRootFilesystem must be true`);
    must(sc.allowPrivilegeEscalation === false, `container ${c.name}: allowPrivilegeEscalation must be false`);
    must(sc.capabilities?.drop?.includes("ALL"), `container ${c.name}: must drop ALL capabilities`);
    must(c.livenessProbe?.httpGet?.path === "/healthz", `container ${c.name}: livenessProbe must GET /healthz`);
    must(c.readinessProbe?.httpGet?.path === "/readyz", `container ${c.name}: readinessProbe must GET /readyz`);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      const port = probe.httpGet.port;
      must(c.ports?.some((p) => p.name === port || p.containerPort === port), `container ${c.name}: probe port ${port} is not a container port`);
    }
    must(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
      `container ${c.name}: resources need cpu and memory requests and a memory limit`);
    const listen = (c.args ?? []).find((a) => a.startsWith("--web.listen-address="));
    const listenPort = listen ? Number(listen.split(":").pop()) : 9477;
    must(c.ports?.some((p) => p.containerPort === listenPort), `container ${c.name}: listens on ${listenPort}, which is not a container port`);
    const dbEnv = (c.env ?? []).find((e) => e.name === "AGENT_EXPORTER_DB_URL");
    must(dbEnv?.valueFrom?.secretKeyRef, `container ${c.name}: AGENT_EXPORTER_DB_URL must come from a Secret`);
    must(!(c.args ?? []).some((a) => a.startsWith("--db.url=")), `container ${c.name}: no --db.url in args (it would show the password)`);
    const ref = dbEnv.valueFrom.secretKeyRef;
    const secret = byKind("Secret").find((s) => s.metadata.name === ref.name);
    must(secret && ref.key in (secret.data ?? {}), `Secret ${ref.name} with key ${ref.key} is not in the kustomization`);
  }
  const podPorts = pod.spec.containers.flatMap((c) => c.ports ?? []);
  const svc = one("Service");
  must(matches(svc.spec.selector, pod.metadata.labels), "Service: selector does not match the pods");
  for (const p of svc.spec.ports) {
    must(podPorts.some((q) => q.name === p.targetPort || q.containerPort === p.targetPort), `Service port ${p.name}: targetPort ${p.targetPort} is no container port`);
  }
  const sm = one("ServiceMonitor");
  must(matches(sm.spec.selector.matchLabels, svc.metadata.labels), "ServiceMonitor: selector does not match the Service's labels");
  for (const e of sm.spec.endpoints) must(svc.spec.ports.some((p) => p.name === e.port), `ServiceMonitor endpoint port ${e.port} is not a Service port name`);
  const np = one("NetworkPolicy");
  must(matches(np.spec.podSelector.matchLabels, pod.metadata.labels), "NetworkPolicy: podSelector does not match the pods");
  must(np.spec.policyTypes?.includes("Ingress") && np.spec.policyTypes?.includes("Egress"), "NetworkPolicy: must restrict Ingress and Egress");
  const pdb = one("PodDisruptionBudget");
  must(matches(pdb.spec.selector.matchLabels, pod.metadata.labels), "PodDisruptionBudget: selector does not match the pods");
  // The PrometheusRule carries exactly the mixin's committed rule groups.
  const rule = one("PrometheusRule");
  const want = ruleFiles.flatMap((f) => YAML.parse(fs.readFileSync(f, "utf8")).groups);
  must(JSON.stringify(rule.spec.groups) === JSON.stringify(want),
    `PrometheusRule: groups differ from ${ruleFiles.map((f) => path.relative(repo, f)).join(" + ")} (make rules)`);
  // One ConfigMap per dashboard, labelled for the sidecar, equal to grafana/dashboards.
  const boards = fs.readdirSync(dashboardsDir).filter((f) => f.endsWith(".json")).sort();
  const cms = byKind("ConfigMap").filter((c) => c.metadata.labels?.grafana_dashboard === "1");
  const shipped = cms.flatMap((c) => Object.keys(c.data ?? {})).sort();
  must(JSON.stringify(shipped) === JSON.stringify(boards),
    `dashboard ConfigMaps hold [${shipped}], grafana/dashboards has [${boards}]`);
  for (const c of cms) {
    const size = Object.values(c.data).reduce((n, v) => n + Buffer.byteLength(v), 0);
    must(size < 262144, `ConfigMap ${c.metadata.name}: ${size} bytes, over the 256 KiB kubectl apply keeps`);
    for (const [name, text] of Object.entries(c.data)) {
      must(text === fs.readFileSync(path.join(dashboardsDir, name), "utf8"), `ConfigMap ${c.metadata.name}: ${name} differs from grafana/dashboards (make rules)`);
      must(JSON.parse(text).uid, `ConfigMap ${c.metadata.name}: ${name} has no uid`);
    }
  }
}

// ---- run ---------------------------------------------------------------------------
let passed = 0, failed = 0;
function step(name, fn) {
  try { fn(); console.log(`ok   - ${name}`); passed++; }
  catch (e) { console.log(`FAIL - ${name}\n       ${e.message}`); failed++; }
}
function refused(name, objects, mutate, check) {
  step(`refuses ${name}`, () => {
    const copy = JSON.parse(JSON.stringify(objects));
    mutate(copy);
    let error = null;
    try { check(copy); } catch (e) { error = e; }
    if (!error) throw new Error("accepted");
  });
}

const dockerUser = fs.readFileSync(path.join(repo, "Dockerfile"), "utf8").match(/^USER\s+(\d+)(?::(\d+))?\s*$/m);
const context = {
  imageUid: dockerUser ? Number(dockerUser[1]) : undefined,
  dashboardsDir: path.join(repo, "grafana/dashboards"),
  ruleFiles: [path.join(repo, "alerts/agent_execution.rules.yml"), path.join(repo, "alerts/agent_execution.alerts.yml")],
};
let rendered = null;
step(`kustomization renders (${path.relative(repo, dir)})`, () => { rendered = render(dir); });
if (rendered) {
  const objects = rendered.objects.map((o) => o.object);
  for (const { source, object } of rendered.objects) {
    step(`${object.kind} ${object.metadata.name} (${source}): ${object.apiVersion} schema`, () => validateSchema(object));
  }
  step("the Dockerfile's USER is numeric", () => must(context.imageUid !== undefined, "Dockerfile: want USER <uid>:<gid>"));
  step("Deployment, Service, ServiceMonitor, NetworkPolicy, PrometheusRule, dashboards: issue #14's requirements",
    () => checkPolicy(objects, context));
  const schemaAll = (list) => list.forEach(validateSchema);
  const policy = (list) => checkPolicy(list, context);
  const find = (list, kind) => list.find((o) => o.kind === kind);
  const container = (list) => find(list, "Deployment").spec.template.spec.containers[0];
  refused("a misspelt field (readOnlyRootFileSystem)", objects, (l) => {
    const sc = container(l).securityContext; sc.readOnlyRootFileSystem = sc.readOnlyRootFilesystem; delete sc.readOnlyRootFilesystem;
  }, schemaAll);
  refused("a wrong type (replicas: \"2\")", objects, (l) => { find(l, "Deployment").spec.replicas = "2"; }, schemaAll);
  refused("a ServiceMonitor interval that is a number", objects, (l) => { find(l, "ServiceMonitor").spec.endpoints[0].interval = 30; }, schemaAll);
  refused("an unknown ServiceMonitor endpoint key", objects, (l) => { find(l, "ServiceMonitor").spec.endpoints[0].intervall = "30s"; }, schemaAll);
  refused("a PrometheusRule rule without expr", objects, (l) => { delete find(l, "PrometheusRule").spec.groups[0].rules[0].expr; }, schemaAll);
  refused("a single replica", objects, (l) => { find(l, "Deployment").spec.replicas = 1; }, policy);
  refused("runAsUser 0", objects, (l) => { find(l, "Deployment").spec.template.spec.securityContext.runAsUser = 0; }, policy);
  refused("a writable root filesystem", objects, (l) => { container(l).securityContext.readOnlyRootFilesystem = false; }, policy);
  refused("a liveness probe on /metrics", objects, (l) => { container(l).livenessProbe.httpGet.path = "/metrics"; }, policy);
  refused("the DB URL as a plain env value", objects, (l) => {
    const e = container(l).env.find((x) => x.name === "AGENT_EXPORTER_DB_URL"); delete e.valueFrom; e.value = "postgresql://u:p@h/db";
  }, policy);
  refused("a ServiceMonitor on a port the Service lacks", objects, (l) => { find(l, "ServiceMonitor").spec.endpoints[0].port = "metrics"; }, policy);
  refused("a stale PrometheusRule", objects, (l) => { find(l, "PrometheusRule").spec.groups.pop(); }, policy);
  refused("a missing dashboard", objects, (l) => { l.splice(l.findIndex((o) => o.kind === "ConfigMap"), 1); }, policy);
  refused("a kustomization key the renderer does not know", objects, () => {}, () => {
    const tmp = fs.mkdtempSync("/tmp/aee-k8s-");
    try {
      fs.writeFileSync(path.join(tmp, "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches: []\n");
      render(tmp);
    } finally { fs.rmSync(tmp, { recursive: true }); }
  });
  // The real kustomize, where present (kubectl embeds it), renders the same objects.
  let kubectl = null;
  try { execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" }); kubectl = "kubectl"; } catch { /* absent */ }
  if (kubectl) {
    step("kubectl kustomize renders the same objects", () => {
      const tmp = fs.mkdtempSync("/tmp/aee-k8s-");
      try {
        fs.cpSync(dir, tmp, { recursive: true });
        if (!fs.existsSync(path.join(tmp, "db-url"))) fs.copyFileSync(path.join(tmp, "db-url.example"), path.join(tmp, "db-url"));
        const out = execFileSync(kubectl, ["kustomize", tmp], { encoding: "utf8", maxBuffer: 64 << 20 });
        const theirs = YAML.parseAllDocuments(out).map((d) => d.toJS());
        // kustomize wraps a Secret's base64 at 70 columns (a YAML block scalar).
        for (const o of theirs) {
          if (o.kind === "Secret") for (const k of Object.keys(o.data ?? {})) o.data[k] = o.data[k].replace(/\s+/g, "");
        }
        const key = (o) => `${o.kind}/${o.metadata.name}`;
        const mine = new Map(objects.map((o) => [key(o), o]));
        must(theirs.length === mine.size, `kustomize: ${theirs.length} objects, here ${mine.size}`);
        const canon = (v) => JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
          ? Object.fromEntries(Object.keys(x).sort().map((kk) => [kk, x[kk]])) : x));
        for (const o of theirs) must(canon(o) === canon(mine.get(key(o))), `kustomize renders ${key(o)} differently`);
      } finally { fs.rmSync(tmp, { recursive: true }); }
    });
  } else {
    console.log("# kubectl not found: the comparison with kubectl kustomize is skipped");
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
