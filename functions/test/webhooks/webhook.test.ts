import express from "express";
import { Timestamp, type Firestore, type Transaction } from "firebase-admin/firestore";
import {
  WEBHOOK_EVENT_PREFIX,
  recordEvent,
  seedData,
  signWebhook,
  webhookEvent,
  webhookSignature,
  type SandboxRecord,
  type SandboxWebhookEvent,
} from "../../dev/sandbox";
import { recordDocument, recordRef, syncInfo } from "../../src/mirror/record-document";
import { createApp, listen } from "../../src/http";
import { RESOURCE_NAMES, RESOURCES, type ResourceName } from "../../src/officernd/resources";
import { createProductApp } from "../../src/wiring";
import { WEBHOOK_PATH, loadWebhookSetup, webhookRoute } from "../../src/http/routes/webhook";
import { WEBHOOK_EVENTS_COLLECTION, eventDocId, webhookEventDocSchema } from "../../src/webhooks";
import { asRecord } from "../backup/helpers";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { STATUS_TOKEN, captureLogs } from "../http/helpers";
import {
  OTHER_SECRET,
  WEBHOOK_SECRET,
  readDoc,
  readStats,
  startWebhookServer,
  webhookEnv,
  writtenDocuments,
  type Delivered,
  type WebhookServer,
} from "./helpers";

/**
 * OfficeRnD deliveries signed by the sandbox's signer (dev/sandbox/webhooks.ts), POSTed over real
 * HTTP to the product's app (createProductApp) on a socket, with the real Firestore emulator.
 */

const NOW = new Date("2026-11-20T10:00:00.000Z");
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);
const MINUTE = 60_000;

const logs = captureLogs();
const texts: string[] = [];
/** Signatures computed in these tests (expected ones included): none may appear anywhere. */
const signatures: string[] = [];

afterAll(() => {
  const everything = [...texts, ...logs.entries.map((e) => JSON.stringify(e))];
  for (const text of everything) {
    expect(text.includes(WEBHOOK_SECRET)).toBe(false);
    expect(text.includes(OTHER_SECRET)).toBe(false);
    for (const signature of signatures) expect(text.includes(signature)).toBe(false);
  }
  logs.stop();
});

const dataset = seedData({ members: 4, companies: 3, opportunities: 3, seed: 4242 });
function sample(resource: ResourceName, index = 0): SandboxRecord {
  const record = dataset[resource][index];
  if (!record) throw new Error(`no ${resource} ${index} in the dataset`);
  return record;
}

let fs: TestFirestore;
let hook: WebhookServer;

async function open(env: Record<string, string> = webhookEnv()) {
  fs = createTestFirestore("webhook");
  hook = await startWebhookServer(fs.db, { env, now: () => NOW });
}
async function shut() {
  texts.push(...hook.texts);
  await hook.close();
  await fs.close();
}

async function send(
  event: SandboxWebhookEvent | string | Buffer,
  options: { timestamp?: number } = {},
): Promise<Delivered> {
  const res = await hook.deliver(event, { now: NOW, ...options });
  const signed = signWebhook(WEBHOOK_SECRET, event, { now: NOW, ...options });
  signatures.push(webhookSignature(WEBHOOK_SECRET, signed.body, signed.timestamp));
  return res;
}

function expectOutcome(res: Delivered, outcome: string) {
  expect({
    status: res.status,
    outcome: (res.json as { outcome?: string } | null)?.outcome,
  }).toEqual({ status: 200, outcome });
}

function stored(record: SandboxRecord, resource: ResourceName, removed = false) {
  return recordDocument(asRecord(resource, record), syncInfo("webhook", NOW, removed));
}

