import { Timestamp, type Firestore } from "firebase-admin/firestore";
import {
  backupMetadataSchema,
  lockSchema,
  emptyResourceStats,
  LOCK_DOC,
  METADATA_DOC,
  RUNS_SUBCOLLECTION,
  type BackupMetadata,
  type BackupTrigger,
  type ResourceStats,
} from "../../src/backup/documents";
import { METADATA_COLLECTION } from "../../src/mirror/collections";
import { SYNC_FIELD } from "../../src/mirror/record-document";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";

/**
 * Documents in the engine's format (../../src/backup/documents.ts), validated with its schemas
 * before they are written, so the status is tested against what the engine stores.
 */

export const HOUR = 3_600_000;

/**
 * Which types OfficeRnD sends webhook events for (docs/officernd-api.md): no opportunity.*,
 * location.* or event.* events exist; booking.* do.
 */
export const WEBHOOK_COVERAGE = {
  members: true,
  opportunities: false,
  companies: true,
  locations: false,
  events: false,
  bookings: true,
} as const;
export const NOW = new Date("2024-01-15T14:30:00.000Z");
export const at = (date: Date | string): Timestamp => Timestamp.fromDate(new Date(date));
export const hoursBefore = (date: Date, hours: number): Date =>
  new Date(date.getTime() - hours * HOUR);

export function stats(partial: Partial<ResourceStats> = {}): ResourceStats {
  return { ...emptyResourceStats(), api: 0, ...partial };
}

/**
 * Run ids in the engine's format (`newRunId`: UTC start time, then a suffix), which the history
 * is ordered by; the suffix here is a readable label instead of random bits.
 */
export function runIdFor(label: string, startedAt: Date): string {
  return `${startedAt.toISOString().replace(/[-:.]/g, "")}-${label}`;
}

export interface RunSpec {
  /** Suffix of the run id (see runIdFor). */
  label: string;
  /** When the run finished; it started `durationMs` earlier. */
  finishedAt: Date;
  durationMs?: number;
  status?: "completed" | "failed";
  inSync?: boolean;
  trigger?: BackupTrigger;
  error?: string | null;
  errorCode?: string | null;
  resources?: Partial<Record<ResourceName, Partial<ResourceStats>>>;
  lastCompletedAt?: Date | null;
}

/** A run document: completed and in sync with 150/75/25 records unless told otherwise. */
export function makeRun(spec: RunSpec): BackupMetadata {
  const status = spec.status ?? "completed";
  const durationMs = spec.durationMs ?? 60_000;
  const defaults: Record<ResourceName, Partial<ResourceStats>> = {
    members: { firestore: 150, api: 150 },
    opportunities: { firestore: 75, api: 75 },
    companies: { firestore: 25, api: 25 },
    // The design's next types: empty, so the design example's figures stay its own.
    locations: { firestore: 0, api: 0 },
    events: { firestore: 0, api: 0 },
    bookings: { firestore: 0, api: 0 },
  };
  const resources = Object.fromEntries(
    RESOURCE_NAMES.map((n) => [n, stats({ ...defaults[n], ...spec.resources?.[n] })]),
  ) as Record<ResourceName, ResourceStats>;
  const finished = at(spec.finishedAt);
  const startedAt = new Date(spec.finishedAt.getTime() - durationMs);
  const missingRecords = RESOURCE_NAMES.reduce((sum, n) => sum + resources[n].missing, 0);
  const doc = {
    lastBackup: finished,
    firestoreMembers: resources.members.firestore,
    apiMembers: resources.members.api,
    missingRecords,
    status,
    error: status === "failed" ? (spec.error ?? "OfficeRnD companies read failed") : null,
    updatedAt: finished,
    runId: runIdFor(spec.label, startedAt),
    trigger: spec.trigger ?? "schedule",
    startedAt: at(startedAt),
    finishedAt: finished,
    durationMs,
    errorCode: status === "failed" ? (spec.errorCode ?? "server") : null,
    inSync: spec.inSync ?? status === "completed",
    resources,
    lastCompletedAt:
      spec.lastCompletedAt === undefined
        ? status === "completed"
          ? finished
          : null
        : spec.lastCompletedAt && at(spec.lastCompletedAt),
    written: RESOURCE_NAMES.reduce((sum, n) => sum + resources[n].written, 0),
    errorRetryable: status === "failed",
    api: {
      requests: 9,
      tokenRequests: 1,
      retries: 0,
      throttled: 0,
      waitMs: 0,
      budget: {
        used: 9,
        minute: { limit: 400, remaining: 391, resetAt: "2024-01-15T10:00:41.000Z" },
        day: { limit: 20_000, remaining: 19_412, resetAt: "2024-01-16T06:12:00.000Z" },
      },
    },
  };
  return backupMetadataSchema.parse(doc);
}

