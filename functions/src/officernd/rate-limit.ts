import { z } from "zod";

/**
 * OfficeRnD's read budget as its own answers state it. Live (Feb 2026, docs/officernd-api.md),
 * every API response carries `x-ratelimit-{limit,remaining,reset}-read-minute` and
 * `…-read-day`: a per-minute budget and a daily quota. What `reset` means (seconds from now, or
 * a time) is not documented, so both are read. Whether a 429 carries Retry-After is not
 * documented either: without it, the minute window's reset says when to try again.
 *
 * `ReadBudget` turns those figures (and our own ceiling) into waits: requests go out as fast as
 * our ceiling allows while the minute budget is comfortable, are spread over the rest of the
 * window when it runs low, and wait for the window to reset when it is spent, so a 429 the
 * headers announced is never provoked. A spent daily quota ends the run at once
 * (`quotaExhausted`): waiting hours inside a function is no option, and retrying would spend
 * nothing but time.
 *
 * Our own ceiling (OFFICERND_READS_PER_MINUTE) is a sliding window: at most that many starts in
 * any 60 s. That is exactly "N reads a minute" whichever minute OfficeRnD counts, so it leaves
 * other integrations the same room as even spacing did, without making a run that needs fewer
 * reads than a minute's budget wait between them (even spacing made three listings read side by
 * side share one start every 150 ms, and the longest one's cursor chain wait for its turn).
 * After a 429 our view of the budget was wrong (another integration spends it too): until a
 * window has passed, starts are spaced evenly again, so a paused queue does not burst.
 */

export const RATE_WINDOWS = ["minute", "day"] as const;
export type RateWindowName = (typeof RATE_WINDOWS)[number];

/** One window as last stated by OfficeRnD; the stored and reported shape. */
export const rateWindowSchema = z.object({
  limit: z.number().int().min(0),
  remaining: z.number().int().min(0),
  /** When the window resets (ISO 8601); null when the header was absent or unreadable. */
  resetAt: z.iso.datetime().nullable(),
});
export type RateWindow = z.infer<typeof rateWindowSchema>;

/** What a run (or `check`) used of the read budget and what OfficeRnD said was left. */
export const readBudgetSchema = z.object({
  /** API requests this client made (each counts against both windows). */
  used: z.number().int().min(0),
  /** The latest figures OfficeRnD sent; null when its answers carried no such headers. */
  minute: rateWindowSchema.nullable(),
  day: rateWindowSchema.nullable(),
});
export type ReadBudgetReport = z.infer<typeof readBudgetSchema>;

/** Epoch seconds are ≥ 1e9 (2001); smaller numbers are seconds from now. */
const EPOCH_SECONDS_FLOOR = 1e9;
const EPOCH_MS_FLOOR = 1e12;

/** `reset` as an epoch time (ms): seconds from now, epoch seconds or ms, or an HTTP/ISO date. */
export function parseReset(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    if (n >= EPOCH_MS_FLOOR) return Math.round(n);
    if (n >= EPOCH_SECONDS_FLOOR) return Math.round(n * 1000);
    return now + Math.round(n * 1000);
  }
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : at;
}

export interface ObservedWindow {
  limit: number;
  remaining: number;
  resetAt: number | null;
}

/** The minute and day windows of one answer's headers (lower-case names); absent ones are null. */
function parseRateHeaders(
  headers: Readonly<Record<string, string>>,
  now: number,
): Record<RateWindowName, ObservedWindow | null> {
  const read = (name: RateWindowName): ObservedWindow | null => {
    const limit = Number(headers[`x-ratelimit-limit-read-${name}`]);
    const remaining = Number(headers[`x-ratelimit-remaining-read-${name}`]);
    if (!Number.isFinite(limit) || !Number.isFinite(remaining)) return null;
    return {
      limit: Math.max(0, Math.floor(limit)),
      remaining: Math.max(0, Math.floor(remaining)),
      resetAt: parseReset(headers[`x-ratelimit-reset-read-${name}`], now),
    };
  };
  return { minute: read("minute"), day: read("day") };
}

/** Header names to keep from an answer (the HTTP layer passes only these on). */
export function isRateHeader(name: string): boolean {
  return name.startsWith("x-ratelimit-");
}

export type BudgetVerdict =
  | { kind: "go" }
  | { kind: "wait"; ms: number; why: string }
  | { kind: "quota_exhausted"; resetAt: number | null };

export interface ReadBudgetOptions {
  /** Our own ceiling: at most this many starts in any `windowMs`. Default: none. */
  readsPerWindow?: number;
  /** The ceiling's sliding window. Default 60 s (a minute; shorter in tests). */
  windowMs?: number;
  /**
   * Below this share of the minute's limit, requests are spread over the rest of the window
   * instead of sent at once. Default 0.05 (20 of 400): when other integrations spend the budget
   * too, the minute's last reads go out evenly until the reset instead of in a burst that meets
   * a spent budget early, without slowing a run that needs most of a minute's budget (at 0.2 the
   * first run of 17,000 records, 348 reads, spread its last 70 and its longest chain waited).
   */
  lowShare?: number;
  /** Added to a reset time before trying again (clocks and rounding). Default 250 ms. */
  resetMarginMs?: number;
  /** A window whose reset is unknown is assumed to reset this long after it was seen. */
  unknownResetMs?: number;
}

/**
 * The run's view of OfficeRnD's read budget. `observe` takes every answer's headers; `verdict`
 * says whether the next request may start, given the requests already in flight (each will
 * count against the budget though no answer has said so yet).
 */
