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
/**
 * `full`: the design's backup (every record, removals); `incremental`: only records modified
 * since each type's high-water mark, never a removal (./incremental-read.ts).
 */
export const RUN_MODES = ["full", "incremental"] as const;
export type RunMode = (typeof RUN_MODES)[number];
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

// ---- Incremental sync and schema drift (/officeRndMetadata/incremental-state, schema-fields)

/** High-water marks; incremental runs' history is its `runs/` subcollection. */
export const INCREMENTAL_STATE_DOC = "incremental-state";
/** The top-level fields each type's records had, to tell what appeared or disappeared. */
export const SCHEMA_FIELDS_DOC = "schema-fields";

/**
 * How an incremental run read a type: `incremental` (records modified since `since`), or why it
 * left the type to the full backup: its records carry no modifiedAt, its listing takes no such
 * filter, OfficeRnD refused the filter (a 400) or ignored it (records older than asked for), or no
 * run has set the type's high-water mark yet.
 */
export const INCREMENTAL_READS = [
  "incremental",
  "no_modified_at",
  "no_filter",
  "filter_refused",
  "filter_ignored",
  "no_high_water_mark",
] as const;
export type IncrementalRead = (typeof INCREMENTAL_READS)[number];
export const incrementalCoverageSchema = z.object({
  read: z.enum(INCREMENTAL_READS),
  /** ISO time: records modified at or after it were read (the high-water mark less the overlap). */
  since: z.iso.datetime().nullable(),
  /** One sentence for people: why the type is left to the full backup; null when read. */
  note: z.string().nullable(),
});
export type IncrementalCoverage = z.infer<typeof incrementalCoverageSchema>;

/** Top-level fields that appeared in, or disappeared from, a type's records since the last run. */
export const fieldDriftSchema = z.object({
  added: z.array(z.string()),
  removed: z.array(z.string()),
});
export type FieldDrift = z.infer<typeof fieldDriftSchema>;

/** Per type: the listing start of the latest run that brought every change before it in. */
export const incrementalStateDocSchema = z.object({
  resources: z.record(
    z.string(),
    z.object({ highWaterMark: timestamp, runId: z.string(), mode: z.enum(RUN_MODES) }),
  ),
});
export type IncrementalStateDoc = z.infer<typeof incrementalStateDocSchema>;

export const schemaFieldsDocSchema = z.object({
  resources: z.record(
    z.string(),
    z.object({
      /** Union of the top-level keys of the type's records, sorted. */
      fields: z.array(z.string()),
      updatedAt: timestamp,
      runId: z.string(),
      /** The latest drift found, kept until the next one (the status shows it). */
      lastChange: fieldDriftSchema
        .extend({ at: timestamp, runId: z.string(), mode: z.enum(RUN_MODES) })
        .nullable(),
    }),
  ),
});
export type SchemaFieldsDoc = z.infer<typeof schemaFieldsDocSchema>;

/**
 * The seed's fields, exactly (lastBackup, firestoreMembers, apiMembers, missingRecords, status,
 * error, updatedAt), then ours. Also the shape of each history document under `runs/`.
 */
export const backupMetadataSchema = z.object({
  lastBackup: timestamp,
  firestoreMembers: count,
  apiMembers: count.nullable(),
  missingRecords: count,
  /** `continuing`: history only, an attempt of a run that goes on (backup/full-run.ts). */
  status: z.enum(["completed", "failed", "continuing"]),
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
  /** Attempts of a full run that handed over to a continuation before it ended (same run id). */
  continuations: count.default(0),
  /** Older documents have none: they were full runs. */
  mode: z.enum(RUN_MODES).default("full"),
  /** Incremental runs: how each selected type was read; null for full runs. */
  coverage: z.record(z.string(), incrementalCoverageSchema).nullable().default(null),
  /** Types whose top-level fields changed since the previous run (none on the first: a baseline). */
  schemaDrift: z.record(z.string(), fieldDriftSchema).default({}),
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
