import type { Firestore } from "firebase-admin/firestore";
import { RUN_MODES, type BackupMetadata } from "../backup/documents";
import { perResource } from "../officernd/resources";
import {
  computeAlerts,
  computeMetrics,
  computeSyncHealth,
  lastCompletedAt,
  runInProgress,
} from "./metrics";
import { loadCheckpoint, type SavedRun } from "../backup/checkpoint";
import { readBackupLock } from "../backup/lock";
import { readBackupMetadata } from "../backup/metadata";
import { liveCounts, type CountSource } from "./counts";
import { listValidRuns } from "./read";
import type { BackupRunSummary, BackupStatusResponse, ResourceCounts } from "./schema";
import { readWebhookHealth } from "./webhooks";
import { readIncrementalStatus } from "./incremental";

export interface BackupStatusOptions {
  now?: () => Date;
  /** `missing_records_high` fires above this many missing records (BACKUP_MISSING_ALERT_THRESHOLD). */
  missingAlertThreshold: number;
  /** Run history documents the metrics are computed from (default 30). */
  historyLimit?: number;
  /** `backup_stale` fires when no run has completed for this long (default 48). */
  staleAfterHours?: number;
  /** Where the `firestore` counts come from (default: live; the HTTP app uses cachedCounts). */
  counts?: CountSource;
}

export const DEFAULT_HISTORY_LIMIT = 30;
export const DEFAULT_STALE_AFTER_HOURS = 48;

/**
 * The backup status, from Firestore alone (never the OfficeRnD API): `firestore` counts from
 * count aggregations (see ./counts.ts), `api` and `missing` from the latest run's metadata, the
 * rest from the run history, `webhooks` from the delivery counters. Three document reads
 * (metadata, lock, webhook stats), one history query, two count aggregations per resource and one
 * over the processed webhook events, in parallel (the last once the metadata is read). An invalid
 * metadata document throws InvalidBackupDocumentError (the status would be a guess).
 */
export async function getBackupStatus(
  db: Firestore,
  options: BackupStatusOptions,
): Promise<BackupStatusResponse> {
  const now = (options.now ?? (() => new Date()))();
  const historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;

  const metadataRead = readBackupMetadata(db);
  // Beside the reads below (awaited after them; a failure is the status's failure, once).
  const incrementalRead = readIncrementalStatus(db, STATE_READ_TIMEOUT_MS);
  incrementalRead.catch(() => undefined);
  const [metadata, lock, history, counted, webhooks, unfinished] = await Promise.all([
    metadataRead,
    readBackupLock(db, now),
    listValidRuns(db, historyLimit),
    (options.counts ?? liveCounts)(db, now),
    // Deliveries since the latest run started: needs that run's time, then one count.
    metadataRead.then((m) => readWebhookHealth(db, m?.startedAt.toDate() ?? null)),
    loadCheckpoint(db, CHECKPOINT_READ_TIMEOUT_MS),
  ]);
  const firestoreCounts = counted.counts;
  const incremental = await incrementalRead;

  // The metadata document is the latest run; count it even if its history entry is not there.
  const runs =
    metadata && !history.some((r) => r.runId === metadata.runId)
      ? [metadata, ...history].slice(0, historyLimit)
      : history;

  const syncHealth = computeSyncHealth(metadata);
  const completed = lastCompletedAt(metadata);

  const currentStats = perResource((name): ResourceCounts => {
    const api = metadata?.resources[name].api ?? null;
    return {
      firestore: firestoreCounts[name],
      api,
      // What is missing now: a completed run created every record it found missing; after a
      // failed one, what it found (its writes may not have happened). What the run found stays
      // in backup.missingRecords and the history.
      missing:
        api === null
          ? null
          : metadata?.status === "completed"
            ? 0
            : (metadata?.resources[name].missing ?? null),
    };
  });

  const apiAsOf = metadata?.finishedAt.toDate() ?? null;
  return {
    backup: {
      lastBackup: metadata ? metadata.lastBackup.toDate().toISOString() : null,
      // The metadata document holds runs that ended (a continuing attempt writes history only).
      status: metadata
        ? metadata.status === "continuing"
          ? "failed"
          : metadata.status
        : "never_run",
      missingRecords: metadata ? metadata.missingRecords : null,
      runId: metadata?.runId ?? null,
      trigger: metadata?.trigger ?? null,
      lastCompleted: completed ? completed.toISOString() : null,
      error: metadataError(metadata),
      readBudget: metadata?.api?.budget ?? null,
      inProgress: runInProgress(lock, now),
      continuing: continuingRun(unfinished),
    },
    currentStats,
    syncHealth,
    lastChecked: now.toISOString(),
    alerts: computeAlerts(metadata, syncHealth, {
      now,
      missingAlertThreshold: options.missingAlertThreshold,
      staleAfterHours: options.staleAfterHours ?? DEFAULT_STALE_AFTER_HOURS,
    }),
    // Runs that ended: an attempt that handed over is part of its run, not a run of its own.
    metrics: computeMetrics(
      runs.filter((r) => r.status !== "continuing"),
      metadata,
    ),
    freshness: {
      apiCountsAsOf: apiAsOf ? apiAsOf.toISOString() : null,
      apiCountsAgeSeconds: apiAsOf ? ageSeconds(apiAsOf, now) : null,
      firestoreCountsAsOf: counted.asOf.toISOString(),
      firestoreCountsAgeSeconds: ageSeconds(counted.asOf, now),
    },
    webhooks,
    ...incremental,
  };
}

