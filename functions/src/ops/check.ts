import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { AxiosInstance } from "axios";
import { Redactor } from "../shared/redactor";
import type { OfficeRndConfig } from "../config";
import {
  createHttp,
  errorDetail,
  exchange,
  excerpt,
  TransportFailure,
  type HttpAnswer,
} from "../officernd/http";
import { tokenRequest } from "../officernd/auth";
import { classifyAnswer } from "../officernd/answers";
import { parsePage } from "../officernd/pages";
import { resourcePageUrl } from "../officernd/query";
import { ReadBudget, type ReadBudgetReport } from "../officernd/rate-limit";
import { RESOURCE_NAMES, resourceDefinition, type ResourceName } from "../officernd/resources";
import { tokenResponseSchema } from "../officernd/schemas";
import { OfficeRndError } from "../officernd/types";
import { formatDuration, formatReadBudget } from "./common";

/**
 * `officernd-backup check`: OfficeRnD connectivity, the way the design document's
 * `curl -H "Authorization: Bearer $TOKEN" …/members` tests it, but safely and step by step:
 * the token request (client credentials, the backup's read scopes), the scopes granted against
 * the scopes needed, then one page of each resource, each with its latency and a verdict that
 * names the cause (bad credentials, missing scope, wrong org slug, throttled, unreachable, …).
 *
 * It goes through the client's HTTP layer (../officernd/http.ts: no redirects followed, no
 * request details in errors) but not through the client itself: a check makes one attempt per
 * step (no retries, no backoff), and needs what the client hides on purpose (the raw status,
 * the OAuth error code, the granted scopes, per-request latency). The token and the client
 * secret never leave this module: every message is redacted before it is stored in the report.
 * It makes at most 4 token requests (1, plus one per scope when a scope is refused), under
 * OfficeRnD's ~5 a minute, and 3 API reads.
 */

export const CHECK_VERDICTS = [
  "ok",
  "bad_credentials",
  "missing_scope",
  "wrong_org_slug",
  "forbidden",
  "throttled",
  "unreachable",
  "server_error",
  "wrong_url",
  "invalid_response",
  "invalid_records",
  "bad_request",
  "skipped",
] as const;
export type CheckVerdict = (typeof CHECK_VERDICTS)[number];

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
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  now?: () => Date;
}

const DEFAULT_TIMEOUT_MS = 15_000;

type Failure = { verdict: Exclude<CheckVerdict, "ok" | "skipped">; message: string };

interface TokenGrant {
  ok: true;
  token: string;
  /** Null when the response has no `scope`. */
  granted: string[] | null;
  expiresIn: number;
  status: number;
  latencyMs: number;
}

interface TokenRefusal extends Failure {
  ok: false;
  status: number | null;
  latencyMs: number | null;
}

type TokenAttempt = TokenGrant | TokenRefusal;

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function oauthErrorCode(body: string): string | null {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object" && "error" in parsed) {
      return typeof parsed.error === "string" ? parsed.error : null;
    }
  } catch {
    // not JSON
  }
  return null;
}

function unreachable(error: TransportFailure, url: string, timeoutMs: number): Failure {
  return {
    verdict: "unreachable",
    message:
      error.kind === "timeout"
        ? `no answer from ${origin(url)} within ${formatDuration(timeoutMs)}`
        : `could not connect to ${origin(url)} (${error.code ?? "network error"})`,
  };
}

/** What any answer that is not a success means, for both endpoints. */
function commonFailure(answer: HttpAnswer, variable: string): Failure | null {
  const detail = errorDetail(answer.body, answer.contentType);
  const { status } = answer;
  if (status >= 300 && status < 400) {
    return {
      verdict: "wrong_url",
      message: `${status}: a redirect (not followed, the credentials would go along); check ${variable}`,
    };
  }
  if (status === 429) {
    const after = answer.retryAfter === null ? "" : `, Retry-After ${answer.retryAfter}`;
    return {
      verdict: "throttled",
      message: `429 (${detail}${after}): OfficeRnD's rate limit; try again in a minute`,
    };
  }
  if (status >= 500) {
    return {
      verdict: "server_error",
      message: `${status} (${detail}): OfficeRnD is failing; see its status page and retry later`,
    };
  }
  return null;
}

