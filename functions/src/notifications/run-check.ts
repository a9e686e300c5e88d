import type { Firestore } from "firebase-admin/firestore";
import {
  ConfigError,
  loadAlertThreshold,
  loadNotificationConfig,
  type ConfigSource,
} from "../config";
import { logs } from "../logs";
import { checkNotifications, type CheckOrigin, type CheckReport } from "./check";
import type { SlackPoster } from "./slack";

/** Values the deployment holds that no message may carry, read from the same source. */
const SECRET_VARIABLES = [
  "BACKUP_STATUS_TOKEN",
  "OFFICERND_CLIENT_SECRET",
  "OFFICERND_WEBHOOK_SECRET",
  "BACKUP_SLACK_WEBHOOK_URL",
] as const;

export interface RunCheckDeps {
  db: Firestore;
  source?: ConfigSource;
  now?: () => Date;
  postSlack?: SlackPoster;
}

/**
 * A notification check that never throws: the configuration is read here (a malformed value is
 * logged as `config_error`, naming the variable, and no check runs), and any failure is logged
 * as `notification_check_failed`. A notification never changes the outcome of the run before it.
 */
export async function runNotificationCheck(
  deps: RunCheckDeps,
  origin: CheckOrigin,
  functionName: string,
): Promise<CheckReport | null> {
  const source = deps.source ?? process.env;
  try {
    const config = loadNotificationConfig(source);
    if (config.slackWebhookUrl === null && config.alertEmails.length === 0) {
      return { checked: false, reason: "no_channels" };
    }
    return await checkNotifications(
      {
        db: deps.db,
        config,
        missingAlertThreshold: loadAlertThreshold(source),
        secrets: SECRET_VARIABLES.map((name) => source[name] ?? ""),
        ...(deps.now ? { now: deps.now } : {}),
        ...(deps.postSlack ? { postSlack: deps.postSlack } : {}),
      },
      origin,
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      logs.configError({ variable: error.variable, detail: error.detail, functionName });
    } else {
      const message = error instanceof Error ? error.message : String(error);
      logs.notificationCheckFailed({ origin, error: message.replace(/\s+/g, " ").slice(0, 300) });
    }
    return null;
  }
}
