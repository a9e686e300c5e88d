import { onSchedule } from "firebase-functions/v2/scheduler";
import { notificationParams, params } from "../config";
import { defaultFirestore } from "../firebase";
import { checkAlertsNow } from "../wiring";

/** The function's name, as deployed and as it appears in `config_error` log entries. */
const FUNCTION_NAME = "officeRndBackupAlertCheck";

/**
 * officeRndBackupAlertCheck: the alert check on a schedule of its own (notifications/check.ts).
 *
 * - Why: "no completed backup in 48 hours" cannot be noticed by the run that never happens, so it
 *   is evaluated here against the clock; the same check retries deliveries that failed and sends
 *   the daily reminder while an alert stays open.
 * - Schedule: every hour, so a stale backup is told within an hour of the 48th. Each check reads
 *   two documents (the metadata and what each channel was told) and sends nothing when nothing
 *   changed.
 * - No retries: the next hour is the retry. maxInstances 1 (the check's lease also keeps two
 *   from sending the same message).
 */
export const officeRndBackupAlertCheck = onSchedule(
  {
    schedule: "every 60 minutes",
    timeZone: params.BACKUP_TIME_ZONE,
    timeoutSeconds: 60,
    memory: "256MiB",
    maxInstances: 1,
    retryCount: 0,
    secrets: [notificationParams.BACKUP_SLACK_WEBHOOK_URL],
  },
  async () => {
    await checkAlertsNow({ db: defaultFirestore() }, FUNCTION_NAME);
  },
);