class Checker {
  private readonly redactor = new Redactor();
  private readonly agents = {
    httpAgent: new HttpAgent({ keepAlive: false }),
    httpsAgent: new HttpsAgent({ keepAlive: false }),
  };
  private readonly http: AxiosInstance = createHttp(this.agents);
  private readonly timeoutMs: number;
  /** What OfficeRnD's rate-limit headers said, across the check's reads. */
  readonly budget = new ReadBudget();

  constructor(
    private readonly config: OfficeRndConfig,
    options: CheckOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.redactor.add(config.clientSecret);
  }

  close(): void {
    this.agents.httpAgent.destroy();
    this.agents.httpsAgent.destroy();
  }

  redact(text: string): string {
    return this.redactor.redact(text);
  }

  async requestToken(scopes: readonly string[]): Promise<TokenAttempt> {
    const { config } = this;
    const started = Date.now();
    let answer: HttpAnswer;
    try {
      answer = await exchange(this.http, tokenRequest(config, scopes.join(" "), this.timeoutMs));
    } catch (error) {
      if (!(error instanceof TransportFailure)) throw error;
      return {
        ok: false,
        status: null,
        latencyMs: Date.now() - started,
        ...unreachable(error, config.tokenUrl, this.timeoutMs),
      };
    }
    const refusal = (failure: Failure): TokenRefusal => ({
      ok: false,
      status: answer.status,
      latencyMs: answer.durationMs,
      verdict: failure.verdict,
      message: this.redact(failure.message),
    });
    if (answer.status === 200) {
      let json: unknown;
      try {
        json = JSON.parse(answer.body);
      } catch {
        const what = /html/i.test(answer.contentType)
          ? "an HTML page"
          : `"${excerpt(answer.body, 60)}"`;
        return refusal({
          verdict: "invalid_response",
          message: `200 but not JSON (${what}): is OFFICERND_TOKEN_URL OfficeRnD's token endpoint?`,
        });
      }
      const parsed = tokenResponseSchema.safeParse(json);
      if (!parsed.success) {
        return refusal({
          verdict: "invalid_response",
          message: "200 but not an OAuth token response: check OFFICERND_TOKEN_URL",
        });
      }
      this.redactor.add(parsed.data.access_token);
      const scope = parsed.data.scope;
      return {
        ok: true,
        token: parsed.data.access_token,
        granted: scope === undefined ? null : scope.split(/\s+/).filter((s) => s !== ""),
        expiresIn: parsed.data.expires_in,
        status: 200,
        latencyMs: answer.durationMs,
      };
    }
    const common = commonFailure(answer, "OFFICERND_TOKEN_URL");
    if (common) return refusal(common);
    const detail = errorDetail(answer.body, answer.contentType);
    const code = oauthErrorCode(answer.body);
    if (code === "invalid_scope") {
      return refusal({
        verdict: "missing_scope",
        message: `${answer.status} (${detail}): the OfficeRnD application is not granted every scope the backup needs`,
      });
    }
    if (
      answer.status === 401 ||
      answer.status === 403 ||
      code === "invalid_client" ||
      code === "unauthorized_client" ||
      code === "invalid_grant" ||
      code === "access_denied"
    ) {
      return refusal({
        verdict: "bad_credentials",
        message: `${answer.status} (${detail}): OfficeRnD refused the client credentials; check OFFICERND_CLIENT_ID and OFFICERND_CLIENT_SECRET`,
      });
    }
    if (answer.status === 404) {
      return refusal({
        verdict: "wrong_url",
        message: `404 (${detail}): no token endpoint there; check OFFICERND_TOKEN_URL`,
      });
    }
    return refusal({ verdict: "bad_request", message: `${answer.status} (${detail})` });
  }

