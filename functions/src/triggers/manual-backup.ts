import { HttpsError, onCall } from "firebase-functions/v2/https";
import { onTaskDispatched } from "firebase-functions/v2/tasks";
import { z } from "zod";
import { BACKUP_TRIGGERS } from "../backup/documents";
import { shouldRetry } from "../backup/run";
import { functionTimeBudgetMs } from "../backup/time-budget";
import { notificationParams, params } from "../config";
import { defaultFirestore } from "../firebase";
import { BACKUP_TASK_FUNCTION, runBackupFromFunction } from "../wiring";

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

const taskSchema = z.object({
  runId: z.string().regex(/^[0-9A-Za-z-]{1,64}$/),
  trigger: z.enum(BACKUP_TRIGGERS),
});

/** Runs the manual backups that `POST /v1/office-rnd/backup` enqueued (see ../wiring.ts). */
export const officeRndBackupTask = onTaskDispatched(
  {
    ...runOptions,
    retryConfig: { maxAttempts: 1 },
    rateLimits: { maxConcurrentDispatches: 1 },
  },
  async (request) => {
    const task = taskSchema.parse(request.data);
    const result = await runBackupFromFunction(
      runDeps(),
      BACKUP_TASK_FUNCTION,
      task.trigger,
      task.runId,
    );
    if (shouldRetry(result))
      throw new Error(`backup ${result.runId} failed (${result.error?.code})`);
  },
);
