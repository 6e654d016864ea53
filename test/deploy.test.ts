// Static checks of the deployment files (compose.yaml, deploy/haproxy, deploy/k8s) against the
// server they deploy: probe paths it serves, the port it listens on by default, the drain its
// configuration parser derives from the manifests' own env, and variable names it reads. Neither
// Docker nor Kubernetes runs here; test/e2e/topology.test.ts runs the HAProxy config for real.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import type { App } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { parseDurationMs } from "../src/lib/duration.ts";
import { HAPROXY_BINARY, HAPROXY_CONFIG } from "./harness/balancer.ts";
import { createTestDatabase, newSigningKey, startTestServer, tempDir } from "./harness/index.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");

// The fields of the manifests the tests read (parsed YAML; a field that is missing fails the test
// that reads it, as before).
type Labels = Record<string, string>;
interface Port { name?: string; containerPort?: number; targetPort?: string | number }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } }
interface Probe { httpGet: { path: string; port: string | number } }
interface Container {
  name: string;
  ports: Port[];
  env: EnvVar[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  startupProbe: Probe;
  lifecycle: { preStop: { exec: { command: string[] } } };
  resources: { requests: { cpu?: string } };
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: {
    template: { metadata: { labels: Labels; annotations: Record<string, string> }; spec: { containers: Container[]; terminationGracePeriodSeconds: number } };
    selector: Labels & { matchLabels?: Labels };
    ports: Port[];
    scaleTargetRef: unknown;
    minReplicas: number;
  };
  /** A Kustomization's files. */
  resources: string[];
}
interface ComposeService {
  build?: string;
  image: string;
  environment: Record<string, string>;
  healthcheck: { test: string[] };
  stop_grace_period: string;
  volumes: string[];
  depends_on: Record<string, unknown>;
}
const k8sDir = "deploy/k8s";
const k8sFiles = readdirSync(join(root, k8sDir)).filter((f) => f.endsWith(".yaml"));
const k8s: Manifest[] = k8sFiles.flatMap((f) => parseAllDocuments(read(`${k8sDir}/${f}`)).map((d) => d.toJS() as Manifest)).filter(Boolean);
const only = (kind: string): Manifest => {
  const found = k8s.filter((d) => d.kind === kind);
  expect(found, `one ${kind} in ${k8sDir}`).toHaveLength(1);
  return found[0]!;
};
const compose = parse(read("compose.yaml")) as { services: Record<string, ComposeService> };
const haproxy = read("deploy/haproxy/haproxy.cfg");

/** Every environment variable name src/config.ts mentions (it is the only reader of process.env). */
const configNames = new Set([...read("src/config.ts").matchAll(/"([A-Z][A-Z0-9_]*[A-Z0-9])"/g)].map((m) => m[1]!));
/** The compose services built from the Dockerfile: the Cartwheel instances. */
const instances = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
const deployment = only("Deployment");
const pod = deployment.spec.template.spec;
const container = pod.containers.find((c) => c.name === "cartwheel")!;
/** The Deployment's literal env values (secrets stand in as placeholders of the right shape). */
const k8sEnv = Object.fromEntries(container.env.filter((e) => typeof e.value === "string").map((e) => [e.name, e.value as string]));
const stand = { DATABASE_URL: "postgresql://u@db.invalid/db", REDIS_URL: "redis://redis.invalid:6379", JWT_PRIVATE_KEY: newSigningKey() };
/**
 * What the server makes of an env (its defaults included), parsed by the server's own config
 * loader. Values compose fills in from its own environment (`${…}`) stand in as placeholders.
 */
const configOf = (env: Record<string, string>) =>
  loadConfig({ ...stand, ...Object.fromEntries(Object.entries(env).filter(([, v]) => !String(v).includes("${"))) });
const portNamed = (name: unknown) => container.ports.find((p) => p.name === name || p.containerPort === name)?.containerPort;

let app: App;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const dir = tempDir("cartwheel-deploy-");
beforeAll(async () => {
  db = await createTestDatabase();
  app = await startTestServer({ databaseUrl: db.url, dataDir: dir.path });
});
afterAll(async () => {
  await app?.stop();
  await db?.drop();
  dir.remove();
});

/** Status of GET <path> on a real server (the probes' paths must be served, with 200). */
const statusOf = async (path: string) => (await fetch(new URL(path, app.url))).status;

describe("Kubernetes manifests", () => {
  it("/metrics on its own port (METRICS_PORT), named and annotated for scraping, and not in the Service; compose keeps it off the balancer", () => {
    const metricsPort = configOf(k8sEnv).metrics.port;
    expect(metricsPort).toBeGreaterThan(0);
    expect(portNamed("metrics")).toBe(metricsPort);
    expect(Number(deployment.spec.template.metadata.annotations["prometheus.io/port"])).toBe(metricsPort);
    const service = only("Service");
    expect(service.spec.ports.map((p) => p.targetPort)).not.toContain("metrics");
    expect(service.spec.ports.map((p) => p.targetPort)).not.toContain(metricsPort);
    for (const [name, instance] of instances) {
      const port = configOf(instance.environment).metrics.port;
      expect(port, name).toBeGreaterThan(0);
      expect(haproxy, name).not.toContain(`:${port}`);
    }
  });

  it("are one Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget, all listed in the kustomization", () => {
    for (const kind of ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]) only(kind);
    const kustomization = only("Kustomization");
    expect([...kustomization.resources].sort()).toEqual(k8sFiles.filter((f) => f !== "kustomization.yaml").sort());
  });

  it("probe paths the server serves, on the port it listens on", async () => {
    const port = configOf(k8sEnv).port;
    expect(port).toBe(loadConfig({}).port); // the manifest keeps the server's default
    expect(portNamed("http")).toBe(port);
    expect(container.readinessProbe.httpGet.path).toBe("/health/ready");
    expect(container.livenessProbe.httpGet.path).toBe("/health/live");
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"] as const) {
      const { path, port: probePort } = container[probe].httpGet;
      expect(portNamed(probePort), `${probe}'s port`).toBe(port);
      expect(await statusOf(path), `${probe} GET ${path}`).toBe(200);
    }
    expect(await statusOf("/health/nothing")).toBe(404); // the check above can fail
  });