describe("each event type, over HTTP into the app", () => {
  beforeEach(() => open());
  afterEach(() => shut());

  // Types OfficeRnD sends events for, and opportunities (should OfficeRnD ever send them, they
  // are expected to follow the same naming); locations and events have none.
  it.each(RESOURCE_NAMES.filter((n) => RESOURCES[n].webhookEvents || n === "opportunities"))(
    "%s: created, updated and removed are applied in the backup's document format",
    async (resource) => {
      const original = sample(resource);
      const created = await send(recordEvent(resource, "created", original));
      expectOutcome(created, "applied");
      expect(created.json).toEqual({
        received: true,
        eventId: expect.any(String) as string,
        eventType: `${WEBHOOK_EVENT_PREFIX[resource]}.created`,
        outcome: "applied",
      });
      expect((await readDoc(fs.db, resource, original._id))?.data).toEqual(
        stored(original, resource),
      );

      const changed: SandboxRecord = {
        ...original,
        name: `${JSON.stringify(original.name)} (renamed ✓)`,
        modifiedAt: at(MINUTE).toISOString(),
      };
      expectOutcome(
        await send(
          recordEvent(resource, "updated", changed, {
            previousAttributes: { name: original.name ?? null },
          }),
        ),
        "applied",
      );
      const updated = await readDoc(fs.db, resource, original._id);
      expect(updated?.data).toEqual(stored(changed, resource));
      expect(updated?.data._sync).toEqual({
        syncedAt: Timestamp.fromDate(NOW),
        source: "webhook",
        removedAt: null,
      });

      expectOutcome(
        await send(recordEvent(resource, "removed", changed, { createdAt: at(2 * MINUTE) })),
        "applied",
      );
      // Orphan policy `mark` (the default): content kept, `_sync.removedAt` set.
      expect((await readDoc(fs.db, resource, original._id))?.data).toEqual(
        stored(changed, resource, true),
      );

      const events = await fs.db.collection(WEBHOOK_EVENTS_COLLECTION).get();
      expect(events.size).toBe(3);
      for (const doc of events.docs) {
        const marker = webhookEventDocSchema.parse(doc.data());
        expect(marker).toMatchObject({ resource, recordId: original._id, outcome: "applied" });
        expect(marker.expireAt.toMillis()).toBe(NOW.getTime() + 7 * 24 * 3_600_000);
      }
      const processed = logs.entries.filter(
        (e) => e.event === "webhook_processed" && e.recordId === original._id,
      );
      expect(processed.map((e) => e.outcome)).toEqual(["applied", "applied", "applied"]);
    },
  );

  it("a removal of a record the mirror never had changes nothing but is acknowledged", async () => {
    const record = sample("members", 1);
    expectOutcome(
      await send(recordEvent("members", "removed", { _id: record._id }, { createdAt: NOW })),
      "unchanged",
    );
    expect(await readDoc(fs.db, "members", record._id)).toBeNull();
  });

  it("removing twice keeps the first removal (mark policy)", async () => {
    const record = sample("companies", 1);
    await send(recordEvent("companies", "created", record));
    const removal = () => recordEvent("companies", "removed", record, { createdAt: NOW });
    expectOutcome(await send(removal()), "applied");
    const first = await readDoc(fs.db, "companies", record._id);
    expectOutcome(await send(removal()), "unchanged");
    expect((await readDoc(fs.db, "companies", record._id))?.updateTime).toBe(first?.updateTime);
  });
});

describe("orphan policy delete", () => {
  beforeEach(() => open(webhookEnv({ BACKUP_ORPHAN_POLICY: "delete" })));
  afterEach(() => shut());

  it("deletes the document on *.removed, and a late older update does not bring it back", async () => {
    const record = sample("opportunities");
    await send(recordEvent("opportunities", "created", record));
    const removed = await send(
      recordEvent("opportunities", "removed", { _id: record._id }, { createdAt: at(MINUTE) }),
    );
    expectOutcome(removed, "applied");
    expect(await readDoc(fs.db, "opportunities", record._id)).toBeNull();
    expect(logs.entries.at(-1)).toBeDefined();
    const processed = logs.entries.filter(
      (e) => e.event === "webhook_processed" && e.recordId === record._id,
    );
    expect(processed.at(-1)?.removal).toBe("deleted");

    // An update made before the removal, delivered after it.
    const late = { ...record, name: "late", modifiedAt: at(30_000).toISOString() };
    expectOutcome(await send(recordEvent("opportunities", "updated", late)), "stale");
    expect(await readDoc(fs.db, "opportunities", record._id)).toBeNull();

    // Created again later under the same id: applied.
    const again = { ...record, name: "back", modifiedAt: at(2 * MINUTE).toISOString() };
    expectOutcome(await send(recordEvent("opportunities", "created", again)), "applied");
    expect((await readDoc(fs.db, "opportunities", record._id))?.data).toEqual(
      stored(again, "opportunities"),
    );
  });
});

