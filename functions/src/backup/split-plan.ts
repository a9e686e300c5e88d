import {
  FieldPath,
  FieldValue,
  Timestamp,
  type Firestore,
  type Query,
} from "firebase-admin/firestore";
import { z } from "zod";
import { logs } from "../logs";
import { RESOURCES, type ResourceName } from "../officernd/resources";
import { METADATA_COLLECTION } from "../mirror/collections";
import { within } from "../mirror/deadline";
import {
  createdAtSecond,
  evenPoints,
  MAX_RANGES,
  objectIdAt,
  objectIdSeconds,
  splittable,
  validPoints,
} from "./listing-ranges";
import { MAX_STRAYS, type ResourceProgress } from "./progress";
import { firestoreTimeout, type BackupDeps } from "./run-deps";

/**
 * Whether a type is listed as createdAt ranges side by side (./split-listing.ts), and where it is
 * cut: decided once, when its listing starts (the points are saved with its position, so every
 * attempt of the run uses the same ranges). Only for a type that accepts the createdAt range and
 * has `/count` (./listing-ranges.ts `splittable`), is big enough for ranges to matter, and has
 * not come out short split lately (a durable note, /officeRndMetadata/backup-listing).
 *
 * Where it is cut, without reading OfficeRnD where possible:
 * - the mirror holds the type: at its quantiles by document id (Firestore count() aggregations
 *   over id ranges, bisected on the second; ids are ObjectIds whose first 8 hex digits are their
 *   creation second, docs/officernd-api.md), so the ranges hold about as many records each;
 * - the mirror is empty (the first run): OfficeRnD's `/count` (is it big enough?) and its first
 *   page (the oldest ids, in `_id` order) — two reads — then evenly in time from the oldest record
 *   to now. Uneven growth only makes some ranges longer than others; coverage never depends on
 *   the points (the first range has no lower bound, the last no upper one).
 */

/** Records a range should hold at least (20 pages of 50): below, one chain is as fast. */
export const MIN_RANGE_RECORDS = 1_000;
/** A type listed in one chain after its split listing came out short, for this long. */
const ONE_CHAIN_DAYS = 30;
/** Bisection steps per split point (each a count() aggregation). */
const MAX_BISECT_STEPS = 24;

export const LISTING_DOC = "backup-listing";

const listingDocSchema = z.object({
  /** Per type: listed in one chain until `until`, and why. */
  oneChain: z.record(
    z.string(),
    z.object({ until: z.instanceof(Timestamp), reason: z.string(), runId: z.string() }),
  ),
});

function listingRef(db: Firestore) {
  return db.collection(METADATA_COLLECTION).doc(LISTING_DOC);
}

export interface SplitDecision {
  /** Split points (whole seconds, ascending); null: one chain. */
  points: number[] | null;
  /** Why, in a few words (logged). */
  reason: string;
}

/** The split of one type's listing, or one chain. Never throws: when in doubt, one chain. */
export async function planSplit(
  deps: BackupDeps,
  runId: string,
  resource: ResourceName,
  signal: AbortSignal,
): Promise<SplitDecision> {
  const decision = await decide(deps, resource, signal).catch((error: unknown): SplitDecision => ({
    points: null,
    reason: `could not plan ranges (${error instanceof Error ? error.message : String(error)})`,
  }));
  if (decision.points !== null && !validPoints(decision.points)) {
    decision.points = null;
    decision.reason = "no distinct split points";
  }
  if (decision.points !== null || splittable(resource)) {
    logs.backupProgress({
      runId,
      phase: decision.points === null ? "one_chain" : "split",
      resource,
      ranges: (decision.points?.length ?? 0) + 1,
      points: decision.points?.map((p) => new Date(p * 1000).toISOString()).join(","),
      reason: decision.reason,
    });
  }
  return decision;
}

async function decide(
  deps: BackupDeps,
  resource: ResourceName,
  signal: AbortSignal,
): Promise<SplitDecision> {
  const most = Math.min(MAX_RANGES, deps.config.listingRanges);
  if (most <= 1) return { points: null, reason: "BACKUP_LISTING_RANGES is 1" };
  if (!splittable(resource)) return { points: null, reason: "no createdAt range and /count" };
  // Without OfficeRnD's /count nothing would show a record missing from every range.
  if (deps.reader.count === undefined) return { points: null, reason: "the reader cannot count" };
  const timeout = firestoreTimeout(deps);
  const note = await oneChainNote(deps.db, resource, deps.now?.() ?? new Date(), timeout);
  if (note !== null) return { points: null, reason: note };
  const collection = deps.db.collection(RESOURCES[resource].collection);
  const mirrored = (await within(collection.count().get(), timeout)).data().count;
  if (mirrored > 0) {
    const k = rangesFor(mirrored, most);
    if (k <= 1) return { points: null, reason: `${mirrored} documents: one chain is as fast` };
    const now = Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
    return {
      points: await mirrorQuantiles(collection, mirrored, k, now, timeout),
      reason: "mirror",
    };
  }
  // The first run: OfficeRnD's count and its oldest ids (two reads).
  const total = (await deps.reader.count?.(resource, { signal })) ?? null;
  if (total === null) return { points: null, reason: "OfficeRnD gave no count" };
  const k = rangesFor(total, most);
  if (k <= 1) return { points: null, reason: `${total} records: one chain is as fast` };
  let oldest: number | null = null;
  for await (const page of deps.reader.pages(resource, { signal, prefetch: false })) {
    for (const record of page.records) {
      for (const t of [objectIdSeconds(record._id), createdAtSecond(record.createdAt)]) {
        if (t !== null && (oldest === null || t < oldest)) oldest = t;
      }
    }
    break;
  }
  const now = Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
  if (oldest === null || oldest >= now) return { points: null, reason: "no oldest record time" };
  return { points: evenPoints(oldest, now + 1, k), reason: `first run, ${total} records` };
}

