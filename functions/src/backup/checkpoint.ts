import { Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { logs } from "../logs";
import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import { METADATA_COLLECTION } from "../mirror/collections";
import { within } from "../mirror/deadline";
import { BACKUP_TRIGGERS } from "./documents";
import { MAX_RANGES } from "./listing-ranges";
import { resourceProgressSchema, type ResourceProgress } from "./progress";

/**
 * Where an unfinished full run stands, so that the next attempt resumes it instead of starting
 * over: /officeRndMetadata/backup-checkpoint (the run: id, trigger, start, continuations) and
 * one document per resource under `resources/` (its ./progress.ts: OfficeRnD's cursor, the last
 * id merged, counts so far, removal candidates). Saved while the run goes on (every few chunks of
 * writes, and at least every CHECKPOINT_EVERY_MS per resource) and when it stops at its time
 * budget; deleted when the run ends. Resuming is safe at any age: OfficeRnD's cursors are keyset
 * positions (`{"k":"_id","v":"<last _id>"}`, docs/officernd-api.md), not server sessions, and
 * every removal is decided on documents re-read at the end of the listing.
 */

export const CHECKPOINT_DOC = "backup-checkpoint";
const RESOURCES_SUBCOLLECTION = "resources";
/** How often a resource's progress is saved while its listing goes on. */
export const CHECKPOINT_EVERY_MS = 10_000;
/**
 * A run continued this many times without ending is abandoned (something keeps it from ending,
 * e.g. a phase that never stops): about a day of 29-minute attempts.
 */
export const MAX_CONTINUATIONS = 48;

export const checkpointSchema = z.object({
  runId: z.string(),
  trigger: z.enum(BACKUP_TRIGGERS),
  /** When the run's first attempt started. */
  startedAt: z.instanceof(Timestamp),
  /** When its listings began, on Firestore's clock (ms): documents written later are not removed. */
  listingStartedAt: z.number(),
  /** Attempts so far that stopped at their budget and handed over. */
  continuations: z.number().int().min(0),
  resources: z.array(z.enum(RESOURCE_NAMES)),
  /**
   * The run failed on something passing (recorded failed): the next run starts from its position
   * under an id of its own (backup/full-run.ts), not as this run.
   */
  endedFailed: z.boolean().default(false),
  updatedAt: z.instanceof(Timestamp),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

const storedProgressSchema = resourceProgressSchema.extend({ runId: z.string() });

export interface SavedRun {
  checkpoint: Checkpoint;
  progress: Map<ResourceName, ResourceProgress>;
  /**
   * The ranges of the types listed split (./split-listing.ts), by index: one document each,
   * `resources/{type}~{index}`, beside the type's own (which holds the split points).
   */
  ranges: Map<ResourceName, Map<number, ResourceProgress>>;
}

function checkpointRef(db: Firestore): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(CHECKPOINT_DOC);
}

function progressRef(db: Firestore, resource: ResourceName): DocumentReference {
  return checkpointRef(db).collection(RESOURCES_SUBCOLLECTION).doc(resource);
}

function rangeRef(db: Firestore, resource: ResourceName, index: number): DocumentReference {
  return checkpointRef(db).collection(RESOURCES_SUBCOLLECTION).doc(`${resource}~${index}`);
}

/** The unfinished run, if any; an unreadable checkpoint counts as none (and is logged). */
export async function loadCheckpoint(db: Firestore, timeoutMs: number): Promise<SavedRun | null> {
  const snapshot = await within(checkpointRef(db).get(), timeoutMs);
  if (!snapshot.exists) return null;
  const parsed = checkpointSchema.safeParse(snapshot.data());
  if (!parsed.success) {
    logs.statusDocumentInvalid({
      path: snapshot.ref.path,
      issues: parsed.error.issues.map((i) => i.message).join("; "),
    });
    return null;
  }
  const checkpoint = parsed.data;
  const progress = new Map<ResourceName, ResourceProgress>();
  const ranges = new Map<ResourceName, Map<number, ResourceProgress>>();
  const docs = await within(checkpointRef(db).collection(RESOURCES_SUBCOLLECTION).get(), timeoutMs);
  for (const doc of docs.docs) {
    const stored = storedProgressSchema.safeParse(doc.data());
    const range = /^([a-z]+)~(\d+)$/.exec(doc.id);
    if (range !== null) {
      const name = RESOURCE_NAMES.find((n) => n === range[1]);
      if (!stored.success || name === undefined || stored.data.runId !== checkpoint.runId) continue;
      const { runId: _runId, ...saved } = stored.data;
      const byIndex = ranges.get(name) ?? new Map<number, ResourceProgress>();
      byIndex.set(Number(range[2]), saved);
      ranges.set(name, byIndex);
      continue;
    }
    const resource = RESOURCE_NAMES.find((name) => name === doc.id);
    // Another run's leftovers, or a malformed one: that resource starts over.
    if (!stored.success || resource === undefined || stored.data.runId !== checkpoint.runId) {
      continue;
    }
    const { runId: _runId, ...saved } = stored.data;
    progress.set(resource, saved);
  }
  return { checkpoint, progress, ranges };
}

export async function saveCheckpoint(
  db: Firestore,
  checkpoint: Checkpoint,
  timeoutMs: number,
): Promise<void> {
  await within(checkpointRef(db).set(checkpoint), timeoutMs);
}

export async function saveProgress(
  db: Firestore,
  runId: string,
  resource: ResourceName,
  progress: ResourceProgress,
  timeoutMs: number,
): Promise<void> {
  await within(progressRef(db, resource).set({ ...progress, runId }), timeoutMs);
}

/** One range of a split listing (./split-listing.ts). */
export async function saveRangeProgress(
  db: Firestore,
  runId: string,
  resource: ResourceName,
  index: number,
  progress: ResourceProgress,
  timeoutMs: number,
): Promise<void> {
  await within(rangeRef(db, resource, index).set({ ...progress, runId }), timeoutMs);
}

/** A new run taking over a failed run's positions: its header and every position, at once. */
export async function saveAdopted(
  db: Firestore,
  checkpoint: Checkpoint,
  progress: ReadonlyMap<ResourceName, ResourceProgress>,
  ranges: ReadonlyMap<ResourceName, ReadonlyMap<number, ResourceProgress>>,
  timeoutMs: number,
): Promise<void> {
  const batch = db.batch();
  batch.set(checkpointRef(db), checkpoint);
  for (const [resource, p] of progress) {
    batch.set(progressRef(db, resource), { ...p, runId: checkpoint.runId });
  }
  for (const [resource, byIndex] of ranges) {
    for (const [index, p] of byIndex) {
      batch.set(rangeRef(db, resource, index), { ...p, runId: checkpoint.runId });
    }
  }
  await within(batch.commit(), timeoutMs);
}

/** Deletes the checkpoint (the run ended, or `run --fresh` abandons it). */
export async function clearCheckpoint(db: Firestore, timeoutMs: number): Promise<void> {
  const batch = db.batch();
  for (const resource of RESOURCE_NAMES) {
    batch.delete(progressRef(db, resource));
    for (let i = 0; i < MAX_RANGES; i += 1) batch.delete(rangeRef(db, resource, i));
  }
  batch.delete(checkpointRef(db));
  await within(batch.commit(), timeoutMs);
}
