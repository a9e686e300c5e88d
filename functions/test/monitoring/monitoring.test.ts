import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { loadAlertThreshold } from "../../src/config";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { getBackupStatus, type AlertCode, type BackupStatusResponse } from "../../src/status";
import { seedFirestore } from "../backup/helpers";
import { baseEnv, FUNCTIONS_DIR, runTs } from "../cli/run-cli";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import {
  cloudRunLogEntry,
  extract,
  extractorPath,
  fieldPaths,
  hasPath,
  matches,
  parseQuery,
  type CloudLogEntry,
} from "./logging-query";

/**
 * The alerts in monitoring/ against the log entries the product really writes: the deployed
 * scheduled function runs (in a child process, with its own logger, against the OfficeRnD
 * sandbox and the Firestore emulator) for four kinds of run; its output lines are read as Cloud
 * Logging stores them; every metric filter and label extractor is evaluated on them and held to
 * the status endpoint's alerts for the same run. A renamed or retyped field fails here.
 */

const MONITORING_DIR = join(FUNCTIONS_DIR, "..", "monitoring");
const PROJECT = "officernd-prod";

const metricFileSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9_]+$/),
  description: z.string().min(20),
  filter: z.string().min(1),
  metricDescriptor: z.strictObject({
    metricKind: z.literal("DELTA"),
    valueType: z.literal("INT64"),
    unit: z.literal("1"),
    displayName: z.string(),
    labels: z
      .array(
        z.strictObject({
          key: z.string().regex(/^[a-z][a-z0-9_]*$/),
          valueType: z.literal("STRING"),
          description: z.string(),
        }),
      )
      .optional(),
  }),
  labelExtractors: z.record(z.string(), z.string()).optional(),
});
type MetricFile = z.infer<typeof metricFileSchema>;

const policyFileSchema = z.looseObject({
  displayName: z.string().min(1),
  userLabels: z.strictObject({ app: z.literal("officernd-backup"), officernd_alert: z.string() }),
  severity: z.enum(["CRITICAL", "ERROR", "WARNING"]),
  notificationChannels: z.array(z.string()).length(0),
  documentation: z.looseObject({
    content: z.string().min(20),
    mimeType: z.literal("text/markdown"),
  }),
  conditions: z
    .array(
      z.looseObject({
        displayName: z.string(),
        conditionThreshold: z.looseObject({ filter: z.string() }).optional(),
        conditionPrometheusQueryLanguage: z.looseObject({ query: z.string() }).optional(),
      }),
    )
    .length(1),
});
type PolicyFile = z.infer<typeof policyFileSchema>;

function readJsonFiles<T>(folder: string, schema: z.ZodType<T>): Map<string, T> {
  const dir = join(MONITORING_DIR, folder);
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => [
        f.replace(/\.json$/, ""),
        schema.parse(JSON.parse(readFileSync(join(dir, f), "utf8"))),
      ]),
  );
}

const metrics = readJsonFiles("metrics", metricFileSchema);
const policies = readJsonFiles("policies", policyFileSchema);
const dashboards = readdirSync(join(MONITORING_DIR, "dashboards")).filter((f) =>
  f.endsWith(".json"),
);

describe("dashboards", () => {
  it.each(dashboards)("%s charts only the log-based metrics defined here", (file) => {
    const text = readFileSync(join(MONITORING_DIR, "dashboards", file), "utf8");
    const charted = [...text.matchAll(/logging\.googleapis\.com\/user\/([a-z0-9_]+)/g)].map(
      (m) => m[1],
    );
    expect(charted.length).toBeGreaterThan(0);
    for (const name of charted) expect([...metrics.keys()]).toContain(name);
    // Every alert condition's metric has a chart.
    expect(new Set(charted)).toEqual(new Set(metrics.keys()));
    // The logs panel shows the run summaries and the notifications.
    for (const event of ["backup_summary", "notification_sent", "notification_failed"]) {
      expect(text).toContain(`\\"${event}\\"`);
    }
  });
});
const metric = (name: string): MetricFile => {
  const found = metrics.get(name);
  if (!found) throw new Error(`monitoring/metrics/${name}.json is missing`);
  return found;
};