export class ReadBudget {
  private readonly windows: Record<RateWindowName, ObservedWindow | null> = {
    minute: null,
    day: null,
  };
  private used = 0;
  private pausedUntil = 0;
  /** After a 429: starts are spaced evenly until then. */
  private carefulUntil = 0;
  private lastStart = 0;
  /** The latest starts, oldest first (at most `readsPerWindow` of them). */
  private readonly starts: number[] = [];
  private readonly readsPerWindow: number;
  private readonly windowMs: number;
  private readonly lowShare: number;
  private readonly marginMs: number;
  private readonly unknownResetMs: number;

  constructor(options: ReadBudgetOptions = {}) {
    this.readsPerWindow = Math.floor(options.readsPerWindow ?? Number.POSITIVE_INFINITY);
    this.windowMs = options.windowMs ?? 60_000;
    this.lowShare = options.lowShare ?? 0.05;
    this.marginMs = options.resetMarginMs ?? 250;
    this.unknownResetMs = options.unknownResetMs ?? 60_000;
  }

  /** Headers of an answer (any status). */
  observe(headers: Readonly<Record<string, string>>, now: number): void {
    const seen = parseRateHeaders(headers, now);
    for (const name of RATE_WINDOWS) {
      const next = seen[name];
      if (next === null) continue;
      const current = this.windows[name];
      const resetAt = next.resetAt ?? now + this.unknownResetMs;
      // Answers of one window arrive out of order: keep the lowest remaining unless the window
      // has reset since (a later reset time, or the old one has passed).
      const sameWindow =
        current !== null &&
        current.resetAt !== null &&
        now < current.resetAt &&
        Math.abs(resetAt - current.resetAt) < 2_000;
      this.windows[name] =
        sameWindow && current.remaining < next.remaining
          ? { ...next, remaining: current.remaining, resetAt }
          : { ...next, resetAt };
    }
  }

  /** OfficeRnD answered 429: nothing starts before `ms` from now. */
  pauseFor(ms: number, now: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, now + Math.max(0, ms));
    this.carefulUntil = Math.max(this.carefulUntil, this.pausedUntil + this.windowMs);
  }

  /** Spacing of starts while careful (after a 429): the ceiling spread evenly. */
  get evenIntervalMs(): number {
    return Number.isFinite(this.readsPerWindow)
      ? Math.ceil(this.windowMs / this.readsPerWindow)
      : 0;
  }

  /**
   * For a 429 without Retry-After: how long until the minute window resets, when the latest
   * figures say it is spent; null otherwise (then the 429 has another cause: back off).
   */
  spentMinuteResetInMs(now: number): number | null {
    const minute = this.windows.minute;
    if (minute === null || minute.remaining > 0 || minute.resetAt === null) return null;
    return Math.max(0, minute.resetAt - now) + this.marginMs;
  }

  /** Whether the daily quota is spent, from the latest figures. */
  dayExhausted(now: number): boolean {
    const day = this.windows.day;
    return day !== null && day.remaining === 0 && (day.resetAt === null || now < day.resetAt);
  }

  verdict(inFlight: number, now: number): BudgetVerdict {
    const day = this.windows.day;
    if (day !== null && (day.resetAt === null || now < day.resetAt)) {
      if (day.remaining - inFlight <= 0) {
        return day.remaining === 0
          ? { kind: "quota_exhausted", resetAt: day.resetAt }
          : { kind: "wait", ms: 50, why: "the daily quota's last requests are in flight" };
      }
    }
    if (now < this.pausedUntil) {
      return { kind: "wait", ms: this.pausedUntil - now, why: "OfficeRnD answered 429" };
    }
    const oldest = this.starts[0];
    if (this.starts.length >= this.readsPerWindow && oldest !== undefined) {
      const frees = oldest + this.windowMs;
      if (now < frees)
        return { kind: "wait", ms: frees - now, why: "our own reads-per-minute ceiling" };
    }
    if (now < this.carefulUntil && this.used > 0) {
      const next = this.lastStart + this.evenIntervalMs;
      if (now < next) return { kind: "wait", ms: next - now, why: "spacing reads after a 429" };
    }
    const minute = this.windows.minute;
    if (minute === null || minute.resetAt === null || now >= minute.resetAt) return { kind: "go" };
    const available = minute.remaining - inFlight;
    const untilReset = minute.resetAt - now + this.marginMs;
    if (available <= 0) {
      return { kind: "wait", ms: untilReset, why: "the minute's read budget is spent" };
    }
    if (available > Math.max(1, minute.limit * this.lowShare)) return { kind: "go" };
    // Low: spread what is left over the rest of the window.
    const spacing = Math.ceil(untilReset / available);
    const next = this.lastStart + spacing;
    return next > now
      ? { kind: "wait", ms: next - now, why: "spreading the minute's last reads" }
      : { kind: "go" };
  }

  /** A request is about to start. */
  started(now: number): void {
    this.used += 1;
    this.lastStart = now;
    if (!Number.isFinite(this.readsPerWindow)) return;
    this.starts.push(now);
    if (this.starts.length > this.readsPerWindow) this.starts.shift();
  }

  report(): ReadBudgetReport {
    const out = (w: ObservedWindow | null): RateWindow | null =>
      w === null
        ? null
        : {
            limit: w.limit,
            remaining: w.remaining,
            resetAt: w.resetAt === null ? null : new Date(w.resetAt).toISOString(),
          };
    return { used: this.used, minute: out(this.windows.minute), day: out(this.windows.day) };
  }
}
