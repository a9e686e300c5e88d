import { logs } from "../logs";
import { excerpt } from "./http";
import { resourceDefinition, type ResourceName } from "./resources";
import { pageEnvelopeSchema, recordIdentitySchema, type OfficeRndRecord } from "./schemas";
import {
  OfficeRndError,
  type ListOptions,
  type OfficeRndReader,
  type RecordDrift,
  type RejectedRecord,
  type ResourceListing,
  type ResourcePage,
} from "./types";

/**
 * Cursor pagination of one listing: `$limit=50`, follow `cursorNext` until a page has none. Each
 * body is parsed and judged here (envelope, then every record on its own), and the listing is
 * guarded against a cursor that repeats, a page count that runs away, and ids out of order.
 *
 * Live (Feb 2026, docs/officernd-api.md): `cursorNext`/`cursorPrev` are absent, not null, on the
 * last page, on a single page and on an empty list; cursors decode to
 * `{"k":"_id","p":50,"v":"<last _id>"}`, i.e. pages are keyset-ordered by `_id`. Cursors stay
 * opaque here, but the order they imply is checked: ids must ascend across the whole listing,
 * so a repeated or reordered record fails the listing loudly instead of hiding a gap.
 */

export interface ParsedPage {
  records: OfficeRndRecord[];
  rejected: RejectedRecord[];
  drift: RecordDrift[];
  cursorNext: string | null;
}

function invalid(resource: ResourceName, page: number, what: string): OfficeRndError {
  return new OfficeRndError(
    "invalid_response",
    `OfficeRnD ${resource} page ${page}: ${what}, not the documented list envelope`,
    { resource, page, status: 200 },
  );
}

/** What is wrong, in a few words (never the values). */
function firstIssue(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  const issue = issues[0];
  if (!issue) return "invalid record";
  const path = issue.path.map(String).join(".");
  return path === "" ? issue.message : `${path}: ${issue.message}`;
}

/** Why a record cannot be stored: it is not an object, or has no valid `_id`. */
function rejection(raw: unknown, issues: readonly { path: PropertyKey[]; message: string }[]) {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return "not an object";
  if (!("_id" in raw) || (raw as { _id?: unknown })._id == null) return "missing _id";
  return firstIssue(issues);
}

/** Judges one 200 body: the envelope must be OfficeRnD's; records are validated one by one. */
export function parsePage(
  resource: ResourceName,
  page: number,
  body: string,
  contentType = "",
): ParsedPage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error: unknown) {
    const reason = error instanceof Error ? error.message : "unparseable";
    const looksHtml = /html/i.test(contentType) || /^\s*</.test(body);
    throw invalid(
      resource,
      page,
      looksHtml
        ? `an HTML page ("${excerpt(body, 60)}")`
        : `a body that is not valid JSON (${reason}; ${body.length} characters)`,
    );
  }
  const envelope = pageEnvelopeSchema.safeParse(json);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    const where = issue ? `${issue.path.map(String).join(".") || "body"}: ${issue.message}` : "";
    throw invalid(resource, page, `a JSON body with ${where}`);
  }
  // An absent (or null) cursorNext ends the listing. A listing cut short this way is caught by
  // the count check before anything is removed (see the backup's plan).

  const { schema } = resourceDefinition(resource);
  const records: OfficeRndRecord[] = [];
  const rejected: RejectedRecord[] = [];
  const drift: RecordDrift[] = [];
  envelope.data.results.forEach((raw, index) => {
    const identity = recordIdentitySchema.safeParse(raw);
    if (!identity.success) {
      const id =
        raw !== null &&
        typeof raw === "object" &&
        typeof (raw as { _id?: unknown })._id === "string"
          ? (raw as { _id: string })._id
          : null;
      rejected.push({ resource, page, index, id, reason: rejection(raw, identity.error.issues) });
      return;
    }
    // Stored as OfficeRnD sent it (unknown fields, types and key order intact); the resource
    // schema only tells whether its fields drifted from what we expect.
    records.push(identity.data);
    const typed = schema.safeParse(raw);
    if (!typed.success)
      drift.push({ id: identity.data._id, reason: firstIssue(typed.error.issues) });
  });
  return { records, rejected, drift, cursorNext: envelope.data.cursorNext ?? null };
}

export type PageFetcher = (
  page: number,
  cursor: string | null,
  signal: AbortSignal,
) => Promise<ParsedPage>;

/**
 * Empty pages in a row, each with a new cursor, after which a listing stops as a runaway. A
 * keyset listing never returns an empty page before its end (docs/officernd-api.md).
 */
export const MAX_EMPTY_PAGES_IN_A_ROW = 3;

