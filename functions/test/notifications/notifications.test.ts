import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { onLogEntry, type LogEntry } from "../../src/logs";
import { checkAlertsNow, runBackupFromFunction } from "../../src/wiring";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { startSlackStandIn, type SlackStandIn } from "./slack-stand-in";

/**
 * The notifications end to end: real runs through the wiring root (as the deployed functions run
 * them) against the OfficeRnD sandbox and the Firestore emulator, Slack as a stand-in HTTP server,
 * email as documents in the Trigger Email extension's collection.
 */

const HOUR = 3_600_000;

describe("notifications after runs and on the hourly check", () => {
  let sandbox: Sandbox;
  let slack: SlackStandIn;
  let fs: TestFirestore;
  let entries: LogEntry[];
  let stopListening: () => void;

  beforeAll(async () => {
    sandbox = await startSandbox({ tokenRequestsPerMinute: null, readsPerMinute: null });
    slack = await startSlackStandIn();
  });
  afterAll(async () => {
    await slack.close();
    await sandbox.close();
  });
  beforeEach(() => {
    fs = createTestFirestore("notify");
    slack.received.length = 0;
    slack.answer(200);
    entries = [];
    stopListening = onLogEntry((e) => entries.push(e));
  });
  afterEach(async () => {
    stopListening();
    await fs.close();
  });

  const STATUS_TOKEN = "status-token-never-in-a-message";
  const source = (extra: Record<string, string> = {}) =>
    sandbox.env({
      OFFICERND_READS_PER_MINUTE: "100000",
      BACKUP_STATUS_TOKEN: STATUS_TOKEN,
      BACKUP_SLACK_WEBHOOK_URL: slack.url,
      BACKUP_ALERT_EMAILS: "ops@example.com, oncall@example.com",
      BACKUP_DASHBOARD_URL: "https://backup.example.com/",
      // The first run into an empty project finds every record missing; that alert is not the
      // subject here.
      BACKUP_MISSING_ALERT_THRESHOLD: "1000000",
      ...extra,
    });
  /** Bad credentials: the run fails (auth), not retryable, before anything is read. */
  const failing = () => source({ OFFICERND_CLIENT_SECRET: "wrong-client-secret-value" });
  const run = (env: Record<string, string>) =>
    runBackupFromFunction({ db: fs.db, source: env }, "officeRndDataBackup", "schedule");
  const mails = async () =>
    (await fs.db.collection("mail").get()).docs.map((d) => d.data() as Record<string, unknown>);
  const events = (name: string) => entries.filter((e) => e.event === name);

  it("a failing run sends one Slack message and writes one mail; a second failing run none; the recovery one", async () => {
    // A deployment whose backups have been completing: nothing to tell.
    expect((await run(source())).status).toBe("completed");
    expect(slack.received).toHaveLength(0);

    const first = await run(failing());
    expect(first.status).toBe("failed");
    expect(slack.received).toHaveLength(1);
    expect(await mails()).toHaveLength(1);

    const second = await run(failing());
    expect(second.status).toBe("failed");
    expect(slack.received).toHaveLength(1);
    expect(await mails()).toHaveLength(1);

    const recovered = await run(source());
    expect(recovered.status).toBe("completed");
    expect(slack.received).toHaveLength(2);
    const all = await mails();
    expect(all).toHaveLength(2);

    const subjects = all.map((m) => (m.message as { subject: string }).subject).sort();
    expect(subjects).toEqual([
      "[OfficeRnD backup] ALERT: Backup failed",
      "[OfficeRnD backup] Recovered: Backup failed",
    ]);
    expect(events("notification_sent").map((e) => [e.channel, e.kind])).toEqual(
      expect.arrayContaining([
        ["slack", "alert"],
        ["email", "alert"],
        ["slack", "recovery"],
        ["email", "recovery"],
      ]),
    );
  });

  it("the messages name the run, the counts, the error and where to look; no secret, no personal data", async () => {
    const failed = await run(failing());
    const [posted] = slack.received as { text: string; blocks: { type: string }[] }[];
    const [mail] = await mails();
    expect(mail).toMatchObject({
      to: ["ops@example.com", "oncall@example.com"],
      message: {
        subject: expect.any(String) as string,
        text: expect.any(String) as string,
        html: expect.any(String) as string,
      },
    });
    // Block Kit: a header, sections, the context with where to look, the dashboard button.
    expect(posted?.blocks.map((b) => b.type)).toEqual([
      "header",
      "section",
      "section",
      "section",
      "section",
      "context",
      "actions",
    ]);
    const slackText = JSON.stringify(posted);
    const { text, html } = (mail as { message: { text: string; html: string } }).message;
    for (const body of [slackText, text, html]) {
      expect(body).toContain(failed.runId);
      expect(body).toContain(failed.error?.code ?? "missing error code");
      expect(body).toContain("https://backup.example.com");
      expect(body).toContain("npm run cli -- errors --limit 5");
      expect(body).toContain("members");
      expect(body).not.toContain(STATUS_TOKEN);
      expect(body).not.toContain("wrong-client-secret-value");
      expect(body).not.toContain(sandbox.clientSecret);
      expect(body).not.toContain("stand-in-secret-path");
    }

    // A run that completes carries the records' counts only: no field of any record.
    await run(source());
    const members = sandbox.data.snapshot().members ?? [];
    const personal = members
      .flatMap((m) => [m.email, m.name])
      .filter((v): v is string => typeof v === "string" && v.length > 3);
    expect(personal.length).toBeGreaterThan(10);
    const everything = JSON.stringify([slack.received, await mails()]);
    for (const value of personal) expect(everything).not.toContain(value);
  });

  it("a Slack failure changes nothing about the run, is logged, and the next check retries it", async () => {
    slack.answer(500);
    const failed = await run(failing());
    expect(failed.status).toBe("failed");
    expect(failed.error?.code).not.toBe("notification");
    expect(slack.received).toHaveLength(0);
    expect(await mails()).toHaveLength(1);
    const [failure] = events("notification_failed");
    expect(failure).toMatchObject({
      channel: "slack",
      kind: "alert",
      error: "Slack answered 500 no_service",
    });
    expect(JSON.stringify(entries)).not.toContain("stand-in-secret-path");

    slack.answer(200);
    const report = await checkAlertsNow(
      { db: fs.db, source: source() },
      "officeRndBackupAlertCheck",
    );
    expect(report).toMatchObject({
      checked: true,
      channels: {
        slack: { outcome: "sent", kind: "alert" },
        email: { outcome: "nothing_to_send" },
      },
    });
    expect(slack.received).toHaveLength(1);
    expect(await mails()).toHaveLength(1);
  });

  it("the hourly check tells of a backup that has not completed in 48 hours, once, with a daily reminder", async () => {
    await run(source());
    expect(slack.received).toHaveLength(0);
    const at = (hours: number) => () => new Date(Date.now() + hours * HOUR);
    const check = (hours: number) =>
      checkAlertsNow({ db: fs.db, source: source(), now: at(hours) }, "officeRndBackupAlertCheck");

    await check(47);
    expect(slack.received).toHaveLength(0);
    await check(49);
    expect(slack.received).toHaveLength(1);
    expect(JSON.stringify(slack.received[0])).toContain("No completed backup in 48 hours");
    await check(50);
    await check(72);
    expect(slack.received).toHaveLength(1);
    await check(73.5);
    expect(slack.received).toHaveLength(2);
    expect((slack.received[1] as { text: string }).text).toContain("Reminder");
    const subjects = (await mails()).map((m) => (m.message as { subject: string }).subject);
    expect(subjects.sort()).toEqual([
      "[OfficeRnD backup] ALERT: No completed backup in 48 hours",
      "[OfficeRnD backup] Reminder, still open: No completed backup in 48 hours",
    ]);
  });

  it("two checks at once send one message", async () => {
    await run(source({ BACKUP_SLACK_WEBHOOK_URL: "none", BACKUP_ALERT_EMAILS: "" }));
    const stale = () => new Date(Date.now() + 49 * HOUR);
    const reports = await Promise.all(
      [1, 2, 3].map(() =>
        checkAlertsNow({ db: fs.db, source: source(), now: stale }, "officeRndBackupAlertCheck"),
      ),
    );
    expect(slack.received).toHaveLength(1);
    expect(await mails()).toHaveLength(1);
    expect(reports.filter((r) => r?.checked === true)).not.toHaveLength(0);
  });

  it("a malformed notification setting is a config_error of its own; the run completes", async () => {
    const result = await run(source({ BACKUP_ALERT_EMAILS: "not-an-address" }));
    expect(result.status).toBe("completed");
    expect(events("config_error")).toEqual([
      expect.objectContaining({
        variable: "BACKUP_ALERT_EMAILS",
        functionName: "notifications",
        detail: "must be a comma list of email addresses",
      }),
    ]);
  });

  it("with neither Slack nor email configured, nothing is read or written", async () => {
    await run(failing());
    const none = await checkAlertsNow(
      { db: fs.db, source: source({ BACKUP_SLACK_WEBHOOK_URL: "none", BACKUP_ALERT_EMAILS: "" }) },
      "officeRndBackupAlertCheck",
    );
    expect(none).toEqual({ checked: false, reason: "no_channels" });
  });
});
