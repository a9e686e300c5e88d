import axios from "axios";
import type { NotificationContent } from "./message";

/**
 * Slack: one Block Kit message per notification, posted to an incoming webhook
 * (BACKUP_SLACK_WEBHOOK_URL). The URL is the credential: it is never logged and never part of an
 * error message (axios errors carry it, so none leaves this file).
 */

/** Slack answers in well under a second; a hung request must not hold the run's function. */
export const SLACK_TIMEOUT_MS = 10_000;

export interface SlackBlock {
  type: string;
  [key: string]: unknown;
}
export interface SlackMessage {
  /** Shown in notifications and where blocks cannot be. */
  text: string;
  blocks: SlackBlock[];
}

/** Slack's mrkdwn needs only these three escaped (its message formatting reference). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const cut = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;
/** Slack's limits: header text 150 characters, section text 3,000. */
const plain = (text: string) => ({ type: "plain_text", text: cut(text, 150), emoji: true });
const mrkdwn = (text: string) => ({ type: "mrkdwn", text: cut(text, 3000) });

const MARK = { opened: ":rotating_light:", open: ":warning:", resolved: ":white_check_mark:" };

function countsTable(content: NotificationContent): string {
  const head = ["type", "firestore", "api", "missing", "changed", "orphaned"];
  const rows = content.counts.map((r) => [
    r.resource,
    String(r.firestore),
    r.api === null ? "-" : String(r.api),
    String(r.missing),
    String(r.changed),
    String(r.orphaned),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join("  ");
  return ["```", line(head), ...rows.map(line), "```"].join("\n");
}

export function slackMessage(content: NotificationContent): SlackMessage {
  const blocks: SlackBlock[] = [
    { type: "header", text: plain(content.headline) },
    {
      type: "section",
      text: mrkdwn(
        content.conditions.map((c) => `${MARK[c.state]} ${escapeMrkdwn(c.text)}`).join("\n"),
      ),
    },
  ];
  const run = content.run;
  if (run) {
    blocks.push({
      type: "section",
      fields: [
        mrkdwn(`*Run*\n\`${escapeMrkdwn(run.runId)}\` (${escapeMrkdwn(run.trigger)})`),
        mrkdwn(`*Status*\n${escapeMrkdwn(run.status)}, ${run.durationSeconds} s`),
        mrkdwn(`*Finished*\n${run.finishedAt}`),
        mrkdwn(`*Missing / written*\n${run.missingRecords} / ${run.written}`),
      ],
    });
    if (run.error)
      blocks.push({ type: "section", text: mrkdwn(`*Error*\n${escapeMrkdwn(run.error)}`) });
  }
  if (content.counts.length > 0) {
    blocks.push({ type: "section", text: mrkdwn(escapeMrkdwn(countsTable(content))) });
  }
  blocks.push({
    type: "context",
    elements: [mrkdwn(`*Where to look*\n${content.whereToLook.map(escapeMrkdwn).join("\n")}`)],
  });
  if (content.dashboardUrl) {
    blocks.push({
      type: "actions",
      elements: [{ type: "button", text: plain("Open the dashboard"), url: content.dashboardUrl }],
    });
  }
  return { text: escapeMrkdwn(content.subject), blocks };
}

/** A delivery that did not happen; the message says why in words safe to log. */
export class DeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeliveryError";
  }
}

export type SlackPoster = (url: string, message: SlackMessage) => Promise<void>;

/** Posts to the webhook; resolves when Slack answered 200 (its body is `ok`). */
export const postToSlack: SlackPoster = async (url, message) => {
  let answer: { status: number; data: unknown };
  try {
    answer = await axios.post(url, message, {
      timeout: SLACK_TIMEOUT_MS,
      maxRedirects: 0,
      responseType: "text",
      validateStatus: () => true,
      headers: { "content-type": "application/json" },
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why =
      code === "ECONNABORTED" || code === "ETIMEDOUT"
        ? `no answer within ${SLACK_TIMEOUT_MS} ms`
        : `network error${typeof code === "string" ? ` (${code})` : ""}`;
    throw new DeliveryError(`Slack: ${why}`);
  }
  if (answer.status !== 200) {
    // Slack's error bodies are short codes (invalid_payload, no_service, …): safe to keep.
    const body =
      typeof answer.data === "string" ? answer.data.replace(/\s+/g, " ").slice(0, 80) : "";
    throw new DeliveryError(`Slack answered ${answer.status}${body ? ` ${body}` : ""}`);
  }
};