// ---- Real runs ---------------------------------------------------------------------------------

type ScenarioName = "completed" | "failed" | "missing_high" | "out_of_sync";

interface Scenario {
  name: ScenarioName;
  /** Every JSON line the function wrote, as Cloud Logging stores it. */
  entries: CloudLogEntry[];
  summary: CloudLogEntry;
  status: BackupStatusResponse;
}

/** One run of the deployed scheduled function, set up by `prepare`. */
async function runScenario(
  name: ScenarioName,
  prepare: (sandbox: Sandbox, fs: TestFirestore) => Promise<Record<string, string>>,
): Promise<Scenario> {
  const sandbox = await startSandbox({ tokenRequestsPerMinute: null, readsPerMinute: null });
  const fs = createTestFirestore(`mon-${name}`);
  try {
    const overrides = await prepare(sandbox, fs);
    const env = baseEnv({
      ...sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
      GCLOUD_PROJECT: fs.projectId,
      ...overrides,
    });
    const result = await runTs("test/monitoring/run-scheduled-backup.ts", [], env);
    if (result.code !== 0) throw new Error(`the function run failed:\n${result.stderr}`);
    const entries = (["stdout", "stderr"] as const).flatMap((stream) =>
      result[stream]
        .split("\n")
        .map((line) =>
          cloudRunLogEntry(line, { project: PROJECT, service: "officerndatabackup", stream }),
        )
        .filter((e): e is CloudLogEntry => e !== null),
    );
    const summaries = entries.filter((e) => e.jsonPayload.event === "backup_summary");
    if (summaries.length !== 1 || !summaries[0]) {
      throw new Error(
        `expected one backup_summary entry, got ${summaries.length}:\n${result.stdout}\n${result.stderr}`,
      );
    }
    const status = await getBackupStatus(fs.db, { missingAlertThreshold: loadAlertThreshold({}) });
    return { name, entries, summary: summaries[0], status };
  } finally {
    await sandbox.close();
    await fs.close();
  }
}

const scenarios = new Map<ScenarioName, Scenario>();

beforeAll(async () => {
  const runs = await Promise.all([
    runScenario("completed", async (sandbox, fs) => {
      await seedFirestore(fs.db, sandbox.data.snapshot());
      return {};
    }),
    runScenario("failed", async (sandbox, fs) => {
      await seedFirestore(fs.db, sandbox.data.snapshot());
      return { OFFICERND_CLIENT_SECRET: "not-the-secret-0123456789" };
    }),
    runScenario("missing_high", async (sandbox, fs) => {
      const snapshot = sandbox.data.snapshot();
      await seedFirestore(fs.db, { ...snapshot, members: snapshot.members.slice(12) });
      return {};
    }),
    runScenario("out_of_sync", async (sandbox, fs) => {
      // Firestore holds every company; OfficeRnD now lists 40% fewer: the shrink guard holds
      // the removals back and companies stay out of sync.
      await seedFirestore(fs.db, sandbox.data.snapshot());
      const ids = sandbox.data.companies.ids();
      sandbox.data.companies.remove(...ids.slice(0, Math.ceil(ids.length * 0.4)));
      return {};
    }),
  ]);
  for (const run of runs) scenarios.set(run.name, run);
}, 120_000);

function scenario(name: ScenarioName): Scenario {
  const found = scenarios.get(name);
  if (!found) throw new Error(`scenario ${name} did not run`);
  return found;
}

const ALL: ScenarioName[] = ["completed", "failed", "missing_high", "out_of_sync"];
const alertCodes = (s: Scenario): AlertCode[] => s.status.alerts.map((a) => a.code);

