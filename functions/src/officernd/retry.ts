import { OfficeRndError } from "./types";

/**
 * Retry policy for OfficeRnD calls. Hand-written on purpose: the loop is small, and what matters
 * is the decision per answer (429 waits for Retry-After, 5xx/network/timeouts back off with full
 * jitter, 401 renews the token once, other 4xx fail at once) under one cap on attempts and one on
 * total time, cancellable by an AbortSignal. p-retry is ESM-only (it does not load under this
 * CommonJS build and jest), and async-retry/axios-retry know neither Retry-After dates nor a
 * renew-the-token-once step, so they would need this same code around them.
 */

export interface RetryPolicy {
  /** Per attempt, headers and body included. */
  timeoutMs: number;
  /** Attempts per call, the first included (a single token-renewal retry comes on top). */
  maxAttempts: number;
  /** All attempts and waits of one call. */
  maxTotalMs: number;
  /** Backoff: attempt n waits random(0, min(maxDelayMs, baseDelayMs * 2^(n-1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After honoured; a longer one fails the call as throttled. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  timeoutMs: 30_000,
  maxAttempts: 5,
  maxTotalMs: 180_000,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 90_000,
};

/** What to do after a failed attempt. */
export type RetryAction =
  /** Transient (5xx, network, timeout): back off with full jitter. */
  | "backoff"
  /** 429: wait for Retry-After (or back off when it is missing). */
  | "retry-after"
  /** 401: renew the access token once and retry once. */
  | "renew-token"
  /** Permanent: fail now. */
  | "fail";

export type AttemptOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: OfficeRndError; action: RetryAction; retryAfterMs?: number | null };

export interface RetryEvent {
  /** The attempt that failed (1-based). */
  attempt: number;
  error: OfficeRndError;
  action: RetryAction;
  waitMs: number;
}

export interface RetryHooks {
  signal?: AbortSignal;
  /** Called before each wait (for logs and stats). */
  onRetry?: (event: RetryEvent) => void;
  /** Drops the token that got the 401 so the next attempt fetches a new one. */
  renewToken?: () => void;
  /** Jitter source; tests may pin it. */
  random?: () => number;
}

/** Full jitter (AWS architecture blog): spreads retries of concurrent callers evenly. */
export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | null {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const text = String(value).trim();
  if (text === "") return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** What a cancelled call throws: the signal's reason when it is an Error (AbortError, …). */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error("aborted");
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function gaveUp(error: OfficeRndError, why: string): OfficeRndError {
  return new OfficeRndError(error.code, `${error.message} (${why})`, {
    resource: error.resource,
    page: error.page,
    status: error.status,
  });
}

/**
 * Runs `attempt` until it succeeds or the policy says stop; throws the last OfficeRndError with
 * how many attempts and how long were spent, or the signal's reason when cancelled.
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<AttemptOutcome<T>>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<T> {
  const started = Date.now();
  let renewed = false;
  let counted = 0;
  for (let n = 1; ; n += 1) {
    if (hooks.signal?.aborted) throw abortError(hooks.signal);
    const outcome = await attempt(n);
    if (outcome.ok) return outcome.value;
    const { error, action } = outcome;
    counted += 1;

    if (action === "fail") throw error;
    if (action === "renew-token") {
      if (renewed || hooks.renewToken === undefined) {
        throw new OfficeRndError(
          "auth",
          `${error.message}, again after renewing the access token`,
          {
            resource: error.resource,
            page: error.page,
            status: error.status,
          },
        );
      }
      renewed = true;
      counted -= 1; // the one renewal retry does not use up the attempt budget
      hooks.renewToken();
      hooks.onRetry?.({ attempt: n, error, action, waitMs: 0 });
      continue;
    }

    const elapsed = Date.now() - started;
    if (counted >= policy.maxAttempts) {
      throw gaveUp(error, `gave up after ${counted} attempts in ${seconds(elapsed)}`);
    }
    let waitMs = backoffDelay(counted, policy, hooks.random);
    if (action === "retry-after" && outcome.retryAfterMs != null) {
      if (outcome.retryAfterMs > policy.maxRetryAfterMs) {
        throw gaveUp(
          error,
          `Retry-After ${seconds(outcome.retryAfterMs)} is longer than the ${seconds(policy.maxRetryAfterMs)} allowed`,
        );
      }
      waitMs = outcome.retryAfterMs;
    }
    if (elapsed + waitMs > policy.maxTotalMs) {
      throw gaveUp(
        error,
        `gave up after ${counted} attempts: waiting ${seconds(waitMs)} more would pass the ${seconds(policy.maxTotalMs)} limit`,
      );
    }
    hooks.onRetry?.({ attempt: n, error, action, waitMs });
    await sleep(waitMs, hooks.signal);
  }
}
