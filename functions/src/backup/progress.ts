import { z } from "zod";

/**
 * How far a full run has gone through one resource, and what it found so far: the merge
 * (./merge.ts) and the write stream (./write-stream.ts) keep it up to date, the checkpoint
 * (./checkpoint.ts) stores it between continuations, and the run's stats are built from it
 * (./stream-result.ts). Counts are the run's totals across its continuations. Bounded: id lists
 * are capped, so a checkpoint document stays far below Firestore's 1 MiB.
 */

const count = z.number().int().min(0);

/** Ids kept of the documents OfficeRnD did not list (removal candidates) and of the conflicts. */
export const MAX_KEPT_IDS = 10_000;
/**
 * Strays a split listing keeps per type (ids whose `createdAt` disagrees with their id time);
 * beyond it the type's removals are held and its next listing is one chain.
 */
export const MAX_STRAYS = 2_000;

export const resourceProgressSchema = z.object({
  /** OfficeRnD's `cursorNext` after the last page whose writes are flushed; null: the start. */
  cursor: z.string().nullable(),
  /** The last record id merged in order (the Firestore side resumes after it); null: none. */
  lastId: z.string().nullable(),
  /** The listing reached its last page. */
  listed: z.boolean(),
  /** OfficeRnD's `/count` was checked against the ended listing (`unverified` says how). */
  counted: z.boolean(),
  /** The removals of this resource were decided (and applied, when allowed). */
  settled: z.boolean(),
  pages: count,
  /** Valid records OfficeRnD listed. */
  api: count,
  rejected: count,
  drifted: count,
  driftExamples: z.array(z.string()),
  /** The top-level fields of the records listed so far (schema drift, ./schema-drift.ts). */
  fields: z.array(z.string()),
  /** Documents seen on the Firestore side: not marked removed, and marked removed. */
  firestore: count,
  firestoreRemoved: count,
  unchanged: count,
  missing: count,
  changed: count,
  /** Differences left alone (a webhook may have caused them); some ids kept for the next run. */
  deferred: count,
  deferredIds: z.array(z.string()),
  /** Documents OfficeRnD did not list (orphans unless written during the listing). */
  candidates: count,
  candidateIds: z.array(z.string()),
  written: count,
  removed: count,
  /** Conditional writes that met a newer document. */
  writeConflicts: count,
  unstorable: count,
  unstorableExamples: z.array(z.string()),
  /** Actual orphans found when the removals were decided. */
  orphaned: count,
  /** Why OfficeRnD's `/count` did not show the listing complete; null when it did. */
  unverified: z.string().nullable(),
  /** Why removals were held back (none when they were not, or not decided yet). */
  holds: z.array(
    z.object({
      code: z.enum(["shrink_guard", "invalid_records", "incomplete_listing"]),
      message: z.string(),
    }),
  ),
  /**
   * One range of a split listing (./split-listing.ts): records it listed whose document id lies
   * outside its id bounds (`createdAt` disagreeing with the id's time), looked up by id; kept
   * (capped at MAX_STRAYS) so that their documents, not listed by the range whose id bounds hold
   * them, are not taken for orphans.
   */
  strays: z.array(z.string()).default([]),
  strayCount: count.default(0),
  /**
   * Records listed without a parseable `createdAt`, and with one a minute or more from their id
   * time: what a one-chain listing tells about whether its type may be split (./split-plan.ts).
   */
  undated: count.default(0),
  misdated: count.default(0),
  /**
   * A type listed as createdAt ranges side by side (./split-listing.ts): the split points, whole
   * seconds since the epoch, ascending (K-1 of them for K ranges); each range's own position is
   * saved beside this one (./checkpoint.ts). Null: one cursor chain.
   */
  split: z
    .object({ points: z.array(z.number().int()) })
    .nullable()
    .default(null),
});
export type RemovalHold = ResourceProgress["holds"][number];
export type ResourceProgress = z.infer<typeof resourceProgressSchema>;

export function emptyProgress(): ResourceProgress {
  return {
    cursor: null,
    lastId: null,
    listed: false,
    counted: false,
    settled: false,
    pages: 0,
    api: 0,
    rejected: 0,
    drifted: 0,
    driftExamples: [],
    fields: [],
    firestore: 0,
    firestoreRemoved: 0,
    unchanged: 0,
    missing: 0,
    changed: 0,
    deferred: 0,
    deferredIds: [],
    candidates: 0,
    candidateIds: [],
    written: 0,
    removed: 0,
    writeConflicts: 0,
    unstorable: 0,
    unstorableExamples: [],
    orphaned: 0,
    unverified: null,
    holds: [],
    strays: [],
    strayCount: 0,
    undated: 0,
    misdated: 0,
    split: null,
  };
}

/** Adds an id to a capped list; false when the list is full (the count still counts it). */
export function keepId(ids: string[], id: string, limit = MAX_KEPT_IDS): boolean {
  if (ids.length >= limit) return false;
  ids.push(id);
  return true;
}
