import type { Timestamp } from "firebase-admin/firestore";
import type { BackupLock, BackupMetadata, ResourceStats } from "../backup/documents";
import { perResource, RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import { runSyncHealth, type SyncHealth } from "../backup/sync-health";
import type { Alert, BackupStatusResponse } from "./schema";

/**
 * Pure functions from stored run documents to the status response's derived parts (syncHealth,
 * alerts, metrics). No I/O, so tests and the CLI can feed them documents directly.
 */

type Metrics = BackupStatusResponse["metrics"];
type PerResource<T> = Record<ResourceName, T>;

const iso = (t: Timestamp): string => t.toDate().toISOString();
const round2 = (n: number): number => Math.round(n * 100) / 100;

function discrepancies(stats: ResourceStats): number {
  return stats.missing + stats.changed + stats.orphaned;
}

function foundDrift(run: BackupMetadata): boolean {
  return RESOURCE_NAMES.some((n) => discrepancies(run.resources[n]) > 0);
}

/** Completed and Firestore equalled OfficeRnD when it ended. */
function endedInSync(run: BackupMetadata): boolean {
  return run.status === "completed" && run.inSync;
}

/** Each resource as the latest run left it (null for all before any run). */
export function computeSyncHealth(latest: BackupMetadata | null): PerResource<SyncHealth | null> {
  return latest ? runSyncHealth(latest) : perResource(() => null);
}

/** The latest completion: the engine's `lastCompletedAt`, or the latest run if it completed. */
export function lastCompletedAt(latest: BackupMetadata | null): Date | null {
  if (!latest) return null;
  const stored = latest.lastCompletedAt?.toDate() ?? null;
  const own = latest.status === "completed" ? latest.finishedAt.toDate() : null;
  if (stored && own) return stored > own ? stored : own;
  return stored ?? own;
}

/** The lock, when a run holds it now (an expired lease is a crashed run, not one in progress). */
export function runInProgress(
  lock: BackupLock | null,
  now: Date,
): BackupStatusResponse["backup"]["inProgress"] {
  if (!lock || lock.expiresAt.toMillis() <= now.getTime()) return null;
  return {
    runId: lock.runId,
    trigger: lock.trigger,
    startedAt: iso(lock.acquiredAt),
    expiresAt: iso(lock.expiresAt),
  };
}

export interface AlertOptions {
  now: Date;
  missingAlertThreshold: number;
  staleAfterHours: number;
}

/** The design document's alert conditions, evaluated now. Empty when all is well. */
export function computeAlerts(
  latest: BackupMetadata | null,
  syncHealth: PerResource<SyncHealth | null>,
  options: AlertOptions,
): Alert[] {
  if (!latest) {
    return [
      {
        code: "backup_never_run",
        severity: "warning",
        message: "No backup has run yet: there is no backup metadata.",
      },
    ];
  }
  const alerts: Alert[] = [];
  if (latest.status === "failed") {
    const code = latest.errorCode ? ` (${latest.errorCode})` : "";
    alerts.push({
      code: "backup_failed",
      severity: "critical",
      message: `The latest backup, run ${latest.runId} (${latest.trigger}), failed${code} at ${iso(latest.finishedAt)}.`,
    });
  }
  const completed = lastCompletedAt(latest);
  const staleMs = options.staleAfterHours * 3_600_000;
  if (!completed) {
    alerts.push({
      code: "backup_stale",
      severity: "critical",
      message: "No backup has completed yet.",
    });
  } else if (options.now.getTime() - completed.getTime() >= staleMs) {
    const hours = Math.floor((options.now.getTime() - completed.getTime()) / 3_600_000);
    alerts.push({
      code: "backup_stale",
      severity: "critical",
      message: `No backup has completed in ${hours} hours (last completed at ${completed.toISOString()}; alert after ${options.staleAfterHours}).`,
    });
  }
  if (latest.missingRecords > options.missingAlertThreshold) {
    alerts.push({
      code: "missing_records_high",
      severity: "warning",
      message: `The latest backup found ${latest.missingRecords} missing records (alert above ${options.missingAlertThreshold}).`,
    });
  }
  const outOfSync = RESOURCE_NAMES.filter((n) => syncHealth[n] === "out_of_sync");
  if (outOfSync.length > 0) {
    alerts.push({
      code: "out_of_sync",
      severity: "warning",
      message: `Out of sync after the latest backup: ${outOfSync.join(", ")}.`,
    });
  }
  return alerts;
}

interface Consistency {
  percent: number;
  inSyncRecords: number;
  totalRecords: number;
}

/**
 * Records a run found in sync, against every record on either side: OfficeRnD's list plus the
 * orphans only Firestore held. Null when the run could not read a resource from OfficeRnD.
 */
export function runConsistency(run: BackupMetadata): Consistency | null {
  let total = 0;
  let inSync = 0;
  for (const name of RESOURCE_NAMES) {
    const s = run.resources[name];
    if (s.api === null) return null;
    total += s.api + s.orphaned;
    inSync += Math.max(0, s.api - s.missing - s.changed);
  }
  return {
    percent: total === 0 ? 100 : round2((inSync / total) * 100),
    inSyncRecords: inSync,
    totalRecords: total,
  };
}

/**
 * Dashboard metrics from run history.
 * @param runs newest first (as listed); `latest` is the metadata document's run.
 */
export function computeMetrics(runs: readonly BackupMetadata[], latest: BackupMetadata | null) {
  const oldestFirst = [...runs].sort((a, b) => a.startedAt.toMillis() - b.startedAt.toMillis());

  const latestConsistency = latest ? runConsistency(latest) : null;
  const percents = runs.map(runConsistency).filter((c): c is Consistency => c !== null);
  const dataConsistency: Metrics["dataConsistency"] = {
    percent: latestConsistency?.percent ?? null,
    inSyncRecords: latestConsistency?.inSyncRecords ?? null,
    totalRecords: latestConsistency?.totalRecords ?? null,
    averagePercent:
      percents.length === 0
        ? null
        : round2(percents.reduce((sum, c) => sum + c.percent, 0) / percents.length),
  };

  const completed = runs.filter((r) => r.status === "completed").length;
  const successRate: Metrics["successRate"] = {
    percent: runs.length === 0 ? null : round2((completed / runs.length) * 100),
    completed,
    failed: runs.length - completed,
    runs: runs.length,
  };

  // An incident opens at the start of a run that failed or found drift, and closes at the end of
  // the first run (the same one, when it repaired everything) that completed in sync.
  const recoveries: number[] = [];
  let openSince: Timestamp | null = null;
  for (const run of oldestFirst) {
    if (openSince === null && (run.status === "failed" || !run.inSync || foundDrift(run))) {
      openSince = run.startedAt;
    }
    if (openSince !== null && endedInSync(run)) {
      recoveries.push(Math.max(0, run.finishedAt.toMillis() - openSince.toMillis()));
      openSince = null;
    }
  }
  const timeToRecover: Metrics["timeToRecover"] = {
    recoveries: recoveries.length,
    lastMs: recoveries.at(-1) ?? null,
    averageMs:
      recoveries.length === 0
        ? null
        : Math.round(recoveries.reduce((a, b) => a + b, 0) / recoveries.length),
    maxMs: recoveries.length === 0 ? null : Math.max(...recoveries),
    unresolvedSince: openSince ? iso(openSince) : null,
  };

  const dataVolume = perResource((name) =>
    oldestFirst.map((run) => ({
      at: iso(run.finishedAt),
      api: run.resources[name].api,
      firestore: run.resources[name].firestore,
    })),
  );

  return {
    runsConsidered: runs.length,
    dataConsistency,
    successRate,
    timeToRecover,
    dataVolume,
  } satisfies Metrics;
}