  it("give the pod a grace period that covers preStop, SHUTDOWN_DELAY and SHUTDOWN_TIMEOUT", () => {
    const { delayMs, timeoutMs } = configOf(k8sEnv).shutdown;
    const command = container.lifecycle.preStop.exec.command;
    expect(command[0]).toBe("sleep");
    const preStopMs = parseDurationMs(command[1]!)!;
    expect(preStopMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds * 1_000).toBeGreaterThan(preStopMs + delayMs + timeoutMs);
  });

  it("reference secrets instead of inlining them, and name only variables the server reads", () => {
    expect(k8s.filter((d) => d.kind === "Secret")).toEqual([]);
    for (const name of ["JWT_PRIVATE_KEY", "DATABASE_URL", "REDIS_URL"]) {
      const entry = container.env.find((e) => e.name === name);
      expect(entry?.valueFrom?.secretKeyRef, `${name} from a secret`).toBeDefined();
      expect(entry).not.toHaveProperty("value");
    }
    const unknown = container.env.map((e) => e.name).filter((n) => !configNames.has(n));
    expect(unknown).toEqual([]);
    expect(configOf(k8sEnv).env).toBe("production"); // and the server accepts the whole env
  });

  it("route the Service, autoscaler and disruption budget to the Deployment's pods", () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    const service = only("Service");
    expect(service.spec.selector).toEqual(labels);
    expect(service.spec.ports.map((p) => portNamed(p.targetPort))).toEqual([configOf(k8sEnv).port]);
    expect(only("PodDisruptionBudget").spec.selector.matchLabels).toEqual(labels);
    const hpa = only("HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(container.resources.requests.cpu).toBeTruthy(); // CPU utilisation is relative to it
  });
});

describe("compose.yaml", () => {
  it("runs two or more Cartwheel instances from the Dockerfile, on variables the server reads", () => {
    expect(instances.length).toBeGreaterThanOrEqual(2);
    for (const [name, service] of instances) {
      expect(service.build, name).toBe(".");
      const unknown = Object.keys(service.environment).filter((n) => !configNames.has(n));
      expect(unknown, name).toEqual([]);
      expect(service.environment.JWT_PRIVATE_KEY, "a secret from the environment").toMatch(/^\$\{JWT_PRIVATE_KEY:\?/);
      expect(service.environment.DATABASE_URL).toMatch(/\$\{POSTGRES_PASSWORD:\?/);
      expect(service.healthcheck.test.join(" ")).toContain(`:${configOf(service.environment).port}/health/ready`);
    }
  });

  it("stops an instance no sooner than its drain can finish", () => {
    for (const [name, service] of instances) {
      const { delayMs, timeoutMs } = configOf(service.environment).shutdown;
      expect(parseDurationMs(service.stop_grace_period), name).toBeGreaterThan(delayMs + timeoutMs);
    }
  });

  it("puts HAProxy with the repository's config in front of every instance", () => {
    const lb = compose.services.lb!;
    expect(lb.image).toMatch(/^haproxy:2\.6\b/);
    expect(lb.volumes).toContain("./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro");
    const targets = Object.entries(lb.environment).filter(([k]) => /^CW_INSTANCE_\d+$/.test(k)).map(([, v]) => v);
    expect(targets.sort()).toEqual(instances.map(([name, s]) => `${name}:${configOf(s.environment).port}`).sort());
    expect(Object.keys(lb.depends_on).sort()).toEqual(instances.map(([name]) => name).sort());
  });
});

describe("deploy/haproxy/haproxy.cfg", () => {
  /** `${NAME}` references in the config, and the defaults its presetenv lines give. */
  const used = new Set([...haproxy.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!));
  const defaults = Object.fromEntries([...haproxy.matchAll(/^\s*presetenv\s+(\S+)\s+(\S+)/gm)].map((m) => [m[1]!, m[2]!]));

  it("reads only addresses from the environment, each with compose's value as its default", () => {
    expect(Object.keys(defaults).sort()).toEqual([...used].sort());
    expect(defaults).toEqual(compose.services.lb!.environment);
  });

  it("checks /health/ready, and leaves an instance less than SHUTDOWN_DELAY to be taken out", () => {
    expect(haproxy).toMatch(/^\s*http-check send meth GET uri \/health\/ready$/m);
    const server = /^\s*default-server .*\binter (\S+) fall (\d+)/m.exec(haproxy);
    expect(server).not.toBeNull();
    const detectMs = parseDurationMs(server![1]!)! * Number(server![2]);
    for (const [name, service] of instances) expect(configOf(service.environment).shutdown.delayMs, name).toBeGreaterThan(detectMs);
  });

  it("is accepted by haproxy -c with its defaults (compose's names need not resolve here)", () => {
    const env = { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` };
    const result = spawnSync(HAPROXY_BINARY, ["-c", "-f", HAPROXY_CONFIG], { env, encoding: "utf8", timeout: 10_000 });
    expect(result.error, "haproxy is installed (apt-get install -y haproxy)").toBeUndefined();
    expect(result.status, result.stderr + result.stdout).toBe(0);
  });
});
