import type { AxiosInstance } from "axios";
import type { Redactor } from "../shared/redactor";
import type { OfficeRndConfig } from "../config";
import { logs } from "../logs";
import { classifyTokenAnswer } from "./answers";
import { exchange, excerpt, type HttpRequest, TransportFailure } from "./http";
import {
  abortError,
  parseRetryAfter,
  withRetries,
  type AttemptOutcome,
  type RetryPolicy,
} from "./retry";
import { tokenResponseSchema } from "./schemas";
import { OfficeRndError } from "./types";

/**
 * OAuth2 client credentials against OfficeRnD's identity server. One token per client instance,
 * kept in memory until shortly before it expires; concurrent callers share one request. The token
 * endpoint allows about 5 requests a minute, so this never loops on it: bad credentials or scopes
 * fail at once (code "auth"), 429/5xx/network get a few spaced retries, and a hard cap on calls
 * per minute stops any caller that would keep asking.
 */

export interface TokenProviderOptions {
  http: AxiosInstance;
  redactor: Redactor;
  /** Space-separated scopes to request (the narrowest read scopes). */
  scopes: string;
  /** Retry policy of a token call; maxAttempts is kept small. */
  policy: RetryPolicy;
  /** Renew this long before expiry. Default: 60 s, or a tenth of the lifetime if shorter. */
  refreshMarginMs?: number;
  /** Token endpoint calls allowed per sliding minute by this instance. Default 5. */
  maxRequestsPerMinute?: number;
  random?: () => number;
  /** Called for each HTTP call to the token endpoint. */
  onRequest?: () => void;
}

export interface TokenProvider {
  /** A valid access token: cached, or fetched (one request shared by concurrent callers). */
  get(signal?: AbortSignal): Promise<string>;
  /** A 401 proved `token` dead: forget it if it is still the cached one. */
  invalidate(token: string): void;
}

interface CachedToken {
  value: string;
  renewAt: number;
}

function raceAbort<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The client-credentials request of OfficeRnD's token endpoint (shared with the `check` command). */
export function tokenRequest(
  config: Pick<OfficeRndConfig, "tokenUrl" | "clientId" | "clientSecret">,
  scope: string,
  timeoutMs: number,
): HttpRequest {
  return {
    method: "POST",
    url: config.tokenUrl,
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    },
    data: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: config.clientId,
      client_secret: config.clientSecret,
      scope,
    }).toString(),
    timeoutMs,
  };
}

export function createTokenProvider(
  config: Pick<OfficeRndConfig, "tokenUrl" | "clientId" | "clientSecret">,
  options: TokenProviderOptions,
): TokenProvider {
  const { http, redactor, policy } = options;
  const maxPerMinute = options.maxRequestsPerMinute ?? 5;
  redactor.add(config.clientSecret);
  const recentCalls: number[] = [];
  let cached: CachedToken | null = null;
  let inflight: Promise<string> | null = null;

  const prefix = "OfficeRnD token request failed: ";
  const fail = (code: OfficeRndError["code"], message: string, status: number | null = null) =>
    new OfficeRndError(code, redactor.redact(`${prefix}${message}`), { status });

  async function attempt(): Promise<AttemptOutcome<string>> {
    const now = Date.now();
    while (recentCalls.length > 0 && (recentCalls[0] ?? 0) <= now - 60_000) recentCalls.shift();
    if (recentCalls.length >= maxPerMinute) {
      return {
        ok: false,
        action: "fail",
        error: fail(
          "throttled",
          `${recentCalls.length} calls in the last minute already; not calling the token endpoint again (it allows about 5 a minute)`,
        ),
      };
    }
    recentCalls.push(now);
    options.onRequest?.();

    let answer;
    try {
      answer = await exchange(http, tokenRequest(config, options.scopes, policy.timeoutMs));
    } catch (error: unknown) {
      if (!(error instanceof TransportFailure)) throw error;
      const code = error.kind === "timeout" ? "timeout" : "network";
      return { ok: false, action: "backoff", error: fail(code, error.message) };
    }

    const { status, body, contentType } = answer;
    if (status === 200) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        const what = /html/i.test(contentType) ? "an HTML page" : `"${excerpt(body, 60)}"`;
        return {
          ok: false,
          action: "fail",
          error: fail("invalid_response", `200 but the body is not JSON (${what})`, status),
        };
      }
      const token = tokenResponseSchema.safeParse(parsed);
      if (!token.success) {
        const issue = token.error.issues[0];
        const where = issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "invalid";
        return {
          ok: false,
          action: "fail",
          error: fail("invalid_response", `200 but not a token response (${where})`, status),
        };
      }
      const { access_token: value, expires_in: expiresIn, scope } = token.data;
      redactor.add(value);
      const lifetimeMs = expiresIn * 1000;
      const margin = options.refreshMarginMs ?? Math.min(60_000, lifetimeMs / 10);
      cached = { value, renewAt: Date.now() + Math.max(0, lifetimeMs - margin) };
      logs.tokenFetched({ durationMs: answer.durationMs, expiresIn, scope: scope ?? null });
      return { ok: true, value };
    }

    const judged = classifyTokenAnswer(status, body, contentType, options.scopes);
    return {
      ok: false,
      action: judged.action,
      retryAfterMs: judged.action === "retry-after" ? parseRetryAfter(answer.retryAfter) : null,
      error: fail(judged.code, judged.message, status),
    };
  }

  async function fetchToken(): Promise<string> {
    return withRetries(attempt, policy, {
      random: options.random,
      onRetry: ({ attempt: n, error, waitMs }) =>
        logs.tokenRetry({
          attempt: n,
          status: error.status,
          reason: error.message.slice(prefix.length),
          waitMs,
        }),
    });
  }

  return {
    get(signal?: AbortSignal): Promise<string> {
      if (cached !== null && Date.now() < cached.renewAt) return Promise.resolve(cached.value);
      cached = null;
      // Shared by every caller; one caller's cancellation must not cancel it for the others.
      inflight ??= fetchToken().finally(() => {
        inflight = null;
      });
      return raceAbort(inflight, signal);
    },
    invalidate(token: string): void {
      if (cached?.value === token) {
        cached = null;
        logs.tokenInvalidated({ reason: "401 from the API" });
      }
    },
  };
}
