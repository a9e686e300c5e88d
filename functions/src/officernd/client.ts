import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { OfficeRndConfig } from "../config";
import { logs } from "../logs";
import { createTokenProvider } from "./token";
import { Redactor } from "../shared/redactor";
import { createHttp, exchange, excerpt, TransportFailure } from "./http";
import { createReadLimiter, quotaExhaustedError } from "./limiter";
import { classifyAnswer } from "./answers";
import { collectPages, paginate, parsePage, type ParsedPage } from "./pages";
import { resourceCountUrl, resourcePageUrl, resourceRecordUrl } from "./query";
import { RESOURCE_NAMES, readScopes, resourceDefinition, type ResourceName } from "./resources";
import {
  abortError,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  withRetries,
  type AttemptOutcome,
  type RetryPolicy,
} from "./retry";
import { countResponseSchema } from "./schemas";
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

function safeJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export interface OfficeRndClient extends OfficeRndReader {
  stats(): Required<ClientStats>;
  count(resource: ResourceName, options?: { signal?: AbortSignal }): Promise<number | null>;
  exists(resource: ResourceName, id: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Every record of one resource at once (pages() is the streaming shape). */
  readAll(resource: ResourceName, options?: ListOptions): Promise<ResourceListing>;
  /** Releases the client's sockets and timers. */
  close(): void;
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
    budget: { used: 0, minute: null, day: null },
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

  /**
   * One GET of the API under the read limiter and the retry policy: the body of a 200 is handed
   * to `parse`; every other answer is judged by the shared classifier.
   */
  function fetchJudged<T>(
    request: {
      resource: ResourceName;
      page: number | null;
      url: string;
      withCursor: boolean;
      priority?: number;
    },
    where: string,
    signal: AbortSignal,
    parse: (body: string, contentType: string) => T,
  ): Promise<T> {
    const { resource, url } = request;
    const page = request.page ?? 0;
    const fail = (code: OfficeRndError["code"], message: string, status: number | null) =>
      new OfficeRndError(code, redactor.redact(`${where}: ${message}`), {
        resource,
        page: request.page,
        status,
      });
    let lastToken = "";
    let retryWaitMs = 0;

    const attempt = async (n: number): Promise<AttemptOutcome<T>> => {
      const token = await tokens.get(signal);
      lastToken = token;
      return limiter.schedule(
        async (queuedMs): Promise<AttemptOutcome<T>> => {
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
          limiter.observe(answer.rateHeaders);
          if (status === 200) {
            let parsed: T;
            try {
              parsed = parse(answer.body, answer.contentType);
            } finally {
              logs.officeRndRequest({ resource, page, status, attempt: n, waitMs, durationMs });
            }
            return { ok: true, value: parsed };
          }
          logs.officeRndRequest({ resource, page, status, attempt: n, waitMs, durationMs });
          const verdict = classifyAnswer(status, answer.body, answer.contentType, {
            scope: resourceDefinition(resource).scope,
            orgSlug: config.orgSlug,
            withCursor: request.withCursor,
            dayQuotaSpent: limiter.dayExhausted(),
          });
          if (status === 429) {
            stats.throttled += 1;
            // Retry-After when OfficeRnD sends one (not documented); else the spent minute's
            // reset; else back off.
            const retryAfterMs =
              parseRetryAfter(answer.retryAfter) ?? limiter.spentMinuteResetInMs();
            // Every queued request of the run waits, not only this one.
            if (retryAfterMs !== null && verdict.action !== "fail")
              limiter.pauseFor(Math.min(retryAfterMs, policy.maxRetryAfterMs));
            if (verdict.code === "quota_exhausted") {
              const resetAt = limiter.budget().day?.resetAt;
              const error = quotaExhaustedError(resetAt ? Date.parse(resetAt) : null);
              return { ok: false, action: "fail", error: fail(error.code, error.message, status) };
            }
            return {
              ok: false,
              action: verdict.action,
              retryAfterMs,
              error: fail(verdict.code, verdict.message, status),
            };
          }
          return {
            ok: false,
            action: verdict.action,
            error: fail(verdict.code, verdict.message, status),
          };
        },
        signal,
        request.priority,
      );
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
    // Built once up front: a filter the resource does not accept fails before any request.
    resourcePageUrl(config, resource, { filters: list.filters });
    const fetcher = (page: number, cursor: string | null, signal: AbortSignal) =>
      fetchJudged(
        {
          resource,
          page,
          url: resourcePageUrl(config, resource, { cursor, filters: list.filters }),
          withCursor: cursor !== null,
          priority: list.priority,
        },
        `OfficeRnD ${resource} page ${page}`,
        signal,
        (body, contentType): ParsedPage => parsePage(resource, page, body, contentType),
      );
    for await (const page of paginate(resource, fetcher, {
      maxPages,
      prefetch: list.prefetch ?? prefetch,
      signal: list.signal,
      cursor: list.cursor,
    })) {
      stats.pages += 1;
      stats.records += page.records.length;
      stats.rejected += page.rejected.length;
      yield page;
    }
  }

  /** `GET /{resource}/count` → `{"total": N}`; null for resources without the endpoint. */
  async function count(
    resource: ResourceName,
    list: { signal?: AbortSignal } = {},
  ): Promise<number | null> {
    const url = resourceCountUrl(config, resource);
    if (url === null) return null;
    const where = `OfficeRnD ${resource} count`;
    return fetchJudged(
      { resource, page: null, url, withCursor: false },
      where,
      list.signal ?? new AbortController().signal,
      (body) => {
        const parsed = countResponseSchema.safeParse(safeJson(body));
        if (!parsed.success) {
          throw new OfficeRndError(
            "invalid_response",
            `${where}: expected {"total": N}, got ${excerpt(body, 80)}`,
            { resource, status: 200 },
          );
        }
        return parsed.data.total;
      },
    );
  }

  /** `GET /{resource}/{id}`: 200 → true, 404 → false (the listing of the same path worked). */
  async function exists(
    resource: ResourceName,
    id: string,
    list: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const url = resourceRecordUrl(config, resource, id);
    try {
      return await fetchJudged(
        { resource, page: null, url, withCursor: false },
        `OfficeRnD ${resource} record ${id}`,
        list.signal ?? new AbortController().signal,
        () => true,
      );
    } catch (error) {
      if (error instanceof OfficeRndError && error.code === "not_found") return false;
      throw error;
    }
  }

  const client: OfficeRndClient = {
    pages,
    count,
    exists,
    readAll: (resource, list) => collectPages(client, resource, list),
    stats: () => ({
      ...stats,
      maxInFlight: limiter.stats().maxInFlight,
      budget: limiter.budget(),
    }),
    close() {
      limiter.stop();
      for (const agent of ownAgents) agent.destroy();
    },
  };
  return client;
}