const CHECKPOINT_READ_TIMEOUT_MS = 10_000;

function continuingRun(saved: SavedRun | null): BackupStatusResponse["backup"]["continuing"] {
  // A failed run's position waiting for the next run is not a run going on.
  if (saved === null || saved.checkpoint.endedFailed) return null;
  const { checkpoint, progress, ranges } = saved;
  const resources: Record<string, { listed: number; written: number; done: boolean }> = {};
  for (const name of checkpoint.resources) {
    const p = progress.get(name);
    // A type listed as ranges side by side: its own counts once every range is listed, until
    // then the sum of its ranges' (backup/split-listing.ts).
    const parts = p?.split != null && !p.listed ? [...(ranges.get(name)?.values() ?? [])] : [];
    const sum = (f: (q: NonNullable<typeof p>) => number) =>
      (p ? f(p) : 0) + parts.reduce((n, q) => n + f(q), 0);
    resources[name] = {
      listed: sum((q) => q.api),
      written: sum((q) => q.written),
      done: p?.settled ?? false,
    };
  }
  return {
    runId: checkpoint.runId,
    trigger: checkpoint.trigger,
    startedAt: checkpoint.startedAt.toDate().toISOString(),
    continuations: checkpoint.continuations,
    updatedAt: checkpoint.updatedAt.toDate().toISOString(),
    resources,
  };
}

/** Longest wait for the incremental state and field sets (two small documents). */
const STATE_READ_TIMEOUT_MS = 10_000;

function ageSeconds(then: Date, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - then.getTime()) / 1000));
}

function metadataError(run: BackupMetadata | null): BackupRunSummary["error"] {
  if (!run || run.status !== "failed") return null;
  return { code: run.errorCode, message: run.error ?? "failed without a recorded message" };
}

/** One history document as the API lists it. */
export function toRunSummary(run: BackupMetadata): BackupRunSummary {
  return {
    runId: run.runId,
    trigger: run.trigger,
    status: run.status,
    startedAt: run.startedAt.toDate().toISOString(),
    finishedAt: run.finishedAt.toDate().toISOString(),
    durationMs: run.durationMs,
    missingRecords: run.missingRecords,
    inSync: run.inSync,
    written: run.written,
    error: metadataError(run),
    resources: perResource((n) => ({ ...run.resources[n] })),
    apiRequests: run.api,
    mode: run.mode,
    coverage: run.coverage,
    schemaDrift: run.schemaDrift,
  };
}

/** Recent runs, full and incremental, newest first, for `GET /v1/office-rnd/backups`. */
export async function listRecentBackups(db: Firestore, limit: number): Promise<BackupRunSummary[]> {
  return (await listValidRuns(db, limit, RUN_MODES)).map(toRunSummary);
}
