import { recordEvent, seedData, type SandboxRecord } from "../../dev/sandbox";
import { RESOURCES } from "../../src/officernd/resources";
import {
  WEBHOOK_TOMBSTONES_COLLECTION,
  webhookEventDocSchema,
  WEBHOOK_EVENTS_COLLECTION,
  eventDocId,
} from "../../src/webhooks";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { captureLogs } from "../http/helpers";
import {
  readDoc,
  readStats,
  startWebhookServer,
  writtenDocuments,
  type Delivered,
  type WebhookServer,
} from "./helpers";

/**
 * What a validly signed delivery may not do (issue 14, item 9), over HTTP into the product's app
 * with the Firestore emulator: leave a record without a version, date a change far in the
 * future, or create a second document for one record by changing the id's case.
 */

const NOW = new Date("2026-11-20T10:00:00.000Z");
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs).toISOString();

const logs = captureLogs();
afterAll(() => logs.stop());

const [member, company] = [
  seedData({ members: 1, companies: 0, opportunities: 0, seed: 914 }).members[0],
  seedData({ members: 0, companies: 1, opportunities: 0, seed: 915 }).companies[0],
] as [SandboxRecord, SandboxRecord];

let fs: TestFirestore;
let hook: WebhookServer;
beforeEach(async () => {
  fs = createTestFirestore("wh-payload");
  hook = await startWebhookServer(fs.db, { now: () => NOW });
});
afterEach(async () => {
  await hook.close();
  await fs.close();
});

const send = (event: Parameters<WebhookServer["deliver"]>[0]) => hook.deliver(event, { now: NOW });
const version = (record: SandboxRecord, modifiedAt: string | undefined, name: string) => {
  const { modifiedAt: _old, ...rest } = record;
  return modifiedAt === undefined ? { ...rest, name } : { ...rest, name, modifiedAt };
};

function expectRefused(res: Delivered, code: string, where: string) {
  expect(res.status).toBe(400);
  const error = (res.json as { error: { code: string; message: string } }).error;
  expect(error.code).toBe(code);
  expect(error.message).toContain(where);
}

function outcome(res: Delivered): string | undefined {
  return (res.json as { outcome?: string } | null)?.outcome;
}

describe("modifiedAt must be an ISO 8601 date-time", () => {
  it.each([
    ["missing", undefined],
    ["a word", "yesterday"],
    ["what only Date.parse reads", "March 7, 2026"],
    ["without a zone", "2026-11-20T09:00:00"],
    ["an impossible date", "2026-02-31T09:00:00Z"],
    ["an expanded year", "+275760-09-13T00:00:00.000Z"],
  ])("%s: 400 invalid_payload, counted, nothing stored", async (_label, modifiedAt) => {
    const res = await send(recordEvent("members", "created", version(member, modifiedAt, "x")));
    expectRefused(res, "invalid_payload", "data.object.modifiedAt");
    expect(Object.values(await writtenDocuments(fs.db)).every((n) => n === 0)).toBe(true);
    expect(await readStats(fs.db)).toMatchObject({
      rejected: 1,
      rejectedByReason: { invalid_payload: 1 },
    });
    const logged = logs.entries.filter((e) => e.event === "webhook_rejected").at(-1);
    expect(logged).toMatchObject({ reason: "invalid_payload", status: 400 });
  });

  it("a removal's modifiedAt too, when it is sent", async () => {
    const removal = recordEvent(
      "members",
      "removed",
      { _id: member._id, modifiedAt: "last Tuesday" },
      { createdAt: NOW },
    );
    expectRefused(await send(removal), "invalid_payload", "data.object.modifiedAt");
  });

  it("so no unversioned document exists for an older event to overwrite", async () => {
    // Before: the unversioned event was stored, then every older version was applied over it.
    expect(
      (await send(recordEvent("members", "updated", version(member, undefined, "new")))).status,
    ).toBe(400);
    const older = version(member, at(-HOUR), "older");
    expect(outcome(await send(recordEvent("members", "updated", older)))).toBe("applied");
    const newer = version(member, at(-MINUTE), "newer");
    expect(outcome(await send(recordEvent("members", "updated", newer)))).toBe("applied");
    expect(outcome(await send(recordEvent("members", "updated", older)))).toBe("stale");
    expect((await readDoc(fs.db, "members", member._id))?.data.name).toBe("newer");
  });
});

