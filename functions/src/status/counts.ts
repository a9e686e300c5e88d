import type { Firestore } from "firebase-admin/firestore";
import { RESOURCE_NAMES, RESOURCES, type ResourceName } from "../officernd/resources";
import { countActiveRecords } from "./read";

/**
 * The `firestore` counts of the status. A count aggregation costs time (and, in production, one
 * read per 1,000 index entries) in proportion to the collection's size, so the HTTP app shares
 * one result between the requests of a short window; the response says when it was counted.
 */

export interface FirestoreCounts {
  counts: Record<ResourceName, number>;
  /** When they were counted. */
  asOf: Date;
}

export type CountSource = (db: Firestore, now: Date) => Promise<FirestoreCounts>;

/** Counts now: two count aggregations per resource, in parallel. */
export const liveCounts: CountSource = async (db, now) => {
  const values = await Promise.all(
    RESOURCE_NAMES.map((n) => countActiveRecords(db, RESOURCES[n].collection)),
  );
  const counts = Object.fromEntries(RESOURCE_NAMES.map((n, i) => [n, values[i] ?? 0])) as Record<
    ResourceName,
    number
  >;
  return { counts, asOf: now };
};

export const DEFAULT_COUNTS_MAX_AGE_MS = 30_000;

/**
 * Counts at most `maxAgeMs` old (measured on a monotonic clock), computed once however many
 * requests arrive meanwhile (single flight). A failed count is not kept. 0 = always live.
 */
export function cachedCounts(maxAgeMs: number, source: CountSource = liveCounts): CountSource {
  if (maxAgeMs <= 0) return source;
  interface Entry {
    value: Promise<FirestoreCounts>;
    takenAt: number;
  }
  const entries = new WeakMap<Firestore, Entry>();
  return (db, now) => {
    const current = entries.get(db);
    if (current && performance.now() - current.takenAt < maxAgeMs) return current.value;
    const entry: Entry = { value: source(db, now), takenAt: performance.now() };
    entries.set(db, entry);
    entry.value.catch(() => {
      if (entries.get(db) === entry) entries.delete(db);
    });
    return entry.value;
  };
}
