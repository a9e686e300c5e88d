import { createHash, randomUUID } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { readBackupMetadata } from "../backup/metadata";
import type { NotificationConfig } from "../config";
import { logs } from "../logs";
import { Redactor } from "../shared/redactor";
import { openConditions, type OpenAlert } from "./conditions";
import { decide, type Decision } from "./decide";
import { mailDocument, queueMail } from "./email";
import { buildContent } from "./message";
import { postToSlack, slackMessage, type SlackPoster } from "./slack";
import {
  claimCheck,
  delivered,
  failed,
  memoryOf,
  settleCheck,
  type Channel,
  type ChannelState,
} from "./state";

/**
 * One notification check: the alert conditions now (from the metadata the latest run recorded,
 * and the clock for the 48-hour one), against what each channel was last told; a message to each
 * channel where they differ (or a daily reminder is due). Runs after every recorded run
 * (wiring.ts) and hourly (triggers/alert-check.ts), which is what notices a backup that never
 * ran.
 */

export interface NotificationDeps {
  db: Firestore;
  config: NotificationConfig;
  missingAlertThreshold: number;
  now?: () => Date;
  /** Default: the real Slack webhook POST. */
  postSlack?: SlackPoster;
  /** Values that must never appear in a message (tokens, secrets). */
  secrets?: readonly string[];
}

/** What started the check, for the logs. */
export type CheckOrigin = "run" | "schedule";

export type ChannelOutcome =
  | { outcome: "sent"; kind: Decision["kind"] }
  | { outcome: "failed"; kind: Decision["kind"]; error: string }
  | { outcome: "nothing_to_send" };

export type CheckReport =
  | { checked: false; reason: "no_channels" | "busy" }
  | {
      checked: true;
      open: OpenAlert["code"][];
      runId: string | null;
      channels: Partial<Record<Channel, ChannelOutcome>>;
    };

function enabledChannels(config: NotificationConfig): Channel[] {
  const channels: Channel[] = [];
  if (config.slackWebhookUrl !== null) channels.push("slack");
  if (config.alertEmails.length > 0) channels.push("email");
  return channels;
}

/**
 * The mail document's id: the same for the same transition of the same channel memory, so a
 * check repeated after a crash between the write and the memory does not mail twice.
 */
function transitionId(previous: ChannelState | undefined, decision: Decision): string {
  const basis = JSON.stringify([
    previous?.open ?? [],
    previous?.lastSentAt?.toMillis() ?? null,
    decision.kind,
    decision.open,
  ]);
  return `officernd-backup-${createHash("sha256").update(basis).digest("hex").slice(0, 24)}`;
}

const describe = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").slice(0, 300);

export async function checkNotifications(
  deps: NotificationDeps,
  origin: CheckOrigin,
): Promise<CheckReport> {
  const channels = enabledChannels(deps.config);
  if (channels.length === 0) return { checked: false, reason: "no_channels" };
  const now = (deps.now ?? (() => new Date()))();
  const holder = randomUUID();
  const told = await claimCheck(deps.db, holder, now);
  if (told === null) {
    logs.notificationCheckBusy({ origin });
    return { checked: false, reason: "busy" };
  }

  const redactor = new Redactor();
  for (const secret of [...(deps.secrets ?? []), deps.config.slackWebhookUrl ?? ""]) {
    redactor.add(secret);
  }
  const updates: Partial<Record<Channel, ChannelState>> = {};
  const outcomes: Partial<Record<Channel, ChannelOutcome>> = {};
  let runId: string | null = null;
  let open: OpenAlert["code"][] = [];
  try {
    const latest = await readBackupMetadata(deps.db);
    runId = latest?.runId ?? null;
    const alerts = openConditions(latest, {
      now,
      missingAlertThreshold: deps.missingAlertThreshold,
    });
    open = alerts.map((a) => a.code);

    await Promise.all(
      channels.map(async (channel) => {
        const previous = told[channel];
        const decision = decide(memoryOf(previous), open, now);
        if (decision === null) {
          outcomes[channel] = { outcome: "nothing_to_send" };
          return;
        }
        const content = buildContent({
          decision,
          alerts,
          latest,
          dashboardUrl: deps.config.dashboardUrl,
          redactor,
        });
        const fields = { channel, kind: decision.kind, origin, runId, open };
        try {
          if (channel === "slack") {
            const url = deps.config.slackWebhookUrl ?? "";
            await (deps.postSlack ?? postToSlack)(url, slackMessage(content));
          } else {
            const doc = mailDocument(deps.config.alertEmails, content);
            const id = transitionId(previous, decision);
            await queueMail(deps.db, deps.config.mailCollection, id, doc);
          }
          updates[channel] = delivered(decision.open, now);
          outcomes[channel] = { outcome: "sent", kind: decision.kind };
          logs.notificationSent({
            ...fields,
            opened: decision.opened,
            resolved: decision.resolved,
          });
        } catch (error) {
          const message = redactor.redact(describe(error));
          updates[channel] = failed(previous, message, now);
          outcomes[channel] = { outcome: "failed", kind: decision.kind, error: message };
          logs.notificationFailed({ ...fields, error: message });
        }
      }),
    );
  } finally {
    // Always let the lease go; what was delivered is remembered even if a later step failed.
    await settleCheck(deps.db, holder, updates, (deps.now ?? (() => new Date()))());
  }
  return { checked: true, open, runId, channels: outcomes };
}
