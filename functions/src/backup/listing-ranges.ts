import type { RangeFilter } from "../officernd/query";
import { acceptsRangeFilter, resourceDefinition, type ResourceName } from "../officernd/resources";
import { emptyProgress, keepId, MAX_STRAYS, type ResourceProgress } from "./progress";

/**
 * The ranges of a split listing (./split-listing.ts), pure. One big type is listed as K ranges
 * side by side, cut at K-1 split points t_1 < … < t_{K-1} (whole seconds):
 * - OfficeRnD side: range i asks for `createdAt[$gte]=t_i&createdAt[$lt]=t_{i+1}` (the first
 *   without a lower bound, the last without an upper one), so every record WITH a createdAt is in
 *   exactly one range. Members and companies accept these filters (v2 reference + live,
 *   docs/officernd-api.md); a record without createdAt matches no range (MongoDB's comparison
 *   operators do not match a missing field), which the type's /count check then shows.
 * - Firestore side: range i merges against the documents whose id is in [oid(t_i), oid(t_{i+1})),
 *   the first from the start, the last to the end, so every document is in exactly one range.
 *   oid(t) is the smallest ObjectId of second t: an `_id` is a MongoDB ObjectId whose first 8 hex
 *   digits are its creation time in seconds (docs/officernd-api.md, "Records").
 * A record whose createdAt agrees with its id time (to the second) is on the same range on both
 * sides. One that does not (imported records; a second boundary) is a stray of the range that
 * listed it: looked up by id there (./merge.ts), and its document, which the range of its id did
 * not list, is dropped from the removal candidates once every range is listed (combineRanges).
 */

/** At most this many ranges (the client keeps 4 requests in flight: officernd/client.ts). */
export const MAX_RANGES = 8;

export interface ListingRange {
  index: number;
  /** OfficeRnD's createdAt filters of this range. */
  filters: RangeFilter[];
  /** Firestore document ids in [from, before); null: unbounded on that side. */
  from: string | null;
  before: string | null;
}

/** The smallest ObjectId (lower case, the mirror's form) created in second `seconds`. */
export function objectIdAt(seconds: number): string {
  return Math.max(0, Math.floor(seconds)).toString(16).padStart(8, "0").slice(-8) + "0".repeat(16);
}

/** The creation second of a 24-hex ObjectId; null for an id of another form. */
export function objectIdSeconds(id: string): number | null {
  return /^[0-9a-f]{24}$/i.test(id) ? parseInt(id.slice(0, 8), 16) : null;
}

/** The second of a record's `createdAt` (ISO 8601); null when absent or not a time. */
export function createdAtSecond(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

/** The K ranges cut at these split points (ascending whole seconds). */
export function rangesFor(points: readonly number[]): ListingRange[] {
  const bounds: (number | null)[] = [null, ...points, null];
  const ranges: ListingRange[] = [];
  for (let i = 0; i + 1 < bounds.length; i += 1) {
    const lo = bounds[i] ?? null;
    const hi = bounds[i + 1] ?? null;
    const filters: RangeFilter[] = [];
    if (lo !== null) filters.push({ field: "createdAt", op: "$gte", value: isoSecond(lo) });
    if (hi !== null) filters.push({ field: "createdAt", op: "$lt", value: isoSecond(hi) });
    ranges.push({
      index: i,
      filters,
      from: lo === null ? null : objectIdAt(lo),
      before: hi === null ? null : objectIdAt(hi),
    });
  }
  return ranges;
}

function isoSecond(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/** Split points valid for a listing: whole seconds, strictly ascending, at most MAX_RANGES-1. */
export function validPoints(points: readonly number[]): boolean {
  if (points.length === 0 || points.length >= MAX_RANGES) return false;
  return points.every((p, i) => Number.isInteger(p) && p > 0 && (i === 0 || p > points[i - 1]!));
}

/**
 * A type may be split only when its listing accepts a createdAt range AND OfficeRnD can count it
 * (`/count`): a record without createdAt is in no range, and only the count shows it missing
 * (otherwise its document would be removed). Today: members (companies have no /count).
 */
export function splittable(resource: ResourceName): boolean {
  return acceptsRangeFilter(resource, "createdAt") && resourceDefinition(resource).count;
}

/** Split points cutting [first, last] seconds into `ranges` equal spans (whole seconds). */
export function evenPoints(first: number, last: number, ranges: number): number[] {
  const points: number[] = [];
  const span = last - first;
  for (let k = 1; k < ranges; k += 1) {
    const p = Math.floor(first + (span * k) / ranges);
    if (p > (points.at(-1) ?? 0)) points.push(p);
  }
  return points;
}

/** Counts and lists summed over the ranges, as one listing would have them. */
export interface CombinedRanges {
  progress: ResourceProgress;
  /** Candidates dropped because another range listed their record (strays). */
  droppedStrays: number;
}

const SUMMED = [
  "pages",
  "api",
  "rejected",
  "drifted",
  "firestore",
  "firestoreRemoved",
  "unchanged",
  "missing",
  "changed",
  "deferred",
  "candidates",
  "written",
  "writeConflicts",
  "unstorable",
  "strayCount",
  "undated",
  "misdated",
] as const;

/**
 * The type's progress from its ranges' (the type's own split plan kept): counts summed, id lists
 * joined (capped), and the candidates that are strays of any range dropped. Only complete when
 * every range is listed: a stray may come from a range still to be read.
 */
export function combineRanges(
  split: ResourceProgress["split"],
  ranges: readonly ResourceProgress[],
  candidateLimit: number,
): CombinedRanges {
  const out = emptyProgress();
  out.split = split;
  const fields = new Set<string>();
  const strays = new Set<string>();
  for (const r of ranges) {
    for (const key of SUMMED) out[key] += r[key];
    for (const f of r.fields) fields.add(f);
    for (const id of r.strays) strays.add(id);
    for (const e of r.driftExamples) if (out.driftExamples.length < 3) out.driftExamples.push(e);
    for (const e of r.unstorableExamples) {
      if (out.unstorableExamples.length < 3) out.unstorableExamples.push(e);
    }
    for (const id of r.deferredIds) keepId(out.deferredIds, id);
  }
  out.fields = [...fields].sort();
  out.strays = [...strays].slice(0, MAX_STRAYS);
  out.listed = ranges.length > 0 && ranges.every((r) => r.listed);
  let dropped = 0;
  for (const r of ranges) {
    for (const id of r.candidateIds) {
      if (strays.has(id)) dropped += 1;
      else if (out.candidateIds.length < candidateLimit) out.candidateIds.push(id);
    }
  }
  out.candidates = Math.max(0, out.candidates - dropped);
  return { progress: out, droppedStrays: dropped };
}