describe("replays and redeliveries", () => {
  beforeEach(() => open());
  afterEach(() => shut());

  it("the same event twice has one effect", async () => {
    const record = sample("members", 2);
    const event = recordEvent("members", "created", record);
    expectOutcome(await send(event), "applied");
    const first = await readDoc(fs.db, "members", record._id);
    // The identical bytes again, and OfficeRnD's retry: same event, signed again later.
    expectOutcome(await send(event), "duplicate");
    expectOutcome(
      await send(event, { timestamp: Math.floor(NOW.getTime() / 1000) + 30 }),
      "duplicate",
    );
    expect((await readDoc(fs.db, "members", record._id))?.updateTime).toBe(first?.updateTime);
    expect((await writtenDocuments(fs.db))[WEBHOOK_EVENTS_COLLECTION]).toBe(1);
    const stats = await readStats(fs.db);
    expect(stats).toMatchObject({ received: 3, duplicates: 2, byType: { "member.created": 3 } });
  });

  it("a replayed event does not undo a later one", async () => {
    const record = sample("members", 3);
    const created = recordEvent("members", "created", record);
    await send(created);
    const renamed = { ...record, name: "Renée Ångström", modifiedAt: at(MINUTE).toISOString() };
    await send(recordEvent("members", "updated", renamed));
    expectOutcome(await send(created), "duplicate");
    expect((await readDoc(fs.db, "members", record._id))?.data.name).toBe("Renée Ångström");
  });

  it("concurrent deliveries of one event: exactly one applies it", async () => {
    const record = sample("companies", 2);
    const event = recordEvent("companies", "created", record);
    const results = await Promise.all(Array.from({ length: 6 }, () => send(event)));
    const outcomes = results.map((r) => (r.json as { outcome: string }).outcome).sort();
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(outcomes).toEqual([
      "applied",
      "duplicate",
      "duplicate",
      "duplicate",
      "duplicate",
      "duplicate",
    ]);
    expect(
      (await fs.db.collection(WEBHOOK_EVENTS_COLLECTION).doc(eventDocId(event.event)).get()).exists,
    ).toBe(true);
  });
});

describe("out-of-order events (modifiedAt)", () => {
  beforeEach(() => open());
  afterEach(() => shut());

  const v = (record: SandboxRecord, n: number, name: string): SandboxRecord => ({
    ...record,
    name,
    modifiedAt: at(n * MINUTE).toISOString(),
  });

  it("an older update arriving after a newer one is stale and writes nothing", async () => {
    const base = sample("members");
    await send(recordEvent("members", "updated", v(base, 2, "second")));
    const newer = await readDoc(fs.db, "members", base._id);
    expectOutcome(await send(recordEvent("members", "updated", v(base, 1, "first"))), "stale");
    const after = await readDoc(fs.db, "members", base._id);
    expect(after?.data.name).toBe("second");
    expect(after?.updateTime).toBe(newer?.updateTime);
  });

  it("the same version again (another event id) is unchanged and writes nothing", async () => {
    const base = v(sample("companies"), 1, "same");
    await send(recordEvent("companies", "updated", base));
    const before = await readDoc(fs.db, "companies", base._id);
    // Same content in another key order: still the same record.
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as SandboxRecord;
    expectOutcome(await send(recordEvent("companies", "updated", reordered)), "unchanged");
    expect((await readDoc(fs.db, "companies", base._id))?.updateTime).toBe(before?.updateTime);
  });

  it("an update older than a removal does not resurrect the record (mark policy)", async () => {
    const base = sample("opportunities", 1);
    await send(recordEvent("opportunities", "created", v(base, 1, "one")));
    await send(
      recordEvent("opportunities", "removed", { _id: base._id }, { createdAt: at(3 * MINUTE) }),
    );
    expectOutcome(await send(recordEvent("opportunities", "updated", v(base, 2, "two"))), "stale");
    const doc = await readDoc(fs.db, "opportunities", base._id);
    expect(doc?.data.name).toBe("one");
    expect((doc?.data._sync as { removedAt: unknown }).removedAt).not.toBeNull();
  });

  it("a record the backup marked removed comes back only with a later version", async () => {
    const base = v(sample("members", 2), 1, "kept");
    // As the backup leaves an orphan with the mark policy: content kept, removedAt set.
    await recordRef(fs.db, "members", base._id).set(
      recordDocument(asRecord("members", base), syncInfo("backup", NOW, true)),
    );
    // An event without a version is refused outright (test/webhooks/payload.test.ts).
    const { modifiedAt: _dropped, ...unversioned } = v(base, 2, "no version");
    expect((await send(recordEvent("members", "updated", unversioned))).status).toBe(400);
    expectOutcome(await send(recordEvent("members", "updated", base)), "stale");
    expectOutcome(await send(recordEvent("members", "updated", v(base, 2, "back"))), "applied");
    const doc = await readDoc(fs.db, "members", base._id);
    expect(doc?.data).toEqual(stored(v(base, 2, "back"), "members"));
  });

  it("a removal older than the stored record is stale", async () => {
    const base = sample("companies", 2);
    await send(recordEvent("companies", "updated", v(base, 5, "current")));
    const removal = recordEvent(
      "companies",
      "removed",
      { _id: base._id, modifiedAt: at(MINUTE).toISOString() },
      { createdAt: at(2 * MINUTE) },
    );
    expectOutcome(await send(removal), "stale");
    const doc = await readDoc(fs.db, "companies", base._id);
    expect((doc?.data._sync as { removedAt: unknown }).removedAt).toBeNull();
  });
});

