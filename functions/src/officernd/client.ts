import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { OfficeRndConfig } from "../config";
import { logs } from "../logs";
import { createTokenProvider } from "./auth";
import { createHttp, errorDetail, exchange, Redactor, TransportFailure } from "./http";
import { createReadLimiter } from "./limiter";
import { collectPages, paginate, parsePage, resourcePageUrl, type ParsedPage } from "./pages";
import { RESOURCE_NAMES, readScopes, resourceDefinition, type ResourceName } from "./resources";
import {
  abortError,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  withRetries,
  type AttemptOutcome,
  type RetryPolicy,
} from "./retry";
import {
  OfficeRndError,
  type ClientStats,
  type ListOptions,
  type OfficeRndReader,
  type ResourceListing,
  type ResourcePage,
} from "./types";

/**
 * The OfficeRnD v2 client shared by the backup, the status endpoint and the CLI: token, read
 * limiter, retries and pagination wired together. One instance per run: its token, its read
 * budget and its counters are the run's.
 */

export interface OfficeRndClientOptions {
  /** Per request (headers and body). Default 30 s. */
  timeoutMs?: number;
  /** Attempts per page request. Default 5. */
  maxAttempts?: number;
  /** Cap on all attempts and waits of one page request. Default 180 s. */
  maxTotalMs?: number;
  /** Backoff base (full jitter, doubling). Default 500 ms. */
  baseDelayMs?: number;
  /** Backoff ceiling. Default 20 s. */
  maxDelayMs?: number;
  /** Longest Retry-After honoured. Default 90 s. */
  maxRetryAfterMs?: number;
  /** Runaway guard per listing. Default 10,000 pages (500,000 records). */
  maxPages?: number;
  /** API requests in flight at once (the resources are read side by side). Default 4. */
  maxConcurrent?: number;
  /** Fetch the next page while the consumer handles the current one. Default true. */
  prefetch?: boolean;
  /** Attempts per token request (only 429/5xx/network are retried). Default 3. */
  tokenMaxAttempts?: number;
  /** Token endpoint calls this instance allows itself per minute. Default 5. */
  tokenRequestsPerMinute?: number;
  /** Renew the token this long before it expires. Default min(60 s, lifetime / 10). */
  tokenRefreshMarginMs?: number;
  /** Resources whose read scopes the token asks for. Default: every registered resource. */
  resources?: readonly ResourceName[];
  httpAgent?: HttpAgent;
  httpsAgent?: HttpsAgent;
  /** Jitter source (tests may pin it). */
  random?: () => number;
}

export interface OfficeRndClient extends OfficeRndReader {
  stats(): Required<ClientStats>;
  /** Every record of one resource at once (pages() is the streaming shape). */
  readAll(resource: ResourceName, options?: ListOptions): Promise<ResourceListing>;
  /** Releases the client's sockets and timers. */
  close(): void;
}

function hint(status: number, resource: ResourceName, config: OfficeRndConfig): string {
  if (status === 403) {
    return `; the OfficeRnD application needs the ${resourceDefinition(resource).scope} scope`;
  }
  if (status === 404) {
    return `; check OFFICERND_ORG_SLUG (${config.orgSlug}) and OFFICERND_API_URL`;
  }
  return "";
}

