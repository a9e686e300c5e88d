import { onSchedule } from "firebase-functions/v2/scheduler";
import { shouldRetry } from "../backup/run";
import { functionTimeBudgetMs } from "../backup/time-budget";
import { params } from "../config";
import { defaultFirestore } from "../firebase";
import { runBackupFromFunction } from "../wiring";

/** The function's name, as deployed and in its /errors documents. */
const FUNCTION_NAME = "officeRndIncrementalSync";
/** The function's timeout; its runs stop a margin before it (backup/time-budget.ts). */
const TIMEOUT_SECONDS = 540;

/**
 * officeRndIncrementalSync: between two full backups, the records modified since each type's
 * high-water mark (the engine is backup/run.ts with mode `incremental`, backup/incremental-read.ts).
 *
 * - Schedule: `every 60 minutes`, time zone UTC (BACKUP_TIME_ZONE). Like the full backup's, the
 *   schedule string must be known at deploy time: BACKUP_INCREMENTAL_SCHEDULE in functions/.env.
 * - What it does not do: remove documents (the full backup's and the webhooks' job), or touch
 *   /officeRndMetadata/backup-metadata, which stays the last full backup (the 48-hour alert means
 *   the full backup). Its runs are in the history with `mode: "incremental"`.
 * - A run reads about one page per type that OfficeRnD lets list by modifiedAt; types it cannot
 *   (locations, events; a refused filter) are left to the full backup, and its summary says so.
 * - The run lock is the full backup's: while a full run holds it, this run is `busy`.
 * - Retries: like the full backup's (a transient failure or `busy` is rethrown), once, after 10
 *   minutes; the next hour's run is the next retry. No notification check after it: it changes no
 *   alert condition (the metadata is the full backup's).
 */
export const officeRndIncrementalSync = onSchedule(
  {
    schedule: process.env.BACKUP_INCREMENTAL_SCHEDULE || "every 60 minutes",
    timeZone: params.BACKUP_TIME_ZONE,
    timeoutSeconds: TIMEOUT_SECONDS,
    memory: "512MiB",
    maxInstances: 1,
    retryCount: 1,
    minBackoffSeconds: 600,
    maxBackoffSeconds: 600,
    secrets: [params.OFFICERND_CLIENT_SECRET],
  },
  async () => {
    const result = await runBackupFromFunction(
      { db: defaultFirestore(), timeBudgetMs: functionTimeBudgetMs(TIMEOUT_SECONDS) },
      FUNCTION_NAME,
      "schedule",
      { mode: "incremental" },
    );
    if (shouldRetry(result)) {
      const { runId, status, error } = result;
      throw new Error(
        `incremental sync ${runId} ${status} (${error?.code}); Cloud Scheduler will retry`,
      );
    }
  },
);