export function metadataDoc(db: Firestore) {
  return db.collection(METADATA_COLLECTION).doc(METADATA_DOC);
}

/** Writes runs in the given order as history; the last one is also the metadata document. */
export async function writeRuns(db: Firestore, runs: readonly BackupMetadata[]): Promise<void> {
  const batch = db.batch();
  for (const run of runs) {
    batch.set(metadataDoc(db).collection(RUNS_SUBCOLLECTION).doc(run.runId), run);
  }
  const latest = runs.at(-1);
  if (latest) batch.set(metadataDoc(db), latest);
  await batch.commit();
}

export async function writeLock(
  db: Firestore,
  lock: { runId: string; acquiredAt: Date; expiresAt: Date; trigger?: BackupTrigger },
): Promise<void> {
  const doc = lockSchema.parse({
    runId: lock.runId,
    trigger: lock.trigger ?? "manual",
    acquiredAt: at(lock.acquiredAt),
    expiresAt: at(lock.expiresAt),
  });
  await db.collection(METADATA_COLLECTION).doc(LOCK_DOC).set(doc);
}

/**
 * Mirrored record documents: `active` ones, `removed` ones (marked gone from OfficeRnD) and
 * `bare` ones without the sync field.
 */
export async function seedRecords(
  db: Firestore,
  resource: ResourceName,
  counts: { active: number; removed?: number; bare?: number },
): Promise<void> {
  const collection = db.collection(RESOURCES[resource].collection);
  const synced = at("2024-01-15T10:00:00Z");
  let writer = db.batch();
  let pending = 0;
  const add = async (id: string, data: Record<string, unknown>) => {
    writer.set(collection.doc(id), data);
    if (++pending === 450) {
      await writer.commit();
      writer = db.batch();
      pending = 0;
    }
  };
  for (let i = 0; i < counts.active; i++) {
    await add(`a${i}`, {
      _id: `a${i}`,
      name: `Record ${i}`,
      [SYNC_FIELD]: { syncedAt: synced, source: "backup", removedAt: null },
    });
  }
  for (let i = 0; i < (counts.removed ?? 0); i++) {
    await add(`r${i}`, {
      _id: `r${i}`,
      name: `Gone ${i}`,
      [SYNC_FIELD]: { syncedAt: synced, source: "backup", removedAt: synced },
    });
  }
  for (let i = 0; i < (counts.bare ?? 0); i++) {
    await add(`b${i}`, { _id: `b${i}`, name: `Bare ${i}` });
  }
  if (pending > 0) await writer.commit();
}

/** The design document's example data: 150/75/25 records, one completed in-sync run. */
export async function seedDesignExample(db: Firestore, finishedAt: Date): Promise<BackupMetadata> {
  await Promise.all([
    seedRecords(db, "members", { active: 150 }),
    seedRecords(db, "opportunities", { active: 75 }),
    seedRecords(db, "companies", { active: 25 }),
  ]);
  const run = makeRun({ label: "design", finishedAt });
  await writeRuns(db, [run]);
  return run;
}