export function createOfficeRndClient(
  config: OfficeRndConfig,
  options: OfficeRndClientOptions = {},
): OfficeRndClient {
  const maxConcurrent = options.maxConcurrent ?? 4;
  const policy: RetryPolicy = {
    timeoutMs: options.timeoutMs ?? DEFAULT_RETRY_POLICY.timeoutMs,
    maxAttempts: options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
    maxTotalMs: options.maxTotalMs ?? DEFAULT_RETRY_POLICY.maxTotalMs,
    baseDelayMs: options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_RETRY_POLICY.maxRetryAfterMs,
  };
  const maxPages = options.maxPages ?? 10_000;
  const prefetch = options.prefetch ?? true;

  const ownAgents: { destroy(): void }[] = [];
  const httpAgent =
    options.httpAgent ?? new HttpAgent({ keepAlive: true, maxSockets: maxConcurrent + 2 });
  const httpsAgent =
    options.httpsAgent ?? new HttpsAgent({ keepAlive: true, maxSockets: maxConcurrent + 2 });
  if (!options.httpAgent) ownAgents.push(httpAgent);
  if (!options.httpsAgent) ownAgents.push(httpsAgent);
  const http = createHttp({ httpAgent, httpsAgent });

  const redactor = new Redactor();
  const stats: Required<ClientStats> = {
    requests: 0,
    tokenRequests: 0,
    retries: 0,
    throttled: 0,
    waitMs: 0,
    pages: 0,
    records: 0,
    rejected: 0,
    limiterWaitMs: 0,
    maxInFlight: 0,
  };
  const tokens = createTokenProvider(config, {
    http,
    redactor,
    scopes: readScopes(options.resources ?? RESOURCE_NAMES),
    policy: { ...policy, maxAttempts: options.tokenMaxAttempts ?? 3 },
    refreshMarginMs: options.tokenRefreshMarginMs,
    maxRequestsPerMinute: options.tokenRequestsPerMinute ?? 5,
    random: options.random,
    onRequest: () => {
      stats.tokenRequests += 1;
    },
  });
  const limiter = createReadLimiter({ readsPerMinute: config.readsPerMinute, maxConcurrent });

  function pageUrl(resource: ResourceName, cursor: string | null, list: ListOptions): string {
    return resourcePageUrl(config, resource, {
      cursor,
      ...(list.modifiedSince !== undefined ? { modifiedSince: list.modifiedSince } : {}),
    });
  }

  function fetchPage(
    resource: ResourceName,
    page: number,
    cursor: string | null,
    signal: AbortSignal,
    list: ListOptions,
  ): Promise<ParsedPage> {
    const url = pageUrl(resource, cursor, list);
    const where = `OfficeRnD ${resource} page ${page}`;
    const fail = (code: OfficeRndError["code"], message: string, status: number | null) =>
      new OfficeRndError(code, redactor.redact(`${where}: ${message}`), { resource, page, status });
    let lastToken = "";
    let retryWaitMs = 0;

    const attempt = async (n: number): Promise<AttemptOutcome<ParsedPage>> => {
      const token = await tokens.get(signal);
      lastToken = token;
      return limiter.schedule(async (queuedMs): Promise<AttemptOutcome<ParsedPage>> => {
        if (signal.aborted) throw abortError(signal);
        stats.requests += 1;
        stats.limiterWaitMs += queuedMs;
        const waitMs = queuedMs + retryWaitMs;
        let answer;
        try {
          answer = await exchange(http, {
            method: "GET",
            url,
            headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
            timeoutMs: policy.timeoutMs,
            signal,
          });
        } catch (error: unknown) {
          if (!(error instanceof TransportFailure)) throw error;
          logs.officeRndRequest({
            resource,
            page,
            status: null,
            attempt: n,
            waitMs,
            durationMs: 0,
          });
          const code = error.kind === "timeout" ? "timeout" : "network";
          const message =
            error.kind === "timeout" ? `no answer within ${policy.timeoutMs} ms` : error.message;
          return { ok: false, action: "backoff", error: fail(code, message, null) };
        }
        const { status, durationMs } = answer;
        if (status === 200) {
          let parsed: ParsedPage;
          try {
            parsed = parsePage(resource, page, answer.body, answer.contentType);
          } finally {
            logs.officeRndRequest({ resource, page, status, attempt: n, waitMs, durationMs });
          }
          return { ok: true, value: parsed };
        }
        logs.officeRndRequest({ resource, page, status, attempt: n, waitMs, durationMs });
        const detail = `${status} (${errorDetail(answer.body, answer.contentType)})`;
        if (status === 429) {
          stats.throttled += 1;
          const retryAfterMs = parseRetryAfter(answer.retryAfter);
          // Every queued request of the run waits, not only this one.
          if (retryAfterMs !== null)
            limiter.pauseFor(Math.min(retryAfterMs, policy.maxRetryAfterMs));
          return {
            ok: false,
            action: "retry-after",
            retryAfterMs,
            error: fail("throttled", detail, status),
          };
        }
        if (status >= 500) {
          return { ok: false, action: "backoff", error: fail("server", detail, status) };
        }
        if (status === 401) {
          return { ok: false, action: "renew-token", error: fail("auth", detail, status) };
        }
        const code =
          status === 403
            ? "forbidden"
            : status === 404
              ? "not_found"
              : status >= 400
                ? "bad_request"
                : "invalid_response";
        const message =
          status >= 300 && status < 400
            ? `${status} redirect, not followed (the bearer token would go along)`
            : `${detail}${hint(status, resource, config)}`;
        return { ok: false, action: "fail", error: fail(code, message, status) };
      });
    };

    return withRetries(attempt, policy, {
      signal,
      random: options.random,
      renewToken: () => tokens.invalidate(lastToken),
      onRetry: ({ attempt: n, error, action, waitMs }) => {
        stats.retries += 1;
        stats.waitMs += waitMs;
        retryWaitMs = waitMs;
        logs.officeRndRetry({
          resource,
          page,
          attempt: n,
          status: error.status,
          reason:
            action === "renew-token"
              ? "401: renewing the access token"
              : error.message.slice(`${where}: `.length),
          waitMs,
        });
      },
    });
  }

  async function* pages(
    resource: ResourceName,
    list: ListOptions = {},
  ): AsyncGenerator<ResourcePage, void, undefined> {
    const fetcher = (page: number, cursor: string | null, signal: AbortSignal) =>
      fetchPage(resource, page, cursor, signal, list);
    for await (const page of paginate(resource, fetcher, {
      maxPages,
      prefetch,
      signal: list.signal,
    })) {
      stats.pages += 1;
      stats.records += page.records.length;
      stats.rejected += page.rejected.length;
      yield page;
    }
  }

  const client: OfficeRndClient = {
    pages,
    readAll: (resource, list) => collectPages(client, resource, list),
    stats: () => ({ ...stats, maxInFlight: limiter.stats().maxInFlight }),
    close() {
      limiter.stop();
      for (const agent of ownAgents) agent.destroy();
    },
  };
  return client;
}
