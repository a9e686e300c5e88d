import type { SandboxRecord, SandboxResource } from "./seed";

/**
 * How the sandbox reads a list request's query, the way OfficeRnD's live API does (Feb 2026,
 * docs/officernd-api.md): unknown parameters are refused with 400 "property X should not
 * exist" (NestJS validation: `message` is an array), `$limit` above 50 is a 400 (0 falls back to
 * 20), filters differ per resource, and cursors are keyset cursors over `_id` that decode to
 * `{"k":"_id","p":50,"v":"<last _id>"}`; a tampered one is a 500 (a JSON parse error).
 *
 * The table below is the sandbox's own reading of OfficeRnD's reference, kept apart from the
 * product's resource registry on purpose: a test compares the two, so neither can drift alone.
 */

export interface ListRules {
  /** Fields filterable with [$gt|$gte|$lt|$lte]. */
  rangeFields: readonly string[];
  /**
   * Range filters the reference suggests but no one verified live (opportunities' and bookings'
   * `modifiedAt`). The sandbox accepts them (one reading of the reference); a test that needs
   * OfficeRnD to refuse one serves a `4xx` fault with NestJS's "should not exist" message.
   */
  unverifiedRangeFields: readonly string[];
  /** Fields filterable by equality (`email=…`). */
  equalityFields: readonly string[];
  /** Fields filterable with [$in]. */
  inFields: readonly string[];
  /** `GET /{resource}/count` exists. */
  count: boolean;
}

export const LIST_RULES: Record<SandboxResource, ListRules> = {
  // v2 reference + live: createdAt/modifiedAt ranges, equality filters, status[$in].
  members: {
    rangeFields: ["createdAt", "modifiedAt"],
    unverifiedRangeFields: [],
    equalityFields: ["_id", "email", "company", "location", "status"],
    inFields: ["status"],
    count: true,
  },
  companies: {
    rangeFields: ["createdAt", "modifiedAt"],
    unverifiedRangeFields: [],
    equalityFields: ["_id", "email", "location", "status"],
    inFields: ["status"],
    count: false,
  },
  // Not verified live: no date filter is assumed (the strict reading) but modifiedAt, which the
  // incremental sync tries; /count exists.
  opportunities: {
    rangeFields: [],
    unverifiedRangeFields: ["modifiedAt"],
    equalityFields: ["_id", "member", "company", "status"],
    inFields: [],
    count: true,
  },
  // Live: no date filters; no /count in the reference's list.
  locations: {
    rangeFields: [],
    unverifiedRangeFields: [],
    equalityFields: ["_id"],
    inFields: [],
    count: false,
  },
  // Live: events filter on start/end only.
  events: {
    rangeFields: ["start", "end"],
    unverifiedRangeFields: [],
    equalityFields: ["_id", "location"],
    inFields: [],
    count: true,
  },
  // Not verified live: no date filter assumed but modifiedAt (tried, as for opportunities); /count.
  bookings: {
    rangeFields: [],
    unverifiedRangeFields: ["modifiedAt"],
    equalityFields: ["_id", "member", "company", "location"],
    inFields: [],
    count: true,
  },
};

export const MAX_PAGE_SIZE = 50;
/** Live: `$limit=0` falls back to 20. */
const ZERO_LIMIT_FALLBACK = 20;
/** Parameters every list accepts. `$sort` and `$select` exist at OfficeRnD; see below. */
const COMMON_PARAMS = new Set(["$limit", "$cursorNext", "$cursorPrev", "$select"]);
const RANGE_OPS = new Set(["$gt", "$gte", "$lt", "$lte"]);

export type Predicate = (record: SandboxRecord) => boolean;

export interface ListQuery {
  limit: number;
  cursorNext: string | null;
  cursorPrev: string | null;
  filter: Predicate | null;
  /** `$select=_id,modifiedAt`: the fields to keep (`_id` always kept). */
  select: readonly string[] | null;
}

