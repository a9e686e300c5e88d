import Bottleneck from "bottleneck";
import { ReadBudget, type ReadBudgetReport } from "./rate-limit";
import { sleep } from "./retry";
import { OfficeRndError } from "./types";

/**
 * The read limiter shared by every request of one client instance (one run). bottleneck
 * (CommonJS, typed, widely used) bounds the requests in flight (`maxConcurrent`) while the
 * resources are read side by side; a gate in front of each request, passed by one request at a
 * time, applies the timing of ./rate-limit.ts, where the tighter of two limits wins:
 * - our own ceiling, `readsPerMinute` (OFFICERND_READS_PER_MINUTE): at most that many starts in
 *   any 60 s (a sliding window; evenly spaced for a minute after a 429), leaving room in the
 *   organization's budget for its other integrations;
 * - OfficeRnD's own figures, from the rate-limit headers of its answers: wait when the minute's
 *   budget runs low or out, or after a 429; fail at once when the daily quota is spent.
 */

export interface ReadLimiterOptions {
  readsPerMinute: number;
  maxConcurrent: number;
  /** The ceiling's window (tests shorten it); default a minute. */
  windowMs?: number;
  /** Clock for the budget (tests). */
  now?: () => number;
}

export interface ReadLimiterStats {
  /** Requests started through the limiter. */
  started: number;
  /** Most requests in flight at once. */
  maxInFlight: number;
  /** Total time requests spent queued (spacing, concurrency, budget waits and 429 pauses). */
  queuedMs: number;
  /** Of that, time spent waiting for OfficeRnD's budget (headers and 429s). */
  budgetWaitMs: number;
}

export interface ReadLimiter {
  /**
   * Runs `fn` when both limits allow; `fn` receives how long it waited. Rejects with an
   * OfficeRndError `quota_exhausted` when the daily quota is spent, or the signal's reason.
   */
  schedule<T>(fn: (queuedMs: number) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** An answer arrived: its rate-limit headers (lower-case names). */
  observe(headers: Readonly<Record<string, string>>): void;
  /** OfficeRnD answered 429: no request starts until `ms` from now. */
  pauseFor(ms: number): void;
  /** For a 429 without Retry-After: until the spent minute window resets; null: back off. */
  spentMinuteResetInMs(): number | null;
  /** The latest figures say the daily quota is spent. */
  dayExhausted(): boolean;
  stats(): ReadLimiterStats;
  budget(): ReadBudgetReport;
  /** Drops timers; queued jobs still run (cancelled ones end at once). */
  stop(): void;
}

export function quotaExhaustedError(resetAt: number | null): OfficeRndError {
  const when =
    resetAt === null
      ? "OfficeRnD did not say when it resets"
      : `it resets at ${new Date(resetAt).toISOString()}`;
  return new OfficeRndError(
    "quota_exhausted",
    `OfficeRnD's daily read quota is spent (x-ratelimit-remaining-read-day: 0); ${when}. ` +
      "Nothing was changed; run again after the reset",
  );
}

export function createReadLimiter(options: ReadLimiterOptions): ReadLimiter {
  if (!(options.readsPerMinute > 0)) throw new Error("readsPerMinute must be > 0");
  if (!(options.maxConcurrent >= 1)) throw new Error("maxConcurrent must be ≥ 1");
  const now = options.now ?? Date.now;
  const bottleneck = new Bottleneck({ maxConcurrent: Math.floor(options.maxConcurrent) });
  const budget = new ReadBudget({
    readsPerWindow: options.readsPerMinute,
    windowMs: options.windowMs ?? 60_000,
  });
  const stats: ReadLimiterStats = { started: 0, maxInFlight: 0, queuedMs: 0, budgetWaitMs: 0 };
  let inFlight = 0;
  const stopped = new AbortController();
  /** One request at a time passes the budget gate, so spacing decisions do not race. */
  let gate: Promise<void> = Promise.resolve();

  async function passGate(signal: AbortSignal): Promise<void> {
    for (;;) {
      const verdict = budget.verdict(inFlight, now());
      if (verdict.kind === "go") return;
      if (verdict.kind === "quota_exhausted") throw quotaExhaustedError(verdict.resetAt);
      stats.budgetWaitMs += verdict.ms;
      await sleep(verdict.ms, signal);
    }
  }

  return {
    schedule<T>(fn: (queuedMs: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
      const queuedAt = now();
      const cancel = signal ? AbortSignal.any([signal, stopped.signal]) : stopped.signal;
      return bottleneck.schedule(async () => {
        const turn = gate.then(() => passGate(cancel));
        gate = turn.catch(() => undefined);
        await turn;
        const queuedMs = now() - queuedAt;
        budget.started(now());
        stats.started += 1;
        stats.queuedMs += queuedMs;
        inFlight += 1;
        stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
        try {
          return await fn(queuedMs);
        } finally {
          inFlight -= 1;
        }
      });
    },
    observe: (headers) => budget.observe(headers, now()),
    pauseFor: (ms) => budget.pauseFor(ms, now()),
    spentMinuteResetInMs: () => budget.spentMinuteResetInMs(now()),
    dayExhausted: () => budget.dayExhausted(now()),
    stats: () => ({ ...stats }),
    budget: () => budget.report(),
    stop(): void {
      stopped.abort(new Error("read limiter stopped"));
    },
  };
}
