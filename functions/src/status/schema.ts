import { z } from "zod";
import {
  apiStatsSchema,
  BACKUP_TRIGGERS,
  fieldDriftSchema,
  incrementalCoverageSchema,
  resourceStatsSchema,
  RUN_MODES,
} from "../backup/documents";
import { SYNC_HEALTH } from "../backup/sync-health";
import { readBudgetSchema } from "../officernd/rate-limit";
import { perResourceSchema } from "../officernd/resources";

/**
 * The response of `GET /v1/office-rnd/backup-status` and of the CLI's `status` command.
 *
 * The first four keys are the design document's response, in its order and with its names
 * (`backup`, `currentStats`, `syncHealth`, `lastChecked`); everything else comes after them.
 * All times are ISO 8601 UTC strings (`Date.prototype.toISOString`).
 */

const isoTime = z.iso.datetime();
const count = z.number().int().min(0);
const percent = z.number().min(0).max(100);

function perResource<T extends z.ZodType>(schema: T) {
  return perResourceSchema(schema, { strict: true });
}

export const BACKUP_STATE = ["completed", "failed", "never_run"] as const;
export type BackupState = (typeof BACKUP_STATE)[number];

export const ALERT_CODES = [
  "backup_failed",
  "backup_never_run",
  "backup_stale",
  "missing_records_high",
  "out_of_sync",
] as const;
export type AlertCode = (typeof ALERT_CODES)[number];

export const alertSchema = z.strictObject({
  code: z.enum(ALERT_CODES),
  severity: z.enum(["critical", "warning"]),
  message: z.string(),
});
export type Alert = z.infer<typeof alertSchema>;

export const resourceCountsSchema = z.strictObject({
  /** Active documents in Firestore now (count aggregation; records marked removed excluded). */
  firestore: count,
  /** Records OfficeRnD listed in the latest run; null before any run or when that read failed. */
  api: count.nullable(),
  /**
   * Records missing from Firestore now: 0 after a completed run (it created them); after a
   * failed run, what that run found. Null when `api` is null. What the latest run found, before
   * repairing, is `backup.missingRecords` (and each run's in the history).
   */
  missing: count.nullable(),
});
export type ResourceCounts = z.infer<typeof resourceCountsSchema>;

export const volumePointSchema = z.strictObject({
  /** When the run finished. */
  at: isoTime,
  api: count.nullable(),
  firestore: count,
});

