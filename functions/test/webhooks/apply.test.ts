import { Timestamp } from "firebase-admin/firestore";
import { recordEvent, seedData, type SandboxRecord } from "../../dev/sandbox";
import { recordDocument, recordRef, syncInfo } from "../../src/mirror/record-document";
import { CLOCK_ALLOWANCE_MS, tombstoneId } from "../../src/webhooks/apply";
import { WEBHOOK_TOMBSTONES_COLLECTION, tombstoneSchema, type Tombstone } from "../../src/webhooks";
import { asRecord } from "../backup/helpers";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { captureLogs } from "../http/helpers";
import { readDoc, startWebhookServer, type Delivered, type WebhookServer } from "./helpers";

/**
 * How an event is ordered against what the mirror holds when what it holds carries a time that
 * cannot be trusted: no version at all, or a version (or a removal) dated in the future, as the
 * code before issue 14 could leave them. Over HTTP, with the Firestore emulator.
 */

const NOW = new Date("2026-11-20T10:00:00.000Z");
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

const logs = captureLogs();
afterAll(() => logs.stop());

const [member] = seedData({ members: 1, companies: 0, opportunities: 0, seed: 4711 }).members as [
  SandboxRecord,
];
const version = (modifiedAt: string | undefined, name: string): SandboxRecord => {
  const { modifiedAt: _old, ...rest } = member;
  return modifiedAt === undefined ? { ...rest, name } : { ...rest, name, modifiedAt };
};

let fs: TestFirestore;
let hook: WebhookServer;
beforeEach(async () => {
  fs = createTestFirestore("wh-apply");
  hook = await startWebhookServer(fs.db, { now: () => NOW });
});
afterEach(async () => {
  await hook.close();
  await fs.close();
});

async function update(modifiedAt: Date, name: string): Promise<string | undefined> {
  const res: Delivered = await hook.deliver(
    recordEvent("members", "updated", version(modifiedAt.toISOString(), name)),
    { now: NOW },
  );
  expect(res.status).toBe(200);
  return (res.json as { outcome?: string }).outcome;
}

/** A document as an earlier version of the product left it, written `syncedAt`. */
async function storeDocument(record: SandboxRecord, syncedAt: Date) {
  await recordRef(fs.db, "members", member._id).set(
    recordDocument(asRecord("members", record), syncInfo("webhook", syncedAt)),
  );
}

const name = async () => (await readDoc(fs.db, "members", member._id))?.data.name;

describe("a stored document without a version", () => {
  it("takes only events modified after it was stored", async () => {
    await storeDocument(version(undefined, "unversioned"), at(-HOUR));
    // Before: every versioned event was applied over it, older ones included.
    expect(await update(at(-2 * HOUR), "older than the document")).toBe("stale");
    expect(await name()).toBe("unversioned");
    expect(await update(at(-30 * MINUTE), "newer than the document")).toBe("applied");
    expect(await name()).toBe("newer than the document");
    expect(await update(at(-2 * HOUR), "older than the document")).toBe("stale");
  });
});

describe("times from the future do not hold back later events", () => {
  it("a stored record dated +275760 (written an hour ago) yields to a current update", async () => {
    await storeDocument(version("+275760-09-13T00:00:00.000Z", "poisoned"), at(-HOUR));
    // Before: stale until the year 275760.
    expect(await update(at(0), "current")).toBe("applied");
    expect(await name()).toBe("current");
  });

  it("a stored record dated a day ahead counts as at most its write time + the allowance", async () => {
    await storeDocument(version(at(23 * HOUR).toISOString(), "ahead"), NOW);
    expect(await update(at(CLOCK_ALLOWANCE_MS - MINUTE), "inside the allowance")).toBe("stale");
    expect(await update(at(CLOCK_ALLOWANCE_MS + MINUTE), "after it")).toBe("applied");
  });

  it("a tombstone dated +275760 (received an hour ago) stops only older events", async () => {
    const poisoned: Tombstone = {
      resource: "members",
      recordId: member._id,
      eventId: "old-removal",
      removedVersion: Date.parse("+275760-09-13T00:00:00.000Z"),
      receivedAt: Timestamp.fromDate(at(-HOUR)),
      expireAt: Timestamp.fromDate(at(6 * 24 * HOUR)),
    };
    await fs.db
      .collection(WEBHOOK_TOMBSTONES_COLLECTION)
      .doc(tombstoneId("members", member._id))
      .set(poisoned);
    expect(await update(at(-2 * HOUR), "before the removal")).toBe("stale");
    // Before: every update was stale for the tombstone's 7 days.
    expect(await update(at(0), "after the removal")).toBe("applied");
  });

  it("a removal dated 12 h ahead is accepted, its tombstone clamped to now + the allowance", async () => {
    expect(await update(at(-HOUR), "live")).toBe("applied");
    const removal = recordEvent(
      "members",
      "removed",
      { _id: member._id },
      { createdAt: at(12 * HOUR) },
    );
    const res = await hook.deliver(removal, { now: NOW });
    expect((res.json as { outcome?: string }).outcome).toBe("applied");
    const tombstone = tombstoneSchema.parse(
      (
        await fs.db
          .collection(WEBHOOK_TOMBSTONES_COLLECTION)
          .doc(tombstoneId("members", member._id))
          .get()
      ).data(),
    );
    expect(tombstone.removedVersion).toBe(NOW.getTime() + CLOCK_ALLOWANCE_MS);
    // Before: every update was stale for 12 h.
    expect(await update(at(CLOCK_ALLOWANCE_MS + MINUTE), "re-created")).toBe("applied");
  });
});
