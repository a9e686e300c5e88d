/**
 * The sandbox's rate limits. Reads, as OfficeRnD's live API states them on every response
 * (Feb 2026, docs/officernd-api.md): `x-ratelimit-{limit,remaining,reset}-read-minute` and
 * `…-read-day`, a per-minute budget and a daily quota. Their windows are modelled as fixed
 * windows opened by the first request (what a reset time implies); what `reset` means is not
 * documented, so it is sent as seconds from now or as an epoch time (`resetFormat`). Whether a
 * 429 carries Retry-After is not documented either: by default it does not (`retryAfterOn429`).
 * The token endpoint (about 5 a minute, unofficial) keeps a sliding window.
 */

export type ResetFormat = "seconds" | "epoch-seconds";

export interface ReadLimitSettings {
  /** API read budget per minute (OfficeRnD: about 400, unofficial); null = effectively none. */
  readsPerMinute: number | null;
  /** API read quota per day (not published; the default is an assumption); null = none. */
  readsPerDay: number | null;
  resetFormat: ResetFormat;
  /** Send Retry-After with a 429 (undocumented at OfficeRnD: off by default). */
  retryAfterOn429: boolean;
  /** Length of the "minute" window: 60 000 ms, shorter only so tests need not wait a minute. */
  minuteWindowMs: number;
}

/** Limits advertised when a window is switched off: large enough never to be reached. */
const UNLIMITED = { minute: 1_000_000, day: 1_000_000_000 } as const;

class FixedWindow {
  private start = Number.NEGATIVE_INFINITY;
  private used = 0;
  constructor(private readonly lengthMs: number) {}
  private roll(now: number): void {
    if (now >= this.start + this.lengthMs) {
      this.start = now;
      this.used = 0;
    }
  }
  /** Counts a request; false when the window's limit was already reached. */
  take(now: number, limit: number): boolean {
    this.roll(now);
    if (this.used >= limit) return false;
    this.used += 1;
    return true;
  }
  remaining(now: number, limit: number): number {
    this.roll(now);
    return Math.max(0, limit - this.used);
  }
  resetAt(now: number): number {
    this.roll(now);
    return this.start + this.lengthMs;
  }
  /** Spends what is left (tests: "the daily quota is gone"). */
  exhaust(now: number, limit: number): void {
    this.roll(now);
    this.used = limit;
  }
  clear(): void {
    this.start = Number.NEGATIVE_INFINITY;
    this.used = 0;
  }
}

export interface Admission {
  allowed: boolean;
  /** The window that refused the request. */
  refusedBy: "minute" | "day" | null;
  /** The x-ratelimit-* headers (and Retry-After when set up) for the response. */
  headers: Record<string, string>;
}

export class ReadQuota {
  private minute: FixedWindow;
  private readonly day = new FixedWindow(86_400_000);

  constructor(private readonly settings: ReadLimitSettings) {
    this.minute = new FixedWindow(settings.minuteWindowMs);
  }

  private limits() {
    return {
      minute: this.settings.readsPerMinute ?? UNLIMITED.minute,
      day: this.settings.readsPerDay ?? UNLIMITED.day,
    };
  }

  /** Counts one API request against both windows and says whether it may be served. */
  admit(now: number): Admission {
    const limits = this.limits();
    let refusedBy: Admission["refusedBy"] = null;
    if (this.day.remaining(now, limits.day) === 0) refusedBy = "day";
    else if (!this.minute.take(now, limits.minute)) refusedBy = "minute";
    else this.day.take(now, limits.day);
    const headers: Record<string, string> = {};
    for (const name of ["minute", "day"] as const) {
      const window = this[name];
      const reset = window.resetAt(now);
      headers[`x-ratelimit-limit-read-${name}`] = String(limits[name]);
      headers[`x-ratelimit-remaining-read-${name}`] = String(window.remaining(now, limits[name]));
      headers[`x-ratelimit-reset-read-${name}`] =
        this.settings.resetFormat === "seconds"
          ? String(Math.max(0, Math.ceil((reset - now) / 1000)))
          : String(Math.ceil(reset / 1000));
    }
    if (refusedBy !== null && this.settings.retryAfterOn429) {
      headers["retry-after"] = String(
        Math.max(1, Math.ceil((this[refusedBy].resetAt(now) - now) / 1000)),
      );
    }
    return { allowed: refusedBy === null, refusedBy, headers };
  }

  /** Spends the rest of today's quota. */
  exhaustDay(now: number): void {
    this.day.exhaust(now, this.limits().day);
  }

  clear(): void {
    this.minute = new FixedWindow(this.settings.minuteWindowMs);
    this.day.clear();
  }
}

/** Counts events in a sliding window (the token endpoint's ~5 a minute). */
export class SlidingWindow {
  private readonly times: number[] = [];
  constructor(private readonly windowMs = 60_000) {}
  private prune(now: number): void {
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] ?? 0) <= now - this.windowMs) drop += 1;
    if (drop > 0) this.times.splice(0, drop);
  }
  full(now: number, limit: number | null): boolean {
    if (limit === null) return false;
    this.prune(now);
    return this.times.length >= limit;
  }
  add(now: number): void {
    this.times.push(now);
  }
  /** Whole seconds until the oldest event leaves the window. */
  retryAfterSeconds(now: number): number {
    const oldest = this.times[0] ?? now;
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000));
  }
  clear(): void {
    this.times.length = 0;
  }
}