describe("raw body: the signature covers the bytes as sent", () => {
  beforeEach(() => open());
  afterEach(() => shut());

  // Whitespace, key order, \u escapes (é, and 🥜 as a surrogate pair), a solidus escape.
  const record = sample("members");
  function oddJson(eventId: string): string {
    const fields = Object.entries(record)
      .reverse()
      .map(([k, val]) => `  ${JSON.stringify(k)} :\t${JSON.stringify(val)}`);
    fields.push(`  "x_note": "caf\\u00e9 \\ud83e\\udd5c \\/ ok"`);
    return (
      `{\n  "createdAt" : "${NOW.toISOString()}",\r\n  "data": {"object": {\n${fields.join(",\n")}\n}},` +
      `\n  "eventType":"member.updated",   "event" : "${eventId}"\n}\n`
    );
  }

  it("accepts an unusual serialization signed as sent and stores the same content", async () => {
    const res = await send(oddJson("a1b2c3d4e5f6a1b2c3d4e5f6"));
    expectOutcome(res, "applied");
    const doc = await readDoc(fs.db, "members", record._id);
    expect(doc?.data).toEqual({ ...stored(record, "members"), x_note: "café 🥜 / ok" });
  });

  it("accepts a body with a UTF-8 byte order mark", async () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify(recordEvent("members", "created", record)), "utf8"),
    ]);
    expectOutcome(await send(body), "applied");
  });

  it("rejects a body re-serialized after signing (whitespace, key order or escapes)", async () => {
    const original = oddJson("b1b2c3d4e5f6a1b2c3d4e5f6");
    const variants = [
      JSON.stringify(JSON.parse(original)),
      JSON.stringify(JSON.parse(original), null, 2),
      original.replace("caf\\u00e9", "café"),
      original.replace("\\/", "/"),
    ];
    for (const variant of variants) {
      const signed = signWebhook(WEBHOOK_SECRET, original, { now: NOW });
      const res = await hook.post(variant, signed.headers);
      expect(res.status).toBe(401);
      expect(res.json).toEqual({
        error: { code: "unauthorized", message: "the signature does not match the body" },
      });
    }
    expect(await writtenDocuments(fs.db)).toEqual({
      officeRndMembers: 0,
      officeRndOpportunities: 0,
      officeRndCompanies: 0,
      officeRndLocations: 0,
      officeRndEvents: 0,
      officeRndBookings: 0,
      officeRndWebhookEvents: 0,
      officeRndWebhookTombstones: 0,
    });
  });

  it("uses req.rawBody when the Cloud Functions runtime has already parsed the body", async () => {
    const fn = createProductApp({
      db: fs.db,
      source: webhookEnv(),
      now: () => NOW,
      webhookRejectionFlushMs: 0,
    });
    // What the functions framework does before calling `api`: parse JSON, keep the bytes.
    const runtime = express();
    runtime.use(
      express.json({
        limit: "10mb",
        verify: (req, _res, buf) => {
          (req as unknown as { rawBody: Buffer }).rawBody = buf;
        },
      }),
    );
    runtime.use((req, res) => fn(req, res));
    const server = await listen(runtime);
    try {
      const body = oddJson("c1b2c3d4e5f6a1b2c3d4e5f6");
      const signed = signWebhook(WEBHOOK_SECRET, body, { now: NOW });
      signatures.push(webhookSignature(WEBHOOK_SECRET, signed.body, signed.timestamp));
      const post = (bytes: Buffer) =>
        fetch(`${server.url}/v1/office-rnd/webhook`, {
          method: "POST",
          headers: signed.headers,
          body: new Uint8Array(bytes),
        });
      const ok = await post(signed.body);
      const okText = await ok.text();
      texts.push(okText);
      expect(ok.status).toBe(200);
      expect(JSON.parse(okText)).toMatchObject({ outcome: "applied" });

      // Over the limit, as the runtime delivers it (already read): 413.
      const huge = Buffer.from(JSON.stringify({ pad: "x".repeat(1_100_000) }), "utf8");
      const tooLarge = await post(huge);
      texts.push(await tooLarge.text());
      expect(tooLarge.status).toBe(413);
    } finally {
      await server.close();
    }
  });
});

