import type { RangeFilter } from "./query";
import type { ReadBudgetReport } from "./rate-limit";
import type { ResourceName } from "./resources";
import type { OfficeRndRecord } from "./schemas";

/** Contract of the OfficeRnD client (implemented in ./client.ts), shared by engine, CLI and tests. */

/** A record that failed validation: counted and reported, never silently dropped. */
export interface RejectedRecord {
  resource: ResourceName;
  page: number;
  /** Position on the page (0-based). */
  index: number;
  /** The `_id` as sent, when there was a string one. */
  id: string | null;
  reason: string;
}

/**
 * A stored record whose fields differ from the resource's schema (a type OfficeRnD changed, a
 * `properties: []`): stored as sent, counted and reported as a warning, never a failure.
 */
export interface RecordDrift {
  id: string;
  /** Field path and what differs, in a few words (never the value). */
  reason: string;
}

/** One page as it arrives, already validated. */
export interface ResourcePage {
  resource: ResourceName;
  /** 1-based page number within this listing. */
  page: number;
  /** Every record with a valid `_id`, as OfficeRnD sent it. */
  records: OfficeRndRecord[];
  /** Records without a valid `_id`: they cannot be stored. */
  rejected: RejectedRecord[];
  /** Stored records that differ from the resource's schema. */
  drift: RecordDrift[];
  /**
   * Where the listing goes on after this page (OfficeRnD's `cursorNext`); null on the last page.
   * A keyset position, valid later too: a run saves it and resumes from it (ListOptions.cursor).
   */
  cursorNext?: string | null;
}

export interface ListOptions {
  /** Range filters; each must be one the resource accepts (see ./query.ts). */
  filters?: readonly RangeFilter[];
  /** Cancels the listing (e.g. when another resource of the same run failed). */
  signal?: AbortSignal;
  /** Resume after the page that returned this `cursorNext`; absent or null: from the start. */
  cursor?: string | null;
  /** Ask for the next page while this one is handled (default: the client's setting). */
  prefetch?: boolean;
  /**
   * The listing's requests at the read limiter: 0 first, 9 last, default 5 (./limiter.ts). A
   * split type's ranges ask for less than whole cursor chains, which cannot spread their work.
   */
  priority?: number;
}

/** Every record of one listing at once (see `collectPages`); pages() is the streaming shape. */
export interface ResourceListing {
  resource: ResourceName;
  pages: number;
  records: OfficeRndRecord[];
  rejected: RejectedRecord[];
}

/** Counters of one client instance (a run), for the run summary and the benchmark. */
export interface ClientStats {
  /** HTTP requests to the API (retries included; token calls not). */
  requests: number;
  /** HTTP requests to the token endpoint (retries included). */
  tokenRequests: number;
  /** Attempts repeated after a failure (429, 5xx, network, timeout, 401). */
  retries: number;
  /** 429 answers received. */
  throttled: number;
  /** Time spent waiting before retries (Retry-After and backoff). */
  waitMs: number;
  /** Pages validated and handed out. */
  pages?: number;
  /** Valid records handed out. */
  records?: number;
  /** Records rejected by validation. */
  rejected?: number;
  /** Time requests spent queued in the read limiter (its spacing and 429 pauses). */
  limiterWaitMs?: number;
  /** Most API requests in flight at once. */
  maxInFlight?: number;
  /** Requests made and what OfficeRnD's rate-limit headers said was left. */
  budget?: ReadBudgetReport;
}

export interface OfficeRndReader {
  /** Pages of one resource, in `_id` order, until a page has no `cursorNext`. Throws OfficeRndError. */
  pages(resource: ResourceName, options?: ListOptions): AsyncIterable<ResourcePage>;
  /**
   * OfficeRnD's own total (`GET /{resource}/count`), for a completeness check of a listing;
   * null for resources without a count endpoint. Absent on readers that cannot count.
   */
  count?(resource: ResourceName, options?: { signal?: AbortSignal }): Promise<number | null>;
  /**
   * Whether OfficeRnD has this record (`GET /{resource}/{id}`: 200 yes, 404 no); throws an
   * OfficeRndError on any other answer. Absent on readers that cannot look one up.
   */
  exists?(resource: ResourceName, id: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  stats(): ClientStats;
}

export type OfficeRndErrorCode =
  | "auth" // token endpoint refused the credentials, or a 401 survived one token refresh
  | "forbidden" // 403: missing scope / not allowed
  | "not_found" // 404: wrong path
  | "org_not_found" // 500 "Organization not found": OFFICERND_ORG_SLUG is wrong (a config error)
  | "quota_exhausted" // the daily read quota is spent (x-ratelimit-remaining-read-day: 0)
  | "bad_request" // other 4xx
  | "throttled" // 429s outlasted the retry budget
  | "server" // 5xx outlasted the retry budget
  | "network" // connection errors outlasted the retry budget
  | "timeout" // per-request timeouts outlasted the retry budget
  | "invalid_response" // not the documented envelope (HTML, truncated JSON, wrong types)
  | "pagination" // repeating cursor, runaway page count, or ids out of `_id` order
  | "duplicate_id"; // the same _id twice in one listing (a record moved between pages mid-listing)

/**
 * Codes for which a later run (Cloud Scheduler's retry) may succeed. `invalid_response` is one:
 * the usual causes are a maintenance page or a body cut off in transit, both passing. The client
 * itself does not retry it within a run.
 */
const RETRYABLE: ReadonlySet<OfficeRndErrorCode> = new Set([
  // A record that moved between pages while the listing ran: the next listing will not see it twice.
  "duplicate_id",
  "throttled",
  "server",
  "network",
  "timeout",
  "invalid_response",
]);

/** Every failure of the client. Messages name resource and page and never contain secrets. */
export class OfficeRndError extends Error {
  readonly code: OfficeRndErrorCode;
  readonly resource: ResourceName | null;
  readonly page: number | null;
  readonly status: number | null;
  constructor(
    code: OfficeRndErrorCode,
    message: string,
    details: {
      resource?: ResourceName | null;
      page?: number | null;
      status?: number | null;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "OfficeRndError";
    this.code = code;
    this.resource = details.resource ?? null;
    this.page = details.page ?? null;
    this.status = details.status ?? null;
  }
  /** Transient: a later attempt (Cloud Scheduler retry, next run) may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}
