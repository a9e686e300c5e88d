import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { AxiosInstance } from "axios";
import type { OfficeRndConfig } from "../config";
import {
  classifyAnswer,
  classifyTokenAnswer,
  DIAGNOSES,
  scopesNamedIn,
  type AnswerVerdict,
} from "../officernd/answers";
import {
  createHttp,
  exchange,
  excerpt,
  TransportFailure,
  type HttpAnswer,
} from "../officernd/http";
import { parsePage } from "../officernd/pages";
import { resourcePageUrl } from "../officernd/query";
import { ReadBudget } from "../officernd/rate-limit";
import { resourceDefinition, type ResourceName } from "../officernd/resources";
import { tokenResponseSchema } from "../officernd/schemas";
import { tokenRequest } from "../officernd/token";
import { OfficeRndError } from "../officernd/types";
import { Redactor } from "../shared/redactor";
import { formatDuration } from "./format";

/**
 * The two probes of `check`, one attempt each (no retries, no backoff): a token request and one
 * page of a resource. They go through the client's HTTP layer (no redirects followed, no request
 * details in errors) and judge answers with the client's own classifier (officernd/answers.ts),
 * but see what the client hides on purpose: the raw status, the granted scopes, the latency. The
 * token and the client secret never leave this module: every message is redacted.
 */

export const CHECK_VERDICTS = [
  "ok",
  ...DIAGNOSES,
  "unreachable",
  "invalid_response",
  "invalid_records",
  "skipped",
] as const;
export type CheckVerdict = (typeof CHECK_VERDICTS)[number];

export type Failure = { verdict: Exclude<CheckVerdict, "ok" | "skipped">; message: string };

export interface TokenGrant {
  ok: true;
  token: string;
  /** Null when the response has no `scope`. */
  granted: string[] | null;
  expiresIn: number;
  status: number;
  latencyMs: number;
}

export interface TokenRefusal extends Failure {
  ok: false;
  status: number | null;
  latencyMs: number | null;
  /** Scopes the refusal names as not granted (none when it does not say). */
  refused: string[];
}

export type TokenAttempt = TokenGrant | TokenRefusal;

export interface PageProbe {
  verdict: Exclude<CheckVerdict, "skipped">;
  message: string;
  httpStatus: number | null;
  latencyMs: number | null;
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
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

/** The classifier's verdict, with the advice an operator running `check` needs. */
function advise(judged: AnswerVerdict, answer: HttpAnswer): Failure {
  if (judged.diagnosis === "throttled" && judged.code !== "quota_exhausted") {
    const after = answer.retryAfter === null ? "" : `, Retry-After ${answer.retryAfter}`;
    return {
      verdict: "throttled",
      message: `${judged.message}${after}: OfficeRnD's rate limit; try again in a minute`,
    };
  }
  if (judged.diagnosis === "server_error" && judged.code === "server") {
    return {
      verdict: "server_error",
      message: `${judged.message}: OfficeRnD is failing; see its status page and retry later`,
    };
  }
  return { verdict: judged.diagnosis, message: judged.message };
}

export class CheckProbes {
  private readonly redactor = new Redactor();
  private readonly agents = {
    httpAgent: new HttpAgent({ keepAlive: false }),
    httpsAgent: new HttpsAgent({ keepAlive: false }),
  };
  private readonly http: AxiosInstance = createHttp(this.agents);
  /** What OfficeRnD's rate-limit headers said, across the check's reads. */
  readonly budget = new ReadBudget();

  constructor(
    private readonly config: OfficeRndConfig,
    private readonly timeoutMs: number,
  ) {
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
      const failure = unreachable(error, config.tokenUrl, this.timeoutMs);
      return { ok: false, status: null, latencyMs: Date.now() - started, refused: [], ...failure };
    }
    const refusal = (failure: Failure): TokenRefusal => ({
      ok: false,
      status: answer.status,
      latencyMs: answer.durationMs,
      verdict: failure.verdict,
      message: this.redact(failure.message),
      refused: failure.verdict === "missing_scope" ? scopesNamedIn(answer.body) : [],
    });
    if (answer.status !== 200) {
      const judged = classifyTokenAnswer(
        answer.status,
        answer.body,
        answer.contentType,
        scopes.join(" "),
      );
      return refusal(advise(judged, answer));
    }
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

  /** One page of one resource with `token`. */
  async readFirstPage(
    resource: ResourceName,
    token: string,
    granted: readonly string[] | null,
  ): Promise<PageProbe> {
    const { config } = this;
    const url = resourcePageUrl(config, resource);
    const probe = (
      failure: { verdict: PageProbe["verdict"]; message: string },
      httpStatus: number | null,
      latencyMs: number | null,
    ): PageProbe => ({ ...failure, message: this.redact(failure.message), httpStatus, latencyMs });
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
      return probe(unreachable(error, url, this.timeoutMs), null, Date.now() - started);
    }
    const { status, durationMs } = answer;
    this.budget.observe(answer.rateHeaders, Date.now());
    this.budget.started(started);
    if (status !== 200) {
      const scope = resourceDefinition(resource).scope;
      const judged = classifyAnswer(status, answer.body, answer.contentType, {
        scope,
        scopeGranted: granted === null ? null : granted.includes(scope),
        orgSlug: config.orgSlug,
        withCursor: false,
        dayQuotaSpent: this.budget.dayExhausted(Date.now()),
      });
      return probe(advise(judged, answer), status, durationMs);
    }
    try {
      const page = parsePage(resource, 1, answer.body, answer.contentType);
      if (page.rejected.length > 0) {
        const reasons = [...new Set(page.rejected.map((r) => r.reason))].slice(0, 3).join("; ");
        const total = page.records.length + page.rejected.length;
        return probe(
          {
            verdict: "invalid_records",
            message: `${page.rejected.length} of ${total} record(s) on the first page fail validation (${reasons}); a backup would not remove orphans and would fail`,
          },
          status,
          durationMs,
        );
      }
      const more = page.cursorNext !== null ? ", more pages follow" : "";
      return probe(
        { verdict: "ok", message: `${page.records.length} record(s) on the first page${more}` },
        status,
        durationMs,
      );
    } catch (error) {
      if (!(error instanceof OfficeRndError)) throw error;
      return probe({ verdict: "invalid_response", message: error.message }, status, durationMs);
    }
  }
}
