import { HttpsError, onCall } from "firebase-functions/v2/https";
import { onTaskDispatched } from "firebase-functions/v2/tasks";
import { shouldRetry } from "../backup/run";
import { functionTimeBudgetMs } from "../backup/time-budget";
import { notificationParams, params } from "../config";
import { defaultFirestore } from "../firebase";
import { BACKUP_TASK_FUNCTION, runBackupFromFunction } from "../wiring";
import {
  backupTaskSchema,
  enqueueOnTaskQueue,
  handOver,
  TASK_TIMEOUT_SECONDS,
} from "./continuation";

/** The runs stop a margin before the timeout, to record themselves (backup/time-budget.ts). */
const TIMEOUT_SECONDS = 540;
const runDeps = () => ({
  db: defaultFirestore(),
  timeBudgetMs: functionTimeBudgetMs(TIMEOUT_SECONDS),
});

const runOptions = {
  timeoutSeconds: TIMEOUT_SECONDS,
  memory: "512MiB" as const,
  // The Slack webhook: the alert check after each run (wiring.ts) posts with it.
  secrets: [params.OFFICERND_CLIENT_SECRET, notificationParams.BACKUP_SLACK_WEBHOOK_URL],
};

/**
 * officeRndBackupNow: a manual run for a signed-in admin (custom claim `admin: true`), from an
 * app (`httpsCallable(functions, "officeRndBackupNow")`) or `firebase functions:shell`. Waits for
 * the run and answers its summary; a run already in progress answers `status: "busy"`.
 */
export const officeRndBackupNow = onCall({ ...runOptions, maxInstances: 1 }, async (request) => {
  if (!request.auth) throw new HttpsError("unauthenticated", "sign in as an admin");
  if (request.auth.token.admin !== true) {
    throw new HttpsError(
      "permission-denied",
      "only admins (custom claim admin: true) may run a backup",
    );
  }
  const result = await runBackupFromFunction(runDeps(), "officeRndBackupNow", "manual");
  // A run too long for this call goes on in the task queue (./continuation.ts).
  await handOver(result, enqueueOnTaskQueue);
  return {
    runId: result.runId,
    status: result.status,
    missingRecords: result.missingRecords,
    written: result.written,
    inSync: result.inSync,
    durationMs: result.durationMs,
    resources: result.resources,
    error: result.error ? { code: result.error.code, message: result.error.message } : null,
  };
});

/**
 * Runs the manual backups that `POST /v1/office-rnd/backup` enqueued (see ../wiring.ts), and the
 * continuations of long full runs (./continuation.ts): a continuation goes on with its run's
 * checkpoint, and does nothing when that run has ended or gone on without it meanwhile.
 * 1,800 s, the longest a task may run (Cloud Tasks' dispatch deadline); a task whose function
 * crashed or timed out is delivered again after a minute, and resumes from the last checkpoint.
 */
export const officeRndBackupTask = onTaskDispatched(
  {
    ...runOptions,
    timeoutSeconds: TASK_TIMEOUT_SECONDS,
    retryConfig: { maxAttempts: 3, minBackoffSeconds: 60 },
    rateLimits: { maxConcurrentDispatches: 1 },
  },
  async (request) => {
    const task = backupTaskSchema.parse(request.data);
    const db = defaultFirestore();
    const result = await runBackupFromFunction(
      { db, timeBudgetMs: functionTimeBudgetMs(TASK_TIMEOUT_SECONDS) },
      BACKUP_TASK_FUNCTION,
      task.trigger,
      task.continues
        ? {
            runId: task.runId,
            // Only the hand-over it was enqueued for: not a run that ended, nor one another
            // attempt has already taken further (checked under the lease: ../backup/run.ts).
            resumeOnly: { runId: task.runId, continuation: task.continuation },
          }
        : { runId: task.runId },
    );
    if (await handOver(result, enqueueOnTaskQueue)) return;
    // A continuation that found the lease held (an incremental sync, another attempt) must not
    // be dropped: Cloud Tasks delivers it again (retryConfig) and it goes on then.
    if (task.continues && result.status === "busy") {
      throw new Error(`backup ${result.runId}: the lease is held; the continuation is retried`);
    }
    if (shouldRetry(result))
      throw new Error(`backup ${result.runId} failed (${result.error?.code})`);
  },
);
