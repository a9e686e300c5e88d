import Bottleneck from "bottleneck";
import { ReadBudget, type ReadBudgetReport } from "./rate-limit";
import { abortError, sleep } from "./retry";
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
 *
 * Requests carry a priority (bottleneck's scale: 0 first, 9 last, default 5), honoured both for
 * the slots in flight (bottleneck's own queue) and at the gate (the waiter with the best priority
 * passes next; equal ones in arrival order). A backup lists one type as one cursor chain, each
 * page asked for after the last one's answer, while a split type is several ranges whose work
 * can spread over the slots (../backup/split-listing.ts): a chain served whenever it is ready
 * ends as soon as its latency allows, where first come, first served made it wait its turn
 * behind the ranges and end last.
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
  /**
   * Requests waiting now, a lower bound: queued for a slot or at the budget gate. Bottleneck
   * admits a scheduled job to its queue a few event-loop turns later (its submissions are
   * serialized, each after a `setTimeout(0)`), and a job it has taken off its queue starts a turn
   * later: such jobs are not counted.
   */
  waiting: number;
}

export interface ReadLimiter {
  /**
   * Runs `fn` when both limits allow; `fn` receives how long it waited. Rejects with an
   * OfficeRndError `quota_exhausted` when the daily quota is spent, or the signal's reason.
   */
  schedule<T>(
    fn: (queuedMs: number) => Promise<T>,
    signal?: AbortSignal,
    priority?: number,
  ): Promise<T>;
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

/** Bottleneck's default priority (0 first, 9 last). */
export const DEFAULT_PRIORITY = 5;

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
  const stats: Omit<ReadLimiterStats, "waiting"> = {
    started: 0,
    maxInFlight: 0,
    queuedMs: 0,
    budgetWaitMs: 0,
  };
  let inFlight = 0;
  const stopped = new AbortController();

  /**
   * The budget gate: requests wait here for the budget's go, one passes at a time (so spacing
   * decisions do not race), the best priority first.
   */
  interface Waiter {
    priority: number;
    seq: number;
    pass: () => void;
    fail: (error: Error) => void;
  }
  const waiting: Waiter[] = [];
  let seq = 0;
  let pumping = false;

  function next(): Waiter | undefined {
    let best: Waiter | undefined;
    for (const w of waiting) {
      if (best === undefined || w.priority < best.priority) best = w;
      else if (w.priority === best.priority && w.seq < best.seq) best = w;
    }
    return best;
  }

  async function pump(): Promise<void> {
    pumping = true;
    try {
      while (waiting.length > 0) {
        const verdict = budget.verdict(inFlight, now());
        if (verdict.kind === "quota_exhausted") {
          const error = quotaExhaustedError(verdict.resetAt);
          for (const w of waiting.splice(0)) w.fail(error);
          return;
        }
        if (verdict.kind === "wait") {
          stats.budgetWaitMs += verdict.ms;
          await sleep(verdict.ms, stopped.signal).catch(() => undefined);
          if (stopped.signal.aborted) {
            for (const w of waiting.splice(0)) w.fail(abortError(stopped.signal));
            return;
          }
          continue;
        }
        const chosen = next();
        if (chosen === undefined) return;
        waiting.splice(waiting.indexOf(chosen), 1);
        chosen.pass();
      }
    } finally {
      pumping = false;
    }
  }

  function passGate(signal: AbortSignal, priority: number): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        seq: seq++,
        pass: () => {
          signal.removeEventListener("abort", onAbort);
          // Counted as started before the gate looks at the next waiter.
          budget.started(now());
          inFlight += 1;
          resolve();
        },
        fail: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        const at = waiting.indexOf(waiter);
        if (at >= 0) waiting.splice(at, 1);
        reject(abortError(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      waiting.push(waiter);
      if (!pumping) void pump();
    });
  }

  return {
    schedule<T>(
      fn: (queuedMs: number) => Promise<T>,
      signal?: AbortSignal,
      priority = DEFAULT_PRIORITY,
    ): Promise<T> {
      const queuedAt = now();
      const cancel = signal ? AbortSignal.any([signal, stopped.signal]) : stopped.signal;
      const rank = Math.min(9, Math.max(0, Math.round(priority)));
      return bottleneck.schedule({ priority: rank }, async () => {
        await passGate(cancel, rank);
        const queuedMs = now() - queuedAt;
        stats.started += 1;
        stats.queuedMs += queuedMs;
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
    stats: () => ({ ...stats, waiting: bottleneck.queued() + waiting.length }),
    budget: () => budget.report(),
    stop(): void {
      stopped.abort(new Error("read limiter stopped"));
    },
  };
}
