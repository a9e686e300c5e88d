import { Timestamp } from "firebase-admin/firestore";
import { METADATA_COLLECTION } from "../../src/mirror/collections";
import { getBackupStatus } from "../../src/status";
import { readWebhookHealth } from "../../src/status/webhooks";
import {
  WEBHOOK_EVENTS_COLLECTION,
  WEBHOOK_STATS_DOC,
  webhookEventDocSchema,
} from "../../src/webhooks";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { captureLogs } from "../http/helpers";
import { HOUR, NOW, WEBHOOK_COVERAGE, hoursBefore, makeRun, writeRuns } from "./fixtures";

/** The status response's `webhooks` block from stored documents (the webhook tests send real ones). */

const logs = captureLogs();
afterAll(() => logs.stop());

let fs: TestFirestore;
beforeEach(() => {
  fs = createTestFirestore("status-webhooks");
});
afterEach(() => fs.close());

async function processedAt(id: string, when: Date) {
  const doc = webhookEventDocSchema.parse({
    eventId: id,
    eventType: "member.updated",
    resource: "members",
    recordId: "64b000000000000000000001",
    outcome: "applied",
    receivedAt: Timestamp.fromDate(when),
    createdAt: when.toISOString(),
    expireAt: Timestamp.fromMillis(when.getTime() + 7 * 24 * HOUR),
  });
  await fs.db.collection(WEBHOOK_EVENTS_COLLECTION).doc(id).set(doc);
}

it("counts the events processed since the latest run started, and reads the counters", async () => {
  await processedAt("e1", hoursBefore(NOW, 30));
  await processedAt("e2", hoursBefore(NOW, 3));
  await processedAt("e3", hoursBefore(NOW, 1));
  await fs.db
    .collection(METADATA_COLLECTION)
    .doc(WEBHOOK_STATS_DOC)
    .set({
      lastReceivedAt: Timestamp.fromDate(hoursBefore(NOW, 1)),
      received: 5,
      duplicates: 2,
      byType: { "member.updated": 4, "company.created": 1 },
      rejected: 3,
      lastRejectedAt: Timestamp.fromDate(hoursBefore(NOW, 2)),
      rejectedByReason: { bad_signature: 3 },
    });
  // No run yet: every retained event.
  expect((await readWebhookHealth(fs.db, null)).receivedSinceLastBackup).toBe(3);

  // The latest run started 4 hours ago (it took one minute).
  await writeRuns(fs.db, [
    makeRun({ label: "latest", finishedAt: new Date(hoursBefore(NOW, 4).getTime() + 60_000) }),
  ]);
  const status = await getBackupStatus(fs.db, { now: () => NOW, missingAlertThreshold: 10 });
  expect(status.webhooks).toEqual({
    lastReceivedAt: hoursBefore(NOW, 1).toISOString(),
    receivedSinceLastBackup: 2,
    rejected: 3,
    lastRejectedAt: hoursBefore(NOW, 2).toISOString(),
    // Sorted by type.
    byType: { "company.created": 1, "member.updated": 4 },
    coverage: WEBHOOK_COVERAGE,
  });
  expect(Object.keys(status.webhooks.byType)).toEqual(["company.created", "member.updated"]);
});

it("a stats document that does not match its schema is logged and read as empty", async () => {
  await fs.db.collection(METADATA_COLLECTION).doc(WEBHOOK_STATS_DOC).set({ rejected: "many" });
  const block = await readWebhookHealth(fs.db, null);
  expect(block).toEqual({
    lastReceivedAt: null,
    receivedSinceLastBackup: 0,
    rejected: 0,
    lastRejectedAt: null,
    byType: {},
    coverage: WEBHOOK_COVERAGE,
  });
  expect(
    logs.entries.some(
      (e) => e.event === "status_document_invalid" && String(e.path).endsWith(WEBHOOK_STATS_DOC),
    ),
  ).toBe(true);
});
