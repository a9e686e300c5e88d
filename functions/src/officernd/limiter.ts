import Bottleneck from "bottleneck";

/**
 * The client-side read budget, shared by every request of one client instance (one run).
 *
 * Built on bottleneck (CommonJS, typed, widely used): `minTime` spaces request starts evenly at
 * 60 000 / readsPerMinute ms, so no sliding minute ever holds more than the budget and the run
 * never bursts into OfficeRnD's limit; `maxConcurrent` bounds requests in flight while the
 * resources are read side by side; and its reservoir lets a 429 pause every queued request at
 * once until Retry-After has passed, after which they resume spaced, not in a burst.
 */

export interface ReadLimiterOptions {
  readsPerMinute: number;
  maxConcurrent: number;
}

export interface ReadLimiterStats {
  /** Requests started through the limiter. */
  started: number;
  /** Most requests in flight at once. */
  maxInFlight: number;
  /** Total time requests spent queued (spacing, concurrency and 429 pauses). */
  queuedMs: number;
}

export interface ReadLimiter {
  /** Runs `fn` when the budget allows; `fn` receives how long it waited in the queue. */
  schedule<T>(fn: (queuedMs: number) => Promise<T>): Promise<T>;
  /** OfficeRnD answered 429: no request starts until `ms` from now. */
  pauseFor(ms: number): void;
  /** Spacing between request starts. */
  readonly intervalMs: number;
  stats(): ReadLimiterStats;
  /** Ends any pause and drops its timer; queued jobs still run (cancelled ones end at once). */
  stop(): void;
}

export function createReadLimiter(options: ReadLimiterOptions): ReadLimiter {
  if (!(options.readsPerMinute > 0)) throw new Error("readsPerMinute must be > 0");
  if (!(options.maxConcurrent >= 1)) throw new Error("maxConcurrent must be ≥ 1");
  const intervalMs = Math.ceil(60_000 / options.readsPerMinute);
  const bottleneck = new Bottleneck({
    minTime: intervalMs,
    maxConcurrent: Math.floor(options.maxConcurrent),
  });
  const stats: ReadLimiterStats = { started: 0, maxInFlight: 0, queuedMs: 0 };
  let inFlight = 0;
  let pausedUntil = 0;
  let resumeTimer: NodeJS.Timeout | null = null;

  const resume = () => {
    resumeTimer = null;
    void bottleneck.updateSettings({ reservoir: null });
  };

  return {
    intervalMs,
    schedule<T>(fn: (queuedMs: number) => Promise<T>): Promise<T> {
      const queuedAt = Date.now();
      return bottleneck.schedule(async () => {
        const queuedMs = Date.now() - queuedAt;
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
    pauseFor(ms: number): void {
      const until = Date.now() + Math.max(0, ms);
      if (until <= pausedUntil) return;
      pausedUntil = until;
      void bottleneck.updateSettings({ reservoir: 0 });
      if (resumeTimer !== null) clearTimeout(resumeTimer);
      resumeTimer = setTimeout(resume, until - Date.now());
      resumeTimer.unref();
    },
    stats: () => ({ ...stats }),
    stop(): void {
      if (resumeTimer !== null) clearTimeout(resumeTimer);
      if (pausedUntil > Date.now()) resume();
      resumeTimer = null;
    },
  };
}