describe("what is acknowledged, what is refused", () => {
  beforeEach(() => open());
  afterEach(() => shut());

  it("acknowledges unknown event types, logs them and writes no record", async () => {
    const types = ["location.created", "member.activated", "invoice.paid"];
    for (const type of types) {
      expectOutcome(
        await send(webhookEvent(type, { _id: "64b000000000000000000001", any: [1] })),
        "ignored",
      );
    }
    // An unknown type need not carry an object at all.
    expectOutcome(
      await send(
        JSON.stringify({
          event: "e-1",
          eventType: "fee.created",
          data: {},
          createdAt: NOW.toISOString(),
        }),
      ),
      "ignored",
    );
    const written = await writtenDocuments(fs.db);
    expect(written.officeRndMembers).toBe(0);
    expect(written[WEBHOOK_EVENTS_COLLECTION]).toBe(4);
    expect(
      logs.entries.filter((e) => e.event === "webhook_ignored").map((e) => e.eventType),
    ).toEqual(expect.arrayContaining([...types, "fee.created"]));
    expect((await readStats(fs.db))?.byType).toEqual({
      "location.created": 1,
      "member.activated": 1,
      "invoice.paid": 1,
      "fee.created": 1,
    });
  });

  it("refuses signed bodies that are not valid events (400) and writes nothing", async () => {
    const record = sample("members");
    const cases: [string, string][] = [
      ["not json {", "the body is not JSON"],
      ["[]", "body:"],
      [
        JSON.stringify({ eventType: "member.updated", data: { object: record }, createdAt: NOW }),
        "event:",
      ],
      [
        JSON.stringify({ ...recordEvent("members", "updated", record), createdAt: "yesterday" }),
        "createdAt",
      ],
      [
        JSON.stringify(recordEvent("members", "updated", { ...record, _id: "nope" })),
        "data.object._id",
      ],
      [
        JSON.stringify(recordEvent("members", "updated", { ...record, email: 42 })),
        "data.object.email",
      ],
      [JSON.stringify(recordEvent("members", "removed", { name: "no id" })), "data.object._id"],
      [JSON.stringify({ ...recordEvent("members", "updated", record), data: "x" }), "data"],
    ];
    for (const [body, where] of cases) {
      const res = await send(body);
      expect(res.status).toBe(400);
      const error = (res.json as { error: { code: string; message: string } }).error;
      expect(error.code).toBe("invalid_payload");
      expect(error.message).toContain(where);
    }
    const invalidUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    expect((await send(invalidUtf8)).status).toBe(400);
    expect(Object.values(await writtenDocuments(fs.db)).every((n) => n === 0)).toBe(true);
    expect(await readStats(fs.db)).toMatchObject({
      rejected: cases.length + 1,
      rejectedByReason: { invalid_payload: cases.length + 1 },
    });
  });

  it("refuses a record Firestore cannot store (422) and writes nothing", async () => {
    const record = { ...sample("members"), properties: { matrix: [[1, 2]] } };
    const res = await send(recordEvent("members", "created", record));
    expect(res.status).toBe(422);
    expect((res.json as { error: { code: string } }).error.code).toBe("unstorable_record");
    expect(Object.values(await writtenDocuments(fs.db)).every((n) => n === 0)).toBe(true);
  });

  it("answers 413 beyond 1 MB without reading further, and counts it", async () => {
    const body = JSON.stringify({ pad: "x".repeat(1_048_577) });
    const res = await send(body);
    expect(res.status).toBe(413);
    expect(res.json).toEqual({
      error: { code: "payload_too_large", message: "the body exceeds 1048576 bytes" },
    });
    expect(await readStats(fs.db)).toMatchObject({ rejectedByReason: { payload_too_large: 1 } });
  });

  it("has OPTIONS and 405 like every route", async () => {
    const get = await fetch(hook.url);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST, OPTIONS");
    texts.push(await get.text());
    const options = await fetch(hook.url, { method: "OPTIONS" });
    expect(options.status).toBe(204);
  });
});