describe("event times are bounded: nothing dated more than a day ahead", () => {
  it("a removal dated +275760 writes no tombstone; the next update applies", async () => {
    await send(recordEvent("members", "created", version(member, at(-HOUR), "before")));
    const removal = recordEvent(
      "members",
      "removed",
      { _id: member._id },
      { createdAt: "+275760-09-13T00:00:00.000Z" },
    );
    expectRefused(await send(removal), "invalid_payload", "createdAt");
    expect((await writtenDocuments(fs.db))[WEBHOOK_TOMBSTONES_COLLECTION]).toBe(0);
    const update = recordEvent("members", "updated", version(member, at(0), "after"));
    expect(outcome(await send(update))).toBe("applied");
  });

  it.each([
    ["a removal's createdAt", "createdAt"],
    ["a removal's modifiedAt", "data.object.modifiedAt"],
  ])("%s two days ahead: 400 time_out_of_range, counted under that reason", async (_l, where) => {
    const twoDays = at(48 * HOUR);
    const removal =
      where === "createdAt"
        ? recordEvent("companies", "removed", { _id: company._id }, { createdAt: twoDays })
        : recordEvent(
            "companies",
            "removed",
            { _id: company._id, modifiedAt: twoDays },
            { createdAt: NOW },
          );
    expectRefused(await send(removal), "time_out_of_range", where);
    expect(await readStats(fs.db)).toMatchObject({
      rejectedByReason: { time_out_of_range: 1 },
    });
    expect(Object.values(await writtenDocuments(fs.db)).every((n) => n === 0)).toBe(true);
  });

  it("an update dated two days ahead is refused; one inside the day is accepted", async () => {
    const ahead = recordEvent("companies", "updated", version(company, at(48 * HOUR), "ahead"));
    expectRefused(await send(ahead), "time_out_of_range", "data.object.modifiedAt");
    const soon = recordEvent("companies", "updated", version(company, at(23 * HOUR), "soon"));
    expect(outcome(await send(soon))).toBe("applied");
  });
});

describe("record ids are one case: an upper-case _id is the same record", () => {
  it("created upper, updated lower, removed upper: one document, lower-case id and _id", async () => {
    const upper = member._id.toUpperCase();
    const lower = member._id.toLowerCase();
    expect(upper).not.toBe(lower);
    const created = recordEvent("members", "created", {
      ...version(member, at(-HOUR), "upper"),
      _id: upper,
    });
    expect(outcome(await send(created))).toBe("applied");
    const updated = recordEvent("members", "updated", {
      ...version(member, at(-MINUTE), "lower"),
      _id: lower,
    });
    expect(outcome(await send(updated))).toBe("applied");

    const docs = await fs.db.collection(RESOURCES.members.collection).get();
    expect(docs.docs.map((d) => [d.id, d.get("_id") as unknown, d.get("name") as unknown])).toEqual(
      [[lower, lower, "lower"]],
    );
    // The older upper-case version is stale against the same document.
    expect(outcome(await send(recordEvent("members", "updated", created.data.object)))).toBe(
      "stale",
    );

    const removed = await send(
      recordEvent("members", "removed", { _id: upper }, { createdAt: NOW }),
    );
    expect(outcome(removed)).toBe("applied");
    const after = await readDoc(fs.db, "members", lower);
    expect((after?.data._sync as { removedAt: unknown }).removedAt).not.toBeNull();
    expect((await fs.db.collection(RESOURCES.members.collection).count().get()).data().count).toBe(
      1,
    );
    const tombstones = await fs.db.collection(WEBHOOK_TOMBSTONES_COLLECTION).get();
    expect(tombstones.docs.map((d) => d.get("recordId") as unknown)).toEqual([lower]);
    const marker = await fs.db
      .collection(WEBHOOK_EVENTS_COLLECTION)
      .doc(eventDocId((removed.json as { eventId: string }).eventId))
      .get();
    expect(webhookEventDocSchema.parse(marker.data()).recordId).toBe(lower);
  });
});
