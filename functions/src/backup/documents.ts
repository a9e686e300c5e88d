import { Timestamp } from "firebase-admin/firestore";
import { z } from "zod";
import { readBudgetSchema } from "../officernd/rate-limit";
import { perResourceSchema } from "../officernd/resources";

/**
 * The backup's own Firestore documents: /officeRndMetadata/backup-metadata, its history under
 * `runs/`, the lock, and /errors. The contract between the engine (writes) and the status API
 * and CLI (reads). The mirrored record documents are in ../mirror/record-document.ts.
 */

// ---- /officeRndMetadata/backup-metadata (+ history, lock)

export const METADATA_DOC = "backup-metadata";
/** One document per run: /officeRndMetadata/backup-metadata/runs/{runId}. */
export const RUNS_SUBCOLLECTION = "runs";
/** The lease that keeps two runs from syncing at once. */
export const LOCK_DOC = "backup-lock";
export const ERRORS_COLLECTION = "errors";

export const BACKUP_TRIGGERS = ["schedule", "manual", "cli"] as const;
export type BackupTrigger = (typeof BACKUP_TRIGGERS)[number];
export type BackupStatus = "completed" | "failed";

const timestamp = z.instanceof(Timestamp);
const count = z.number().int().min(0);

/** Per resource, for one run. `api` is null when the API read of that resource failed. */
export const resourceStatsSchema = z.object({
  firestore: count,
  api: count.nullable(),
  missing: count,
  changed: count,
  orphaned: count,
  written: count,
  rejected: count,
  /** Orphans marked removed (or deleted, with the delete policy) by this run. */
  removed: count.default(0),
  /** Records Firestore cannot store (e.g. an array inside an array): not written, run failed. */
  unstorable: count.default(0),
  /**
   * Documents left as they are because a webhook may have changed them during the run: a write
   * that found a newer version, a stored record newer than OfficeRnD's (by modifiedAt), or a
   * document changed after the listing began. Compared again next run.
   */
  conflicts: count.default(0),
  /** The removal guard held back this resource's removals. */
  guarded: z.boolean().default(false),
  /** Records stored as sent whose fields differ from the resource's schema. */
  drifted: count.default(0),
  /** Why this resource is not in sync after the run (read failure, guard, …); null when fine. */
  error: z.string().nullable().default(null),
  /** Worth knowing but not a failure (schema drift, with examples); null when none. */
  warning: z.string().nullable().default(null),
});
export type ResourceStats = z.infer<typeof resourceStatsSchema>;

/** A resource's stats before anything was read (`api` null: OfficeRnD not read). */
export function emptyResourceStats(): ResourceStats {
  return resourceStatsSchema.parse({
    firestore: 0,
    api: null,
    missing: 0,
    changed: 0,
    orphaned: 0,
    written: 0,
    rejected: 0,
  });
}

/**
 * /officeRndMetadata/backup-conflicts: the ids each resource's latest complete run left alone as
 * conflicts. A document found in conflict again by the next run is repaired from OfficeRnD, so a
 * corrupted document (say, with a future `modifiedAt`) is not stuck forever.
 */
export const CONFLICTS_DOC = "backup-conflicts";
/** Ids kept per resource: beyond this, the rest wait for a later run. */
export const MAX_CONFLICT_IDS = 1000;
export const conflictsDocSchema = z.object({
  runId: z.string(),
  updatedAt: timestamp,
  resources: z.record(z.string(), z.array(z.string())),
});
export type ConflictsDoc = z.infer<typeof conflictsDocSchema>;

/** OfficeRnD client counters for one run (ClientStats of ../officernd/types.ts). */
export const apiStatsSchema = z.object({
  requests: count,
  tokenRequests: count,
  retries: count,
  throttled: count,
  waitMs: count,
  /** OfficeRnD's read budget: used by the run, and what its last answer said was left. */
  budget: readBudgetSchema.nullable().default(null),
});
export type ApiStats = z.infer<typeof apiStatsSchema>;

/** A run's OfficeRnD counters when it made no request. */
export function emptyApiStats(): ApiStats {
  return { requests: 0, tokenRequests: 0, retries: 0, throttled: 0, waitMs: 0, budget: null };
}

/**
 * The seed's fields, exactly (lastBackup, firestoreMembers, apiMembers, missingRecords, status,
 * error, updatedAt), then ours. Also the shape of each history document under `runs/`.
 */
export const backupMetadataSchema = z.object({
  lastBackup: timestamp,
  firestoreMembers: count,
  apiMembers: count.nullable(),
  missingRecords: count,
  status: z.enum(["completed", "failed"]),
  error: z.string().nullable(),
  updatedAt: timestamp,
  runId: z.string(),
  trigger: z.enum(BACKUP_TRIGGERS),
  startedAt: timestamp,
  finishedAt: timestamp,
  durationMs: count,
  errorCode: z.string().nullable(),
  /** True when Firestore equalled OfficeRnD for every resource when the run ended. */
  inSync: z.boolean(),
  resources: perResourceSchema(resourceStatsSchema),
  /** Last run that completed (kept across failed runs, for the 48-hour alert). */
  lastCompletedAt: timestamp.nullable(),
  /** Record documents written (created, replaced, marked removed or deleted) by this run. */
  written: count.default(0),
  /** Whether a later attempt may succeed (the scheduled function rethrows only then). */
  errorRetryable: z.boolean().default(false),
  /** OfficeRnD requests this run made; null when unknown (older documents). */
  api: apiStatsSchema.nullable().default(null),
});
export type BackupMetadata = z.infer<typeof backupMetadataSchema>;

export const lockSchema = z.object({
  runId: z.string(),
  trigger: z.enum(BACKUP_TRIGGERS),
  acquiredAt: timestamp,
  expiresAt: timestamp,
});
export type BackupLock = z.infer<typeof lockSchema>;

/** /errors/{auto-id}: what failed, never secrets or payloads. */
export const errorDocSchema = z.object({
  functionName: z.string(),
  runId: z.string().nullable(),
  message: z.string(),
  code: z.string(),
  time: timestamp,
  trigger: z.string().nullable(),
  resource: z.string().nullable(),
});
export type ErrorDoc = z.infer<typeof errorDocSchema>;
