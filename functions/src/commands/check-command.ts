import type { OfficeRndConfig } from "../config";
import { RESOURCE_NAMES, resourceDefinition, type ResourceName } from "../officernd/resources";
import type { ReadBudgetReport } from "../officernd/rate-limit";
import { CheckProbes, type CheckVerdict, type Failure } from "./check-probes";
import { formatDuration, formatReadBudget } from "./format";

export { CHECK_VERDICTS, type CheckVerdict } from "./check-probes";

/**
 * `officernd-backup check`: OfficeRnD connectivity, the way the design document's
 * `curl -H "Authorization: Bearer $TOKEN" …/members` tests it, but safely and step by step:
 * the token request (client credentials, the backup's read scopes), the scopes granted against
 * the scopes needed, then one page of each resource, each with its latency and a verdict that
 * names the cause (bad credentials, missing scope, wrong org slug, throttled, unreachable, …).
 *
 * The probes (./check-probes.ts) make one attempt per step and judge answers with the client's
 * own classifier; every message is redacted before it is stored in the report.
 * It makes at most 4 token requests (1, plus one per scope when a scope is refused), under
 * OfficeRnD's ~5 a minute, and 3 API reads.
 */

export type CheckStepName = "token" | "scopes" | ResourceName;

export interface CheckStep {
  step: CheckStepName;
  ok: boolean;
  verdict: CheckVerdict;
  /** One line: what was seen and what to do. Never the token or the secret. */
  message: string;
  /** HTTP status of the step's request; null when there was no answer or no request. */
  httpStatus: number | null;
  latencyMs: number | null;
}

export interface CheckReport {
  /** Every step passed. */
  ok: boolean;
  checkedAt: string;
  target: { orgSlug: string; clientId: string; tokenUrl: string; apiUrl: string };
  steps: CheckStep[];
  scopes: {
    /** What the backup asks for: the read scope of each resource. */
    needed: string[];
    /** What the token response says was granted; null when it does not say. */
    granted: string[] | null;
    missing: string[];
  };
  /** OfficeRnD's read budget after the check's reads (its rate-limit headers). */
  readBudget: ReadBudgetReport;
  latency: {
    tokenMs: number | null;
    /** Over the resource reads that got an answer. */
    apiMinMs: number | null;
    apiMeanMs: number | null;
    apiMaxMs: number | null;
  };
}

export interface CheckOptions {
  /** The data types to check (BACKUP_RESOURCES). Default: every registered one. */
  resources?: readonly ResourceName[];
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  now?: () => Date;
}

const DEFAULT_TIMEOUT_MS = 15_000;

function skipped(step: CheckStepName, message: string): CheckStep {
  return { step, ok: false, verdict: "skipped", message, httpStatus: null, latencyMs: null };
}