export interface PaginateOptions {
  /** Runaway guard: more pages than this fails the listing. */
  maxPages: number;
  /** Fetch page n+1 while the consumer handles page n (at most one page ahead). */
  prefetch: boolean;
  signal?: AbortSignal;
  /** Start after the page that returned this cursor (a resumed run); null: the first page. */
  cursor?: string | null;
}

/** Pages of one listing in order; throws OfficeRndError (pagination, duplicate_id, …). */
export async function* paginate(
  resource: ResourceName,
  fetchPage: PageFetcher,
  options: PaginateOptions,
): AsyncGenerator<ResourcePage, void, undefined> {
  const started = Date.now();
  // Stops a prefetched request when the consumer stops early or the caller cancels.
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const seenCursors = new Set<string>();
  /** Ids of the previous and the current page → page: tells a repeat from a reordering. */
  let recentIds = new Map<string, number>();
  let lastId: string | null = null;
  let emptyInARow = 0;
  let totals = { pages: 0, records: 0, rejected: 0 };
  let pending: Promise<ParsedPage> | null = null;

  try {
    let page = 1;
    pending = fetchPage(page, options.cursor ?? null, signal);
    for (;;) {
      const current = await pending;
      pending = null;

      const pageIds = new Map<string, number>();
      for (const record of current.records) {
        const id = record._id.toLowerCase();
        if (lastId !== null && id <= lastId) {
          const firstPage = pageIds.get(id) ?? recentIds.get(id);
          if (firstPage !== undefined) {
            throw new OfficeRndError(
              "duplicate_id",
              `OfficeRnD ${resource} page ${page}: _id ${record._id} was already listed on page ${firstPage}`,
              { resource, page },
            );
          }
          throw new OfficeRndError(
            "pagination",
            `OfficeRnD ${resource} page ${page}: _id ${record._id} comes after ${lastId}; ` +
              "OfficeRnD lists by ascending _id, so records may have been skipped",
            { resource, page },
          );
        }
        pageIds.set(id, page);
        lastId = id;
      }
      recentIds = pageIds;
      if (current.rejected.length > 0) {
        logs.recordsRejected({
          resource,
          page,
          count: current.rejected.length,
          reasons: [...new Set(current.rejected.map((r) => r.reason))],
        });
      }
      totals = {
        pages: totals.pages + 1,
        records: totals.records + current.records.length,
        rejected: totals.rejected + current.rejected.length,
      };

      const next = current.cursorNext;
      emptyInARow = current.records.length + current.rejected.length === 0 ? emptyInARow + 1 : 0;
      if (next !== null && emptyInARow >= MAX_EMPTY_PAGES_IN_A_ROW) {
        throw new OfficeRndError(
          "pagination",
          `OfficeRnD ${resource} page ${page}: ${emptyInARow} empty pages in a row, each with a new cursorNext; stopping instead of following them`,
          { resource, page },
        );
      }
      if (next !== null) {
        if (seenCursors.has(next)) {
          throw new OfficeRndError(
            "pagination",
            `OfficeRnD ${resource} page ${page}: cursorNext repeats an earlier cursor; stopping instead of looping`,
            { resource, page },
          );
        }
        if (page >= options.maxPages) {
          throw new OfficeRndError(
            "pagination",
            `OfficeRnD ${resource}: more than ${options.maxPages} pages; stopping (raise maxPages if the organization is really this large)`,
            { resource, page },
          );
        }
        seenCursors.add(next);
        if (options.prefetch) {
          pending = fetchPage(page + 1, next, signal);
          // Handled when awaited; this only keeps an abandoned prefetch from being "unhandled".
          pending.catch(() => undefined);
        }
      }

      yield {
        resource,
        page,
        records: current.records,
        rejected: current.rejected,
        drift: current.drift,
        cursorNext: next,
      };

      if (next === null) break;
      page += 1;
      pending ??= fetchPage(page, next, signal);
    }
    logs.resourceRead({ resource, ...totals, durationMs: Date.now() - started });
  } finally {
    if (pending !== null) stop.abort(new Error("listing closed"));
  }
}

/** Every record of one listing, for callers that want them all at once. */
export async function collectPages(
  reader: OfficeRndReader,
  resource: ResourceName,
  options: ListOptions = {},
): Promise<ResourceListing> {
  const listing: ResourceListing = { resource, pages: 0, records: [], rejected: [] };
  for await (const page of reader.pages(resource, options)) {
    listing.pages += 1;
    for (const record of page.records) listing.records.push(record);
    for (const rejected of page.rejected) listing.rejected.push(rejected);
  }
  return listing;
}