  /** One page of one resource with `token`. */
  async readFirstPage(
    resource: ResourceName,
    token: string,
    granted: readonly string[] | null,
  ): Promise<CheckStep> {
    const { config } = this;
    const definition = resourceDefinition(resource);
    const url = resourcePageUrl(config, resource);
    const step = (
      verdict: CheckVerdict,
      message: string,
      httpStatus: number | null,
      latencyMs: number | null,
    ): CheckStep => ({
      step: resource,
      ok: verdict === "ok",
      verdict,
      message: this.redact(message),
      httpStatus,
      latencyMs,
    });
    const started = Date.now();
    let answer: HttpAnswer;
    try {
      answer = await exchange(this.http, {
        method: "GET",
        url,
        headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
        timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      if (!(error instanceof TransportFailure)) throw error;
      const failure = unreachable(error, url, this.timeoutMs);
      return step(failure.verdict, failure.message, null, Date.now() - started);
    }
    const { status, durationMs } = answer;
    this.budget.observe(answer.rateHeaders, Date.now());
    this.budget.started(started);
    if (status === 200) {
      try {
        const page = parsePage(resource, 1, answer.body, answer.contentType);
        const more = page.cursorNext !== null ? ", more pages follow" : "";
        if (page.rejected.length > 0) {
          const reasons = [...new Set(page.rejected.map((r) => r.reason))].slice(0, 3).join("; ");
          return step(
            "invalid_records",
            `${page.rejected.length} of ${page.records.length + page.rejected.length} record(s) on the first page fail validation (${reasons}); a backup would not remove orphans and would fail`,
            status,
            durationMs,
          );
        }
        return step(
          "ok",
          `${page.records.length} record(s) on the first page${more}`,
          status,
          durationMs,
        );
      } catch (error) {
        if (!(error instanceof OfficeRndError)) throw error;
        return step("invalid_response", error.message, status, durationMs);
      }
    }
    const classified = classifyAnswer(status, answer.body, answer.contentType, {
      scope: definition.scope,
      orgSlug: config.orgSlug,
      withCursor: false,
      dayQuotaSpent: this.budget.dayExhausted(Date.now()),
    });
    if (classified.code === "org_not_found") {
      return step("wrong_org_slug", classified.message, status, durationMs);
    }
    if (classified.code === "quota_exhausted") {
      return step("throttled", classified.message, status, durationMs);
    }
    const common = commonFailure(answer, "OFFICERND_API_URL");
    if (common) return step(common.verdict, common.message, status, durationMs);
    const detail = errorDetail(answer.body, answer.contentType);
    if (status === 401) {
      return step(
        "bad_credentials",
        `401 (${detail}): the API refused a token its identity server had just issued; OFFICERND_TOKEN_URL and OFFICERND_API_URL may point at different OfficeRnD environments`,
        status,
        durationMs,
      );
    }
    if (status === 403) {
      const hasScope = granted !== null && granted.includes(definition.scope);
      return hasScope
        ? step(
            "forbidden",
            `403 (${detail}) although the token carries ${definition.scope}: is the application installed in organization ${config.orgSlug}?`,
            status,
            durationMs,
          )
        : step(
            "missing_scope",
            `403 (${detail}): the token lacks ${definition.scope}; grant it to the OfficeRnD application`,
            status,
            durationMs,
          );
    }
    if (status === 404) {
      return step(
        "wrong_org_slug",
        `404 (${detail}): check OFFICERND_ORG_SLUG (${config.orgSlug}) and OFFICERND_API_URL`,
        status,
        durationMs,
      );
    }
    return step("bad_request", `${status} (${detail})`, status, durationMs);
  }
}

function skipped(step: CheckStepName, message: string): CheckStep {
  return { step, ok: false, verdict: "skipped", message, httpStatus: null, latencyMs: null };
}

/** Runs every step; never throws for what OfficeRnD answers (only for a bug). */
export async function checkOfficeRnd(
  config: OfficeRndConfig,
  options: CheckOptions = {},
): Promise<CheckReport> {
  const now = options.now ?? (() => new Date());
  const needed = RESOURCE_NAMES.map((n) => resourceDefinition(n).scope);
  const checker = new Checker(config, options);
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
      for (const name of RESOURCE_NAMES) {
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
      if (main.verdict === "missing_scope") {
        // Which ones: ask for each scope alone (and read with the tokens that come back).
        granted = [];
        for (const name of RESOURCE_NAMES) {
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
        for (const name of RESOURCE_NAMES) noToken.set(name, null);
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
    for (const name of RESOURCE_NAMES) {
      const access = tokens.get(name);
      if (access) {
        steps.push(await checker.readFirstPage(name, access.token, access.granted));
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
    .filter((s) => (RESOURCE_NAMES as string[]).includes(s.step) && s.httpStatus !== null)
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