describe("the captured runs are what each scenario means", () => {
  it("one backup_summary each, for the run the status shows", () => {
    for (const name of ALL) {
      const s = scenario(name);
      expect(s.summary.jsonPayload.runId).toBe(s.status.backup.runId);
      expect(s.summary.resource.type).toBe("cloud_run_revision");
      expect(s.summary.jsonPayload.trigger).toBe("schedule");
    }
    expect(scenario("completed").status.backup.status).toBe("completed");
    expect(scenario("completed").status.alerts).toEqual([]);
    expect(scenario("failed").status.backup.error?.code).toBe("auth");
    expect(scenario("missing_high").status.backup).toMatchObject({
      status: "completed",
      missingRecords: 12,
    });
    expect(scenario("out_of_sync").status.syncHealth.companies).toBe("out_of_sync");
  });

  it("severity as Cloud Logging shows it: INFO when completed, ERROR when failed", () => {
    expect(scenario("completed").summary.severity).toBe("INFO");
    expect(scenario("failed").summary.severity).toBe("ERROR");
  });
});

describe("log-based metric filters on the backup_summary entries", () => {
  const expected: Record<string, Record<ScenarioName, boolean>> = {
    officernd_backup_failed: {
      completed: false,
      failed: true,
      missing_high: false,
      out_of_sync: true,
    },
    officernd_backup_completed: {
      completed: true,
      failed: false,
      missing_high: true,
      out_of_sync: false,
    },
    officernd_backup_missing_records_high: {
      completed: false,
      failed: false,
      missing_high: true,
      out_of_sync: false,
    },
    officernd_backup_out_of_sync: {
      completed: false,
      failed: false,
      missing_high: false,
      out_of_sync: true,
    },
  };

  it("there is one metric per alert condition, named as the files are", () => {
    expect([...metrics.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [file, m] of metrics) expect(m.name).toBe(file);
  });

  it.each(Object.keys(expected))("%s parses and selects backup_summary entries only", (name) => {
    const { filter } = metric(name);
    expect(() => parseQuery(filter)).not.toThrow();
    expect(filter.startsWith('jsonPayload.event="backup_summary" AND ')).toBe(true);
    // Every other entry the runs wrote (progress, token, reads, failures) stays out.
    for (const s of scenarios.values()) {
      for (const entry of s.entries) {
        if (entry.jsonPayload.event !== "backup_summary")
          expect(matches(filter, entry)).toBe(false);
      }
    }
  });

  it.each(Object.keys(expected))("%s matches exactly the runs it is meant for", (name) => {
    const { filter } = metric(name);
    const got = Object.fromEntries(ALL.map((s) => [s, matches(filter, scenario(s).summary)]));
    expect(got).toEqual(expected[name]);
  });

  it("every field a filter or label extractor reads is in every summary entry", () => {
    for (const m of metrics.values()) {
      const paths = [
        ...fieldPaths(parseQuery(m.filter)),
        ...Object.values(m.labelExtractors ?? {}).map(extractorPath),
      ];
      for (const path of paths) {
        expect(path.startsWith("jsonPayload.")).toBe(true);
        for (const s of scenarios.values()) {
          if (!hasPath(s.summary, path.split("."))) {
            throw new Error(
              `${m.name}: ${path} is not in the ${s.name} run's backup_summary entry`,
            );
          }
        }
      }
    }
  });

  it("agrees with the status endpoint's alerts for the same run", () => {
    for (const name of ALL) {
      const s = scenario(name);
      const codes = alertCodes(s);
      const on = (metricName: string) => matches(metric(metricName).filter, s.summary);
      expect([name, on("officernd_backup_failed")]).toEqual([
        name,
        codes.includes("backup_failed"),
      ]);
      expect([name, on("officernd_backup_missing_records_high")]).toEqual([
        name,
        codes.includes("missing_records_high"),
      ]);
      expect([name, on("officernd_backup_out_of_sync")]).toEqual([
        name,
        codes.includes("out_of_sync"),
      ]);
      // A completed entry is what resets the 48-hour clock: the run that made lastCompleted.
      expect([name, on("officernd_backup_completed")]).toEqual([
        name,
        s.status.backup.status === "completed" && s.status.backup.lastCompleted !== null,
      ]);
    }
  });

  it("label extractors yield the run's trigger and error code", () => {
    const failed = metric("officernd_backup_failed");
    const labels = (m: MetricFile, s: Scenario) =>
      Object.fromEntries(
        Object.entries(m.labelExtractors ?? {}).map(([k, e]) => [k, extract(e, s.summary)]),
      );
    expect(labels(failed, scenario("failed"))).toEqual({ trigger: "schedule", error_code: "auth" });
    expect(labels(failed, scenario("out_of_sync"))).toEqual({
      trigger: "schedule",
      error_code: "shrink_guard",
    });
    for (const m of metrics.values()) {
      const declared = (m.metricDescriptor.labels ?? []).map((l) => l.key).sort();
      expect(Object.keys(m.labelExtractors ?? {}).sort()).toEqual(declared);
    }
  });

  it("the missing-records threshold is BACKUP_MISSING_ALERT_THRESHOLD's default", () => {
    const threshold = /jsonPayload\.missingRecords\s*>\s*(\d+)/.exec(
      metric("officernd_backup_missing_records_high").filter,
    )?.[1];
    expect(Number(threshold)).toBe(loadAlertThreshold({}));
  });

  it("the out_of_sync filter covers every resource the backup mirrors", () => {
    const { filter } = metric("officernd_backup_out_of_sync");
    for (const name of RESOURCE_NAMES) {
      expect(filter).toContain(`jsonPayload.syncHealth.${name}="out_of_sync"`);
    }
    // …and the summary carries a syncHealth for each of them.
    for (const s of scenarios.values()) {
      expect(Object.keys(s.summary.jsonPayload.syncHealth as object).sort()).toEqual(
        [...RESOURCE_NAMES].sort(),
      );
    }
  });
});

describe("alert policies", () => {
  const METRIC_TYPE = /metric\.type\s*=\s*"logging\.googleapis\.com\/user\/([a-z0-9_]+)"/;
  const PROM_METRIC = /logging_googleapis_com:user_([a-z0-9_]+)/;

  it("one per design document condition, each on a metric defined here", () => {
    expect([...policies.keys()].sort()).toEqual([
      "backup-failed",
      "backup-stale",
      "missing-records-high",
      "out-of-sync",
    ]);
    const used = new Map<string, string>();
    for (const [key, policy] of policies) {
      expect(policy.userLabels.officernd_alert).toBe(key);
      const condition = policy.conditions[0];
      const threshold = condition?.conditionThreshold;
      const promql = condition?.conditionPrometheusQueryLanguage;
      const name = threshold
        ? METRIC_TYPE.exec(threshold.filter)?.[1]
        : PROM_METRIC.exec(promql?.query ?? "")?.[1];
      expect(name).toBeDefined();
      expect(metrics.has(name ?? "")).toBe(true);
      if (threshold) expect(threshold.filter).toContain('resource.type="cloud_run_revision"');
      used.set(key, name ?? "");
    }
    expect(Object.fromEntries(used)).toEqual({
      "backup-failed": "officernd_backup_failed",
      "backup-stale": "officernd_backup_completed",
      "missing-records-high": "officernd_backup_missing_records_high",
      "out-of-sync": "officernd_backup_out_of_sync",
    });
  });

  it("the 48-hour one is the absence of completed runs over 48 hours", () => {
    const stale = policies.get("backup-stale") as PolicyFile;
    const query = stale.conditions[0]?.conditionPrometheusQueryLanguage?.query ?? "";
    expect(query).toMatch(
      /^absent_over_time\(logging_googleapis_com:user_officernd_backup_completed\{[^}]*\}\[48h\]\)$/,
    );
    expect(stale.severity).toBe("CRITICAL");
  });

  it("the threshold ones fire on a single matching run", () => {
    for (const key of ["backup-failed", "missing-records-high", "out-of-sync"]) {
      const t = policies.get(key)?.conditions[0]?.conditionThreshold as Record<string, unknown>;
      expect(t).toMatchObject({ comparison: "COMPARISON_GT", thresholdValue: 0, duration: "0s" });
    }
  });
});