describe("configuration", () => {
  afterEach(() => shut());

  it("without OFFICERND_WEBHOOK_SECRET the route answers 503 and the status still works", async () => {
    await open({ BACKUP_STATUS_TOKEN: STATUS_TOKEN });
    const res = await send(recordEvent("members", "created", sample("members")));
    expect(res.status).toBe(503);
    expect(res.json).toEqual({
      error: {
        code: "webhook_not_configured",
        message: expect.stringContaining("OFFICERND_WEBHOOK_SECRET") as string,
      },
    });
    const status = await fetch(`${hook.server.url}/v1/office-rnd/backup-status`, {
      headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
    });
    texts.push(await status.text());
    expect(status.status).toBe(200);
    expect(logs.entries.some((e) => e.event === "webhook_unavailable")).toBe(true);
  });

  it("an invalid tolerance or orphan policy also turns only the webhook off", async () => {
    await open(webhookEnv({ OFFICERND_WEBHOOK_TOLERANCE_SECONDS: "soon" }));
    const res = await send(recordEvent("members", "created", sample("members")));
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.json)).toContain("OFFICERND_WEBHOOK_TOLERANCE_SECONDS");
    await shut();
    await open(webhookEnv({ BACKUP_ORPHAN_POLICY: "archive" }));
    const again = await send(recordEvent("members", "created", sample("members")));
    expect(again.status).toBe(503);
    expect(JSON.stringify(again.json)).toContain("BACKUP_ORPHAN_POLICY");
  });
});

describe("durability", () => {
  beforeEach(() => open());
  afterEach(() => shut());

  /**
   * The app's Firestore, except that every transaction fails after its reads and writes were
   * queued, as when Firestore is unavailable at commit: nothing of it is applied.
   */
  function failingCommits(db: Firestore): Firestore {
    const unavailable = () =>
      Object.assign(new Error("14 UNAVAILABLE: the service is currently unavailable"), {
        code: 14,
      });
    return new Proxy(db, {
      get(target, property) {
        if (property === "runTransaction") {
          return <T>(update: (tx: Transaction) => Promise<T>) =>
            target.runTransaction(async (tx) => {
              await update(tx);
              throw unavailable();
            });
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as () => unknown).bind(target) : value;
      },
    });
  }

  it("answers 503 when Firestore does not answer in time", async () => {
    const hanging = new Proxy(fs.db, {
      get(target, property) {
        if (property === "runTransaction") return () => new Promise<never>(() => undefined);
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as () => unknown).bind(target) : value;
      },
    });
    const app = createApp(
      { db: fs.db, status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 } },
      {
        routes: [
          webhookRoute({
            db: hanging,
            setup: loadWebhookSetup(webhookEnv()),
            now: () => NOW,
            storeTimeoutMs: 200,
          }),
        ],
      },
    );
    const server = await listen(app);
    try {
      const signed = signWebhook(
        WEBHOOK_SECRET,
        recordEvent("members", "created", sample("members")),
        {
          now: NOW,
        },
      );
      const res = await fetch(`${server.url}${WEBHOOK_PATH}`, {
        method: "POST",
        headers: signed.headers,
        body: new Uint8Array(signed.body),
      });
      const text = await res.text();
      texts.push(text);
      expect(res.status).toBe(503);
      expect(JSON.parse(text)).toMatchObject({ error: { code: "not_stored" } });
      expect(
        logs.entries.some(
          (e) => e.event === "webhook_failed" && String(e.error).includes("within 200 ms"),
        ),
      ).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("answers 503 when the write is not durable; the redelivery applies it", async () => {
    const down = await startWebhookServer(failingCommits(fs.db), { now: () => NOW });
    const record = sample("members");
    const event = recordEvent("members", "created", record);
    try {
      const res = await down.deliver(event, { now: NOW });
      expect(res.status).toBe(503);
      expect(res.json).toEqual({
        error: {
          code: "not_stored",
          message: "the event could not be stored; deliver it again",
          requestId: expect.any(String) as string,
        },
      });
      expect(
        logs.entries.some((e) => e.event === "webhook_failed" && e.eventId === event.event),
      ).toBe(true);
      expect(await readDoc(fs.db, "members", record._id)).toBeNull();
      expect((await writtenDocuments(fs.db))[WEBHOOK_EVENTS_COLLECTION]).toBe(0);
    } finally {
      texts.push(...down.texts);
      await down.close();
    }
    // OfficeRnD delivers it again once Firestore is back.
    expectOutcome(await send(event), "applied");
    expect((await readDoc(fs.db, "members", record._id))?.data).toEqual(stored(record, "members"));
  });
});