/** Runs every step; never throws for what OfficeRnD answers (only for a bug). */
export async function checkOfficeRnd(
  config: OfficeRndConfig,
  options: CheckOptions = {},
): Promise<CheckReport> {
  const now = options.now ?? (() => new Date());
  // The data types this deployment mirrors (BACKUP_RESOURCES); by default every one.
  const types = options.resources ?? RESOURCE_NAMES;
  const needed = types.map((n) => resourceDefinition(n).scope);
  const checker = new CheckProbes(config, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const steps: CheckStep[] = [];
  /** Token to read each resource with. */
  const tokens = new Map<ResourceName, { token: string; granted: string[] | null }>();
  /** Why a resource has no token. */
  const noToken = new Map<ResourceName, Failure | null>();
  let granted: string[] | null = null;
  let missing: string[] = [];
  let tokenMs: number | null;
  try {
    // 1. The token, for every scope the backup asks for.
    const main = await checker.requestToken(needed);
    tokenMs = main.latencyMs;
    if (main.ok) {
      granted = main.granted;
      missing = granted === null ? [] : needed.filter((s) => !granted?.includes(s));
      steps.push({
        step: "token",
        ok: true,
        verdict: "ok",
        message: `access token issued (expires in ${main.expiresIn} s)`,
        httpStatus: main.status,
        latencyMs: main.latencyMs,
      });
      for (const name of types) {
        tokens.set(name, { token: main.token, granted: main.granted });
      }
    } else {
      steps.push({
        step: "token",
        ok: false,
        verdict: main.verdict,
        message: main.message,
        httpStatus: main.status,
        latencyMs: main.latencyMs,
      });
      const refused = main.refused.filter((scope) => needed.includes(scope));
      if (main.verdict === "missing_scope" && refused.length > 0) {
        // OfficeRnD named them: one more request, for the rest (the token endpoint allows ~5 a
        // minute; asking for each scope alone would take one request per data type).
        missing = refused;
        granted = needed.filter((scope) => !refused.includes(scope));
        const rest = granted.length > 0 ? await checker.requestToken(granted) : null;
        for (const name of types) {
          const scope = resourceDefinition(name).scope;
          if (refused.includes(scope)) {
            noToken.set(name, { verdict: "missing_scope", message: `not granted: ${scope}` });
          } else if (rest?.ok) {
            tokens.set(name, { token: rest.token, granted: rest.granted ?? granted });
          } else {
            noToken.set(name, rest ? { verdict: rest.verdict, message: rest.message } : null);
          }
        }
        const tokenStep = steps[steps.length - 1];
        if (tokenStep)
          tokenStep.message = `${tokenStep.message} (not granted: ${missing.join(", ")})`;
      } else if (main.verdict === "missing_scope") {
        // Which ones: ask for each scope alone (and read with the tokens that come back).
        granted = [];
        for (const name of types) {
          const scope = resourceDefinition(name).scope;
          const probe = await checker.requestToken([scope]);
          if (probe.ok) {
            granted.push(scope);
            tokens.set(name, { token: probe.token, granted: probe.granted ?? [scope] });
          } else if (probe.verdict === "missing_scope") {
            missing.push(scope);
            noToken.set(name, { verdict: "missing_scope", message: `not granted: ${scope}` });
          } else {
            noToken.set(name, { verdict: probe.verdict, message: probe.message });
          }
        }
        const tokenStep = steps[steps.length - 1];
        if (tokenStep && missing.length > 0) {
          tokenStep.message = `${tokenStep.message} (not granted: ${missing.join(", ")})`;
        }
      } else {
        for (const name of types) noToken.set(name, null);
      }
    }

    // 2. Scopes granted against scopes needed.
    const tokenStep = steps[0];
    if (tokenStep?.ok || tokenStep?.verdict === "missing_scope") {
      const unknown = [...noToken.values()].filter(
        (f): f is Failure => f !== null && f.verdict !== "missing_scope",
      );
      if (missing.length > 0) {
        steps.push({
          step: "scopes",
          ok: false,
          verdict: "missing_scope",
          message: `not granted: ${missing.join(", ")}; grant it to the OfficeRnD application (read scopes only)`,
          httpStatus: null,
          latencyMs: null,
        });
      } else if (unknown.length > 0) {
        steps.push(
          skipped(
            "scopes",
            `could not tell which scope is refused: ${unknown[0]?.message ?? "token request failed"}`,
          ),
        );
      } else {
        steps.push({
          step: "scopes",
          ok: true,
          verdict: "ok",
          message:
            granted === null
              ? `the token response lists no scopes; the reads below show what it may read (needed: ${needed.join(", ")})`
              : `granted every scope needed: ${needed.join(", ")}`,
          httpStatus: null,
          latencyMs: null,
        });
      }
    } else {
      steps.push(skipped("scopes", "no token: nothing to compare"));
    }

    // 3. One page of each resource.
    for (const name of types) {
      const access = tokens.get(name);
      if (access) {
        const probe = await checker.readFirstPage(name, access.token, access.granted);
        steps.push({ step: name, ok: probe.verdict === "ok", ...probe });
        continue;
      }
      const why = noToken.get(name);
      if (why?.verdict === "missing_scope") {
        steps.push({
          step: name,
          ok: false,
          verdict: "missing_scope",
          message: `not read: the OfficeRnD application is not granted ${resourceDefinition(name).scope}`,
          httpStatus: null,
          latencyMs: null,
        });
      } else {
        steps.push(skipped(name, `not read: no access token${why ? ` (${why.message})` : ""}`));
      }
    }
  } finally {
    checker.close();
  }

  const reads = steps
    .filter((s) => (types as readonly string[]).includes(s.step) && s.httpStatus !== null)
    .map((s) => s.latencyMs)
    .filter((ms): ms is number => ms !== null);
  return {
    ok: steps.every((s) => s.ok),
    checkedAt: now().toISOString(),
    target: {
      orgSlug: config.orgSlug,
      clientId: config.clientId,
      tokenUrl: config.tokenUrl,
      apiUrl: config.apiUrl,
    },
    steps,
    scopes: { needed, granted, missing },
    readBudget: checker.budget.report(),
    latency: {
      tokenMs,
      apiMinMs: reads.length === 0 ? null : Math.min(...reads),
      apiMeanMs:
        reads.length === 0 ? null : Math.round(reads.reduce((a, b) => a + b, 0) / reads.length),
      apiMaxMs: reads.length === 0 ? null : Math.max(...reads),
    },
  };
}

export function formatCheck(report: CheckReport): string {
  const firstFailure = report.steps.find((s) => !s.ok && s.verdict !== "skipped");
  const lines = [
    `OfficeRnD connectivity check: ${report.ok ? "PASSED" : `FAILED (${firstFailure?.verdict ?? "incomplete"})`}`,
    `  organization ${report.target.orgSlug}, client ${report.target.clientId}`,
    `  token endpoint ${report.target.tokenUrl}`,
    `  API            ${report.target.apiUrl}`,
    "",
  ];
  const width = Math.max(...report.steps.map((s) => s.step.length));
  const verdictWidth = Math.max(...report.steps.map((s) => s.verdict.length));
  for (const s of report.steps) {
    const mark = s.ok ? "[pass]" : s.verdict === "skipped" ? "[skip]" : "[FAIL]";
    const latency = s.latencyMs === null ? "" : formatDuration(s.latencyMs);
    lines.push(
      `  ${mark} ${s.step.padEnd(width)}  ${s.verdict.padEnd(verdictWidth)}  ${latency.padStart(8)}  ${s.message}`,
    );
  }
  const l = report.latency;
  lines.push("");
  lines.push(
    `  scopes granted: ${report.scopes.granted === null ? "not listed by the token response" : report.scopes.granted.join(" ") || "none"}`,
  );
  lines.push(`  read budget: ${formatReadBudget(report.readBudget)}`);
  lines.push(
    `  latency: token ${formatDuration(l.tokenMs)}; API ` +
      (l.apiMeanMs === null
        ? "no answer"
        : `min ${formatDuration(l.apiMinMs)}, mean ${formatDuration(l.apiMeanMs)}, max ${formatDuration(l.apiMaxMs)} (one page per resource)`),
  );
  return lines.join("\n");
}
