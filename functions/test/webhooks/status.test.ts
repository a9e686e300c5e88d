import { recordEvent, seedData, webhookEvent, type SandboxRecord } from "../../dev/sandbox";
import { backupStatusResponseSchema, type BackupStatusResponse } from "../../src/status";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { STATUS_TOKEN, captureLogs } from "../http/helpers";
import { HOUR, WEBHOOK_COVERAGE, makeRun, writeRuns } from "../status/fixtures";
import { OTHER_SECRET, WEBHOOK_SECRET, startWebhookServer, type WebhookServer } from "./helpers";

/** The status response's `webhooks` block, read over HTTP after real deliveries. */

const T0 = new Date("2026-11-20T08:00:00.000Z");
const later = (hours: number) => new Date(T0.getTime() + hours * HOUR);

const logs = captureLogs();
let fs: TestFirestore;
let hook: WebhookServer;
let clock = T0;

beforeAll(async () => {
  fs = createTestFirestore("webhook-status");
  hook = await startWebhookServer(fs.db, { now: () => clock });
});
afterAll(async () => {
  for (const text of [...hook.texts, ...logs.entries.map((e) => JSON.stringify(e))]) {
    expect(text.includes(WEBHOOK_SECRET)).toBe(false);
  }
  logs.stop();
  await hook.close();
  await fs.close();
});

async function webhooksBlock(): Promise<BackupStatusResponse["webhooks"]> {
  const res = await fetch(`${hook.server.url}/v1/office-rnd/backup-status`, {
    headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
  });
  expect(res.status).toBe(200);
  const status = backupStatusResponseSchema.parse(await res.json());
  expect(Object.keys(status).slice(0, 4)).toEqual([
    "backup",
    "currentStats",
    "syncHealth",
    "lastChecked",
  ]);
  return status.webhooks;
}

const [a, b] = seedData({ members: 2, companies: 0, opportunities: 0, seed: 5 }).members as [
  SandboxRecord,
  SandboxRecord,
];

it("counts deliveries per type, rejections, and distinct events since the latest backup", async () => {
  expect(await webhooksBlock()).toEqual({
    lastReceivedAt: null,
    receivedSinceLastBackup: 0,
    rejected: 0,
    lastRejectedAt: null,
    byType: {},
    coverage: WEBHOOK_COVERAGE,
  });

  // Before any backup: every retained event counts.
  await hook.deliver(recordEvent("members", "created", a), { now: clock });
  await hook.deliver(recordEvent("members", "created", b), { now: clock });
  expect(await webhooksBlock()).toEqual({
    lastReceivedAt: T0.toISOString(),
    receivedSinceLastBackup: 2,
    rejected: 0,
    lastRejectedAt: null,
    byType: { "member.created": 2 },
    coverage: WEBHOOK_COVERAGE,
  });

  // A backup run starts an hour later; then more deliveries, a redelivery and two rejections.
  await writeRuns(fs.db, [makeRun({ label: "after", finishedAt: later(1), durationMs: 60_000 })]);
  clock = later(2);
  const update = recordEvent("members", "updated", {
    ...a,
    name: "Zoë Ångström",
    modifiedAt: clock.toISOString(),
  });
  expect((await hook.deliver(update, { now: clock })).status).toBe(200);
  expect((await hook.deliver(update, { now: clock })).json).toMatchObject({
    outcome: "duplicate",
  });
  const booking = webhookEvent("location.created", { _id: "64b0000000000000000000aa" });
  expect((await hook.deliver(booking, { now: clock })).json).toMatchObject({
    outcome: "ignored",
  });
  expect((await hook.deliver(update, { now: clock, secret: OTHER_SECRET })).status).toBe(401);
  expect((await hook.post("{}", { "Content-Type": "application/json" })).status).toBe(401);

  expect(await webhooksBlock()).toEqual({
    lastReceivedAt: later(2).toISOString(),
    // The update and the booking event (the redelivery is the same event).
    receivedSinceLastBackup: 2,
    rejected: 2,
    lastRejectedAt: later(2).toISOString(),
    byType: { "location.created": 1, "member.created": 2, "member.updated": 2 },
    coverage: WEBHOOK_COVERAGE,
  });
});