export const backupStatusResponseSchema = z.strictObject({
  backup: z.strictObject({
    /** When the latest run (completed or failed) happened; null before any run. */
    lastBackup: isoTime.nullable(),
    status: z.enum(BACKUP_STATE),
    /** Total missing records across resources found by the latest run; null before any run. */
    missingRecords: count.nullable(),
    // ---- beyond the design document
    runId: z.string().nullable(),
    trigger: z.enum(BACKUP_TRIGGERS).nullable(),
    /** Latest run that completed (kept across failed runs). */
    lastCompleted: isoTime.nullable(),
    /** The latest run's recorded failure, as the engine stored it (no secrets, no payloads). */
    error: z.strictObject({ code: z.string().nullable(), message: z.string() }).nullable(),
    /**
     * OfficeRnD's read budget as the latest run left it: reads it used, and what the minute and
     * the daily quota had left (its rate-limit headers); null before any run recorded it.
     */
    readBudget: readBudgetSchema.nullable(),
    /** A run currently holds the backup lock (its lease has not expired). */
    inProgress: z
      .strictObject({
        runId: z.string(),
        trigger: z.enum(BACKUP_TRIGGERS),
        startedAt: isoTime,
        expiresAt: isoTime,
      })
      .nullable(),
    /**
     * A full run too long for one function run, between or during its attempts: it goes on from
     * its checkpoint with the same run id (docs/scaling.md). Null when no run is unfinished.
     */
    continuing: z
      .strictObject({
        runId: z.string(),
        trigger: z.enum(BACKUP_TRIGGERS),
        startedAt: isoTime,
        /** Attempts that handed over so far. */
        continuations: count,
        updatedAt: isoTime,
        /** Per mirrored type: records listed and documents written so far, and whether done. */
        resources: z.record(
          z.string(),
          z.strictObject({ listed: count, written: count, done: z.boolean() }),
        ),
      })
      .nullable(),
  }),
  currentStats: perResource(resourceCountsSchema),
  /** Each resource's state when the latest run ended; null when unknown (see docs/api.md). */
  syncHealth: perResource(z.enum(SYNC_HEALTH).nullable()),
  /** When this response was computed. */
  lastChecked: isoTime,
  // ---- beyond the design document
  alerts: z.array(alertSchema),
  metrics: z.strictObject({
    /** History documents the metrics below were computed from (newest first, at most N). */
    runsConsidered: count,
    dataConsistency: z.strictObject({
      /** % of records the latest run found in sync (before it repaired anything). */
      percent: percent.nullable(),
      inSyncRecords: count.nullable(),
      totalRecords: count.nullable(),
      /** Mean of the same percentage over the runs considered. */
      averagePercent: percent.nullable(),
    }),
    successRate: z.strictObject({
      percent: percent.nullable(),
      completed: count,
      failed: count,
      runs: count,
    }),
    /**
     * Incidents: from the start of a run that failed or found drift to the end of the next run
     * (possibly the same one) that completed in sync.
     */
    timeToRecover: z.strictObject({
      recoveries: count,
      lastMs: count.nullable(),
      averageMs: count.nullable(),
      maxMs: count.nullable(),
      /** Start of an incident no run has recovered from yet. */
      unresolvedSince: isoTime.nullable(),
    }),
    /** Per resource, oldest first: what OfficeRnD listed and what Firestore held at each run. */
    dataVolume: perResource(z.array(volumePointSchema)),
  }),
  freshness: z.strictObject({
    /** When the `api` counts (and `missing`) were read: the latest run's end. */
    apiCountsAsOf: isoTime.nullable(),
    apiCountsAgeSeconds: count.nullable(),
    /** When the `firestore` counts were taken (the HTTP app reuses them for up to 30 s). */
    firestoreCountsAsOf: isoTime,
    firestoreCountsAgeSeconds: count,
  }),
  /** OfficeRnD webhook deliveries (docs/webhooks.md): when they stop, this shows it. */
  webhooks: z.strictObject({
    /** Latest signed delivery (any event type, redeliveries included); null before the first. */
    lastReceivedAt: isoTime.nullable(),
    /**
     * Distinct events processed since the latest backup run started (every event processed in
     * the last 7 days, the retention of processed-event ids, before any run).
     */
    receivedSinceLastBackup: count,
    /** Deliveries refused (bad, missing or stale signature, invalid body, …) since counting began. */
    rejected: count,
    lastRejectedAt: isoTime.nullable(),
    /** Signed deliveries per event type since counting began (redeliveries included). */
    byType: z.record(z.string(), count),
    /**
     * Per resource: whether OfficeRnD sends webhook events for it at all. Opportunities have none
     * (no `opportunity.*` event exists, docs/officernd-api.md): only the backup keeps them fresh.
     */
    coverage: perResource(z.boolean()),
  }),
  /**
   * The incremental sync (officeRndIncrementalSync, `run --mode incremental`): its latest run and
   * the high-water marks it reads from. The design's fields above stay the full backup's.
   */
  incrementalSync: z.strictObject({
    lastRun: z
      .strictObject({
        runId: z.string(),
        trigger: z.enum(BACKUP_TRIGGERS),
        status: z.enum(["completed", "failed"]),
        startedAt: isoTime,
        finishedAt: isoTime,
        /** Record documents written (created or replaced; an incremental run removes none). */
        written: count,
        error: z.strictObject({ code: z.string().nullable(), message: z.string() }).nullable(),
        /** Per type read incrementally: records listed (modified since its mark) and written. */
        resources: z.record(z.string(), z.strictObject({ api: count.nullable(), written: count })),
        /** Per type left to the full backup: why (no modifiedAt, filter refused, no mark yet). */
        fullBackupOnly: z.record(z.string(), z.string()),
      })
      .nullable(),
    /**
     * Per type: the listing start of the latest run that brought every change before it into
     * Firestore (the next incremental run reads from 5 minutes before it); null: none yet.
     */
    highWaterMarks: perResource(isoTime.nullable()),
  }),
  /**
   * Schema drift per type: how many top-level fields its records have (null before a run listed
   * any), and the latest change found (fields that appeared or disappeared), kept until the next.
   */
  schemaDrift: perResource(
    z.strictObject({
      fields: count.nullable(),
      lastChange: z
        .strictObject({
          at: isoTime,
          runId: z.string(),
          mode: z.enum(RUN_MODES),
          added: z.array(z.string()),
          removed: z.array(z.string()),
        })
        .nullable(),
    }),
  ),
});
export type BackupStatusResponse = z.infer<typeof backupStatusResponseSchema>;

/** One history entry as `GET /v1/office-rnd/backups` lists it. */
export const backupRunSummarySchema = z.strictObject({
  runId: z.string(),
  trigger: z.enum(BACKUP_TRIGGERS),
  /** `continuing`: an attempt of a run that went on in a continuation (same run id). */
  status: z.enum(["completed", "failed", "continuing"]),
  startedAt: isoTime,
  finishedAt: isoTime,
  durationMs: count,
  missingRecords: count,
  inSync: z.boolean(),
  /** Record documents written by the run. */
  written: count,
  error: z.strictObject({ code: z.string().nullable(), message: z.string() }).nullable(),
  /** Per resource: the run's stats as stored (backup/documents.ts). */
  resources: perResource(resourceStatsSchema.strict()),

  /** OfficeRnD requests the run made; null when the run did not record them. */
  apiRequests: apiStatsSchema.strict().nullable(),
  /** `full` (the design's backup) or `incremental` (changed records only, no removals). */
  mode: z.enum(RUN_MODES),
  /** Incremental runs: how each selected type was read, or why it was left to the full backup. */
  coverage: z.record(z.string(), incrementalCoverageSchema.strict()).nullable(),
  /** Types whose top-level fields appeared or disappeared since the previous run. */
  schemaDrift: z.record(z.string(), fieldDriftSchema.strict()),
});
export type BackupRunSummary = z.infer<typeof backupRunSummarySchema>;

export const backupRunsResponseSchema = z.strictObject({
  runs: z.array(backupRunSummarySchema),
  limit: z.number().int().min(1).max(100),
});
export type BackupRunsResponse = z.infer<typeof backupRunsResponseSchema>;