// ---- The files as gcloud reads them, and apply.sh ----------------------------------------------

function gcloudSdk(): { root: string; python: string } | null {
  const info = spawnSync(
    "gcloud",
    ["info", "--format=value(installation.sdk_root,basic.python_location)"],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (info.status !== 0) return null;
  const [root, python] = info.stdout.trim().split("\t");
  return root && python ? { root, python } : null;
}

const sdk = gcloudSdk();

(sdk ? describe : describe.skip)("with the installed Google Cloud SDK", () => {
  it("validate.py: every field and enum value is one gcloud's LogMetric / AlertPolicy know", () => {
    const result = spawnSync(
      sdk?.python ?? "python3",
      [join(MONITORING_DIR, "validate.py"), MONITORING_DIR],
      {
        encoding: "utf8",
        env: { ...process.env, PYTHONPATH: `${sdk?.root}/lib:${sdk?.root}/lib/third_party` },
      },
    );
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("validate.py notices a misspelt field", () => {
    const dir = mkdtempSync(join(tmpdir(), "monitoring-"));
    try {
      for (const folder of ["metrics", "policies"]) {
        spawnSync("cp", ["-r", join(MONITORING_DIR, folder), dir]);
      }
      const file = join(dir, "policies", "backup-failed.json");
      writeFileSync(file, readFileSync(file, "utf8").replace('"thresholdValue"', '"treshold"'));
      const result = spawnSync(
        sdk?.python ?? "python3",
        [join(MONITORING_DIR, "validate.py"), dir],
        {
          encoding: "utf8",
          env: { ...process.env, PYTHONPATH: `${sdk?.root}/lib:${sdk?.root}/lib/third_party` },
        },
      );
      expect(result.status).toBe(1);
      expect(result.stdout).toContain("treshold");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("monitoring/apply.sh", () => {
  /**
   * A stand-in `gcloud` first on PATH: `info` is the real SDK's (apply.sh validates the files with
   * it), describe/list answer from `state`, and every command that would change something is
   * logged instead of sent.
   */
  function fakeGcloud(state: {
    metrics: string[];
    policies: { name: string; key: string; channels: string }[];
    dashboards?: { name: string; title: string }[];
  }): { dir: string; log: () => string[] } {
    const dir = mkdtempSync(join(tmpdir(), "fake-gcloud-"));
    const logFile = join(dir, "calls.log");
    writeFileSync(logFile, "");
    const policyLines = state.policies.map((p) => `${p.name}\t${p.key}`).join("\n");
    const dashboardLines = (state.dashboards ?? []).map((d) => `${d.name}\t${d.title}`).join("\n");
    const channels = state.policies
      .map((p) => `${p.name}) echo '${p.channels}';;`)
      .join("\n      ");
    const info = `exec "${spawnSync("which", ["gcloud"], { encoding: "utf8" }).stdout.trim()}" "$@"`;
    const script = `#!/usr/bin/env bash
set -u
case "$1 \${2:-} \${3:-}" in
  "info "*) ${info} ;;
  "logging metrics describe")
    case " ${state.metrics.join(" ")} " in *" $4 "*) echo "projects/p/metrics/$4";; *) exit 1;; esac ;;
  "alpha monitoring policies")
    case "$4" in
      list) printf '%s\\n' "${policyLines}" ;;
      describe)
        case "$5" in
      ${channels}
        esac ;;
      *) printf '%s\\n' "$*" >> "${logFile}" ;;
    esac ;;
  "monitoring dashboards list") printf '%s\\n' "${dashboardLines}" ;;
  "monitoring dashboards describe") echo "etag-of-$4" ;;
  *) printf '%s\\n' "$*" >> "${logFile}" ;;
esac
`;
    writeFileSync(join(dir, "gcloud"), script);
    chmodSync(join(dir, "gcloud"), 0o755);
    return {
      dir,
      log: () =>
        readFileSync(logFile, "utf8")
          .split("\n")
          .filter((l) => l !== ""),
    };
  }

  const apply = (fakeDir: string, args: string[]) =>
    spawnSync("bash", [join(MONITORING_DIR, "apply.sh"), ...args], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${fakeDir}:${process.env.PATH ?? ""}` },
    });

  it("without arguments: usage, exit 2", () => {
    const result = spawnSync("bash", [join(MONITORING_DIR, "apply.sh")], { encoding: "utf8" });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("usage:");
  });

  (sdk ? it : it.skip)(
    "in an empty project: creates every metric and policy, with the channel",
    () => {
      const fake = fakeGcloud({ metrics: [], policies: [] });
      try {
        const result = apply(fake.dir, ["my-project", "12345"]);
        expect(result.stderr).toBe("");
        expect(result.status).toBe(0);
        const calls = fake.log();
        for (const name of metrics.keys()) {
          expect(calls).toContain(
            `logging metrics create ${name} --project my-project --config-from-file ${join(MONITORING_DIR, "metrics", `${name}.json`)}`,
          );
        }
        for (const key of policies.keys()) {
          expect(calls).toContain(
            `alpha monitoring policies create --project my-project --policy-from-file ${join(MONITORING_DIR, "policies", `${key}.json`)} --notification-channels projects/my-project/notificationChannels/12345`,
          );
        }
        for (const file of dashboards) {
          expect(calls).toContain(
            `monitoring dashboards create --project my-project --config-from-file ${join(MONITORING_DIR, "dashboards", file)}`,
          );
        }
        expect(calls).toHaveLength(metrics.size + policies.size + dashboards.length);
      } finally {
        rmSync(fake.dir, { recursive: true, force: true });
      }
    },
  );

  (sdk ? it : it.skip)("run again: updates in place and keeps the policies' channels", () => {
    const existing = [...policies.keys()].map((key, i) => ({
      name: `projects/my-project/alertPolicies/${i + 1}`,
      key,
      channels: i === 0 ? "projects/my-project/notificationChannels/7" : "",
    }));
    const fake = fakeGcloud({
      metrics: [...metrics.keys()],
      policies: existing,
      dashboards: [{ name: "projects/my-project/dashboards/d1", title: "OfficeRnD backup" }],
    });
    try {
      const result = apply(fake.dir, ["my-project"]);
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      const calls = fake.log();
      for (const name of metrics.keys()) {
        expect(calls).toContain(
          `logging metrics update ${name} --project my-project --config-from-file ${join(MONITORING_DIR, "metrics", `${name}.json`)}`,
        );
      }
      for (const [i, p] of existing.entries()) {
        const file = join(MONITORING_DIR, "policies", `${p.key}.json`);
        const keep =
          i === 0 ? " --set-notification-channels projects/my-project/notificationChannels/7" : "";
        expect(calls).toContain(
          `alpha monitoring policies update ${p.name} --project my-project --policy-from-file ${file}${keep}`,
        );
      }
      expect(calls.filter((c) => c.startsWith("monitoring dashboards update "))).toEqual([
        expect.stringMatching(
          /^monitoring dashboards update projects\/my-project\/dashboards\/d1 --project my-project --config-from-file \S+$/,
        ),
      ]);
      expect(calls.some((c) => c.includes(" create "))).toBe(false);
    } finally {
      rmSync(fake.dir, { recursive: true, force: true });
    }
  });
});