/** Every problem of the query (NestJS reports them all at once), or the query. */
export function parseListQuery(
  resource: SandboxResource,
  query: URLSearchParams,
): ListQuery | { errors: string[] } {
  const rules = LIST_RULES[resource];
  const errors: string[] = [];
  const tests: Predicate[] = [];
  let limit = MAX_PAGE_SIZE;
  for (const [key, value] of query) {
    if (key === "$limit") {
      if (!/^-?\d+$/.test(value)) {
        errors.push("$limit must be an integer number");
        continue;
      }
      const n = Number(value);
      if (n > MAX_PAGE_SIZE) errors.push(`$limit must not be greater than ${MAX_PAGE_SIZE}`);
      else if (n < 0) errors.push("$limit must not be less than 0");
      else limit = n === 0 ? ZERO_LIMIT_FALLBACK : n;
      continue;
    }
    if (COMMON_PARAMS.has(key)) continue;
    const range = /^([A-Za-z_]+)\[(\$[a-z]+)\]$/.exec(key);
    if (range) {
      const field = range[1] ?? "";
      const op = range[2] ?? "";
      if (op === "$in" && rules.inFields.includes(field)) {
        const allowed = new Set(value.split(","));
        tests.push((r) => typeof r[field] === "string" && allowed.has(r[field]));
        continue;
      }
      const ranged =
        rules.rangeFields.includes(field) || rules.unverifiedRangeFields.includes(field);
      if (!RANGE_OPS.has(op) || !ranged) {
        errors.push(`property ${key} should not exist`);
        continue;
      }
      const bound = Date.parse(value);
      if (Number.isNaN(bound)) {
        errors.push(`${key} must be a valid ISO 8601 date string`);
        continue;
      }
      tests.push((record) => {
        const raw = record[field];
        if (typeof raw !== "string") return false;
        const t = Date.parse(raw);
        if (op === "$gt") return t > bound;
        if (op === "$gte") return t >= bound;
        if (op === "$lt") return t < bound;
        return t <= bound;
      });
      continue;
    }
    if (rules.equalityFields.includes(key)) {
      tests.push((record) => {
        const raw = record[key];
        const primitive =
          typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean";
        return primitive && String(raw) === value;
      });
      continue;
    }
    // `$sort` is refused too: the sandbox does not implement other orders than `_id`.
    errors.push(`property ${key} should not exist`);
  }
  if (errors.length > 0) return { errors };
  const select = query.get("$select");
  return {
    limit,
    cursorNext: query.get("$cursorNext"),
    cursorPrev: query.get("$cursorPrev"),
    filter: tests.length === 0 ? null : (record) => tests.every((test) => test(record)),
    select: select === null ? null : select.split(",").map((f) => f.trim()),
  };
}

/** A live-shaped cursor: base64 of `{"k":"_id","p":<page size>,"v":"<_id>"}`. */
export function encodeCursor(id: string, pageSize: number): string {
  return Buffer.from(JSON.stringify({ k: "_id", p: pageSize, v: id })).toString("base64");
}

/** The `_id` a cursor points past; throws (a 500 at OfficeRnD) when it is not one of ours. */
export function decodeCursor(cursor: string): string {
  const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64").toString("utf8"));
  const v = (parsed as { v?: unknown } | null)?.v;
  if (typeof v !== "string") throw new TypeError("Cannot read properties of cursor (reading 'v')");
  return v;
}

/** First index whose _id is > id (or >= id when `inclusive`). */
export function bound(records: readonly SandboxRecord[], id: string, inclusive: boolean): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const midId = records[mid]?._id ?? "";
    if (midId < id || (!inclusive && midId === id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function project(record: SandboxRecord, select: readonly string[] | null): SandboxRecord {
  if (select === null) return record;
  const out: SandboxRecord = { _id: record._id };
  for (const field of select) {
    const value = record[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}
