import { onSchedule } from "firebase-functions/v2/scheduler";
import { shouldRetry } from "../backup/run";
import { functionTimeBudgetMs } from "../backup/time-budget";
import { notificationParams, params } from "../config";
import { defaultFirestore } from "../firebase";
import { runBackupFromFunction } from "../wiring";
import { enqueueOnTaskQueue, handOver } from "./continuation";

/** The function's timeout (the longest for a scheduled function); its runs stop a margin before it. */
const TIMEOUT_SECONDS = 1_800;

/**
 * officeRndDataBackup: the daily drift check and full sync (the engine is backup/run.ts).
 *
 * - Schedule: `every 24 hours`, time zone UTC. The schedule string must be known when the
 *   function is deployed, so it comes from BACKUP_SCHEDULE in functions/.env (read while the
 *   Firebase CLI loads this file); the time zone is the BACKUP_TIME_ZONE param.
 * - timeoutSeconds 1,800, the most a scheduled function may have: a full read of 10,000 members,
 *   5,000 opportunities and 2,000 companies is ~340 API requests, about a minute at 400 reads a
 *   minute. The run's time budget is 60 s less: past it a larger organization's run saves its
 *   checkpoint and goes on in a task-queue continuation (./continuation.ts, backup/full-run.ts),
 *   as many times as it takes, with one run id, one history entry and one final metadata update.
 * - memory 512MiB: the run holds a page of each side and a chunk of writes per resource, not the
 *   organization (docs/scaling.md).
 * - maxInstances 1 and the Firestore lock: never two runs at once.
 * - Retries: a failed run whose cause is transient (OfficeRnD 429/5xx/network after the client's
 *   own retries, Firestore unavailable, the time budget spent) is rethrown, and so is `busy`
 *   (another run held the lock: it may yet fail or die), so Cloud Scheduler tries again after 10,
 *   then 20 minutes. Failures a retry cannot fix (shrink guard, invalid records, bad credentials)
 *   return normally: they are in the metadata, /errors and the logs, where the alerts look. So
 *   does a missing or malformed param or secret (`config_error`, naming the variable).
 */
export const officeRndDataBackup = onSchedule(
  {
    schedule: process.env.BACKUP_SCHEDULE || "every 24 hours",
    timeZone: params.BACKUP_TIME_ZONE,
    timeoutSeconds: TIMEOUT_SECONDS,
    memory: "512MiB",
    maxInstances: 1,
    retryCount: 2,
    minBackoffSeconds: 600,
    maxBackoffSeconds: 1200,
    // The Slack webhook: the alert check after each run (wiring.ts) posts with it.
    secrets: [params.OFFICERND_CLIENT_SECRET, notificationParams.BACKUP_SLACK_WEBHOOK_URL],
  },
  async () => {
    const result = await runBackupFromFunction(
      { db: defaultFirestore(), timeBudgetMs: functionTimeBudgetMs(TIMEOUT_SECONDS) },
      "officeRndDataBackup",
      "schedule",
    );
    if (await handOver(result, enqueueOnTaskQueue)) return;
    if (shouldRetry(result)) {
      const { runId, status, error } = result;
      throw new Error(`backup ${runId} ${status} (${error?.code}); Cloud Scheduler will retry`);
    }
  },
);