function rangesFor(records: number, most: number): number {
  return Math.max(1, Math.min(most, Math.floor(records / MIN_RANGE_RECORDS)));
}

/** K-1 points cutting the collection's ids into K parts of about the same count. */
async function mirrorQuantiles(
  collection: Query,
  total: number,
  k: number,
  now: number,
  timeout: number,
): Promise<number[]> {
  const byId = collection.orderBy(FieldPath.documentId());
  // The first id's second; the last bound is now (the emulator refuses a descending id scan).
  const snap = await within(byId.limit(1).select().get(), timeout);
  const first = objectIdSeconds(snap.docs[0]?.id ?? "");
  if (first === null || now <= first) return [];
  const last = now;
  const below = async (t: number) =>
    (await within(byId.endBefore(objectIdAt(t)).count().get(), timeout)).data().count;
  const tolerance = Math.max(1, Math.floor(total / (20 * k)));
  const points = await Promise.all(
    Array.from({ length: k - 1 }, async (_, i) => {
      const target = (total * (i + 1)) / k;
      let lo = first;
      let hi = last + 1;
      for (let step = 0; step < MAX_BISECT_STEPS && hi - lo > 1; step += 1) {
        const mid = Math.floor((lo + hi) / 2);
        const n = await below(mid);
        if (Math.abs(n - target) <= tolerance) return mid;
        if (n < target) lo = mid;
        else hi = mid;
      }
      return hi;
    }),
  );
  return [...new Set(points)].sort((a, b) => a - b);
}

/** Why the type is listed in one chain for now (a recent split came out short); null: it is not. */
async function oneChainNote(
  db: Firestore,
  resource: ResourceName,
  now: Date,
  timeout: number,
): Promise<string | null> {
  const snap = await within(listingRef(db).get(), timeout);
  const parsed = listingDocSchema.safeParse(snap.data() ?? { oneChain: {} });
  const note = parsed.success ? parsed.data.oneChain[resource] : undefined;
  if (note === undefined || note.until.toMillis() <= now.getTime()) return null;
  return `one chain until ${note.until.toDate().toISOString()}: ${note.reason}`;
}

/**
 * What a complete, verified one-chain listing of a splittable type shows about splitting it: no
 * record without createdAt, and no more records whose createdAt disagrees with their id time than
 * a split listing tracks (MAX_STRAYS). When it fits, the note is dropped (a split that came out
 * short for a passing reason, e.g. members created after the last range ended, costs one day in
 * one chain, not ONE_CHAIN_DAYS); when it does not, the note is renewed (an organization with
 * records without createdAt is never split, instead of failing a split run every 30 days).
 */
export async function noteSplitFit(
  deps: BackupDeps,
  runId: string,
  resource: ResourceName,
  listed: Pick<ResourceProgress, "undated" | "misdated">,
): Promise<void> {
  if (listed.undated > 0 || listed.misdated > MAX_STRAYS) {
    const reason =
      listed.undated > 0
        ? `${plural(listed.undated, "record")} without createdAt (in no createdAt range)`
        : `${plural(listed.misdated, "record")} whose createdAt is minutes or more from their id time`;
    await rememberOneChain(deps, runId, resource, reason);
    return;
  }
  await bestEffort(runId, resource, async () => {
    await within(
      listingRef(deps.db).set({ oneChain: { [resource]: FieldValue.delete() } }, { merge: true }),
      firestoreTimeout(deps),
    );
  });
}

/** The note is best effort: one not written only changes the speed of later runs (logged). */
async function bestEffort(
  runId: string,
  resource: ResourceName,
  write: () => Promise<void>,
): Promise<void> {
  await write().catch((error: unknown) => {
    logs.backupProgress({ runId, phase: "one_chain_not_saved", resource, reason: String(error) });
  });
}

/** `1 record`, `2 records`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * A split listing of the type came out short (records without createdAt are in no range) or with
 * more strays than a run tracks: its next listings are one chain, for ONE_CHAIN_DAYS (renewed or
 * dropped by the evidence of the one-chain listings: noteSplitFit). Never throws.
 */
export async function rememberOneChain(
  deps: BackupDeps,
  runId: string,
  resource: ResourceName,
  reason: string,
): Promise<void> {
  const now = deps.now?.() ?? new Date();
  const until = Timestamp.fromMillis(now.getTime() + ONE_CHAIN_DAYS * 86_400_000);
  await bestEffort(runId, resource, async () => {
    await within(
      listingRef(deps.db).set(
        { oneChain: { [resource]: { until, reason, runId } } },
        { merge: true },
      ),
      firestoreTimeout(deps),
    );
    logs.backupProgress({
      runId,
      phase: "one_chain_next",
      resource,
      reason,
      until: until.toDate().toISOString(),
    });
  });
}
