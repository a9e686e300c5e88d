import { FieldValue, GeoPoint, Timestamp, type DocumentSnapshot } from "firebase-admin/firestore";
import { applyRecordWrites, type RecordWrite } from "../../src/mirror/bulk-writes";
import { canonicalRecord, recordHash, sameRecordContent } from "../../src/mirror/record-hash";
import { findUnstorable, UnstorableRecordError } from "../../src/mirror/storable";
import { markRecordRemoved, writeRecord } from "../../src/mirror/record-writes";
import { recordDocument, recordRef, syncInfo } from "../../src/mirror/record-document";
import type { OfficeRndRecord } from "../../src/officernd/schemas";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

const NOW = new Date("2026-11-25T10:00:00Z");

function versionOf(snap: DocumentSnapshot): Timestamp {
  if (!snap.updateTime) throw new Error(`${snap.ref.path} does not exist`);
  return snap.updateTime;
}
const id = (n: number) => n.toString(16).padStart(24, "0");

function member(n: number, extra: Record<string, unknown> = {}): OfficeRndRecord {
  return {
    _id: id(n),
    name: `Zoë ${n} 🚀`,
    email: null,
    properties: { nested: { tags: ["a", "b"], empty: {} }, score: 1.5 },
    "odd.key": true,
    ...extra,
  };
}

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("writer");
});
afterAll(() => fs.close());

describe("content hash", () => {
  it("treats left-out, empty and null custom properties as the same (live: omitted when none)", () => {
    const bare = { _id: id(1), name: "Ana" };
    expect(sameRecordContent(bare, { ...bare, properties: {} })).toBe(true);
    expect(sameRecordContent(bare, { ...bare, properties: null })).toBe(true);
    expect(sameRecordContent(bare, { ...bare, properties: { a: 1 } })).toBe(false);
    // Only at the top level, and only `properties`.
    expect(sameRecordContent(bare, { ...bare, tags: {} })).toBe(false);
    expect(sameRecordContent({ ...bare, x: {} }, { ...bare, x: { properties: {} } })).toBe(false);
  });

  it("ignores key order at every level and the _sync field", () => {
    const a = { _id: id(1), b: { y: 1, x: [1, { q: 2, p: 1 }] }, a: "s" };
    const b = {
      a: "s",
      b: { x: [1, { p: 1, q: 2 }], y: 1 },
      _id: id(1),
      _sync: syncInfo("webhook", NOW),
    };
    expect(recordHash(a)).toBe(recordHash(b));
    expect(sameRecordContent(a, b)).toBe(true);
  });

  it("sees every change of content, including array order and types", () => {
    const base = { _id: id(1), n: 1, list: [1, 2], s: "1" };
    const variants = [
      { ...base, n: 2 },
      { ...base, list: [2, 1] },
      { ...base, s: 1 },
      { ...base, n: "1" },
      { ...base, extra: null },
      { _id: id(1), n: 1, list: [1, 2] },
      { ...base, n: Number.NaN },
    ];
    const hashes = new Set([recordHash(base), ...variants.map((v) => recordHash(v))]);
    expect(hashes.size).toBe(variants.length + 1);
  });

  it("never equates a Firestore-only value with a JSON value", () => {
    const json = { _id: id(1), at: "2026-11-25T10:00:00.000Z", geo: null, n: null };
    expect(recordHash({ ...json, at: Timestamp.fromDate(NOW) })).not.toBe(recordHash(json));
    expect(recordHash({ ...json, geo: new GeoPoint(1, 2) })).not.toBe(recordHash(json));
    expect(recordHash({ ...json, n: Number.NaN })).not.toBe(recordHash(json));
    expect(canonicalRecord({ a: Buffer.from("x") })).toContain("!bytes(");
  });

  it("is the same for a record and the document Firestore gives back", async () => {
    const record = member(7, { big: 2 ** 60, neg: -0, float: 0.1 + 0.2, unicode: "Ångström ✓" });
    const ref = recordRef(fs.db, "members", record._id);
    await ref.set(recordDocument(record, syncInfo("backup", NOW)));
    const stored = (await ref.get()).data() ?? {};
    expect(recordHash(stored)).toBe(recordHash(record));
  });
});

describe("what Firestore cannot store", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["array in array", { list: [[1]] }, /array directly inside an array/],
    ["deep array in array", { p: { list: [{ ok: [1] }, [2]] } }, /\.p\.list\[1\]/],
    ["reserved field", { _sync: { x: 1 } }, /reserved for sync metadata/],
    ["empty key", { p: { "": 1 } }, /empty field names/],
    ["dunder key", { __name__: 1 }, /reserved/],
    ["lone surrogate", { s: "a\ud800b" }, /not valid UTF/],
    ["too large", { blob: "x".repeat(1_100_000) }, /limit is 1048576/],
  ];
  it.each(cases)("refuses %s", (_name, extra, reason) => {
    expect(findUnstorable("members", member(1, extra))).toMatch(reason);
  });

  it("accepts what the sandbox and OfficeRnD send", () => {
    expect(findUnstorable("members", member(1, { list: [{ a: [1] }], s: "😀" }))).toBeNull();
  });

  it("agrees with Firestore on the nesting limit", async () => {
    const nest = (levels: number) => {
      let v: unknown = 1;
      for (let i = 0; i < levels; i += 1) v = { n: v };
      return v;
    };
    const outcomes: boolean[] = [];
    for (const levels of [18, 19, 20, 21]) {
      const record = member(levels, { deep: nest(levels) });
      const ref = recordRef(fs.db, "members", record._id);
      const accepted = await (async () =>
        ref.set(recordDocument(record, syncInfo("backup", NOW))))()
        .then(() => true)
        .catch(() => false);
      expect(findUnstorable("members", record) === null).toBe(accepted);
      outcomes.push(accepted);
    }
    expect(outcomes).toContain(true);
    expect(outcomes).toContain(false);
  });

  it("webhook writes refuse such a record before touching Firestore", async () => {
    const good = member(40);
    await writeRecord(fs.db, "members", good, { source: "webhook", now: NOW });
    const bad = { ...good, name: "changed", list: [[1]] };
    await expect(
      writeRecord(fs.db, "members", bad, { source: "webhook", now: NOW }),
    ).rejects.toBeInstanceOf(UnstorableRecordError);
    expect((await recordRef(fs.db, "members", good._id).get()).get("name")).toBe(good.name);
  });
});

describe("webhook writes", () => {
  it("store the record as sent plus _sync, and mark removals", async () => {
    const record = member(50);
    await writeRecord(fs.db, "members", record, { source: "webhook", now: NOW });
    const ref = recordRef(fs.db, "members", record._id);
    const data = (await ref.get()).data() ?? {};
    expect(data._sync).toEqual({
      syncedAt: Timestamp.fromDate(NOW),
      source: "webhook",
      removedAt: null,
    });
    expect(data["odd.key"]).toBe(true);
    expect(
      await markRecordRemoved(fs.db, "members", record._id, { source: "webhook", now: NOW }),
    ).toBe(true);
    expect((await ref.get()).get("_sync.removedAt")).toEqual(Timestamp.fromDate(NOW));
    expect((await ref.get()).get("name")).toBe(record.name);
    expect(
      await markRecordRemoved(fs.db, "members", id(9999), { source: "webhook", now: NOW }),
    ).toBe(false);
  });
});

describe("applyRecordWrites", () => {
  it("creates, replaces (dropping stray fields), marks and deletes, conditionally", async () => {
    const col = fs.db.collection("officeRndCompanies");
    const stale = { _id: id(101), name: "old", "stray.field": 1, stray: { x: 1 }, toString: "x" };
    await col.doc(id(101)).set(stale);
    await col.doc(id(102)).set({ _id: id(102), name: "orphan" });
    await col.doc(id(103)).set({ _id: id(103), name: "orphan 2" });
    const snaps = await fs.db.getAll(col.doc(id(101)), col.doc(id(102)), col.doc(id(103)));
    const base = (i: number) => ({
      updateTime: versionOf(snaps[i]!),
      fields: Object.keys(snaps[i]!.data() ?? {}),
    });
    const replacement: OfficeRndRecord = {
      _id: id(101),
      name: "new",
      description: null,
      constructor: "a field OfficeRnD could send",
    };
    const writes: RecordWrite[] = [
      { op: "create", resource: "companies", record: { _id: id(100), name: "fresh" } },
      { op: "replace", resource: "companies", record: replacement, base: base(0) },
      { op: "markRemoved", resource: "companies", id: id(102), base: base(1) },
      { op: "delete", resource: "companies", id: id(103), base: base(2) },
    ];
    const outcome = await applyRecordWrites(fs.db, writes, { source: "backup", now: NOW });
    expect(outcome.written).toBe(4);
    expect(outcome.byResource.companies).toMatchObject({ written: 4, removed: 2, conflicts: 0 });
    const replaced = (await col.doc(id(101)).get()).data() ?? {};
    expect(Object.keys(replaced).sort()).toEqual([
      "_id",
      "_sync",
      "constructor",
      "description",
      "name",
    ]);
    expect(recordHash(replaced)).toBe(recordHash(replacement));
    expect((await col.doc(id(102)).get()).get("_sync.removedAt")).toEqual(Timestamp.fromDate(NOW));
    expect((await col.doc(id(102)).get()).get("name")).toBe("orphan");
    expect((await col.doc(id(103)).get()).exists).toBe(false);
    expect((await col.doc(id(100)).get()).get("_sync.source")).toBe("backup");

    // The same plan again: every document changed since the plan's reads -> all conflicts.
    const again = await applyRecordWrites(fs.db, writes, { source: "backup", now: NOW });
    expect(again.written).toBe(0);
    expect(again.conflicts.map((c) => c.op).sort()).toEqual([
      "create",
      "delete",
      "markRemoved",
      "replace",
    ]);
    expect((await col.doc(id(101)).get()).get("name")).toBe("new");
  });

  it("leaves a document alone when a webhook changed it after the read", async () => {
    const ref = recordRef(fs.db, "opportunities", id(200));
    await ref.set({ _id: id(200), name: "v1" });
    const read = await ref.get();
    await writeRecord(
      fs.db,
      "opportunities",
      { _id: id(200), name: "v3 (webhook)" },
      {
        source: "webhook",
        now: NOW,
      },
    );
    const outcome = await applyRecordWrites(
      fs.db,
      [
        {
          op: "replace",
          resource: "opportunities",
          record: { _id: id(200), name: "v2 (backup)" },
          base: { updateTime: versionOf(read), fields: ["_id", "name"] },
        },
      ],
      { source: "backup", now: NOW },
    );
    expect(outcome.byResource.opportunities.conflicts).toBe(1);
    expect((await ref.get()).get("name")).toBe("v3 (webhook)");
  });

  it("refuses an unstorable record without failing the others", async () => {
    const writes: RecordWrite[] = [
      { op: "create", resource: "members", record: member(300, { bad: [[1]] }) },
      { op: "create", resource: "members", record: member(301) },
    ];
    const outcome = await applyRecordWrites(fs.db, writes, { source: "backup", now: NOW });
    expect(outcome.written).toBe(1);
    expect(outcome.unstorable).toEqual([
      expect.objectContaining({ id: id(300), reason: expect.stringMatching(/array/) as string }),
    ]);
    expect((await recordRef(fs.db, "members", id(300)).get()).exists).toBe(false);
    expect((await recordRef(fs.db, "members", id(301)).get()).exists).toBe(true);
  });

  it("works in chunks and stops cleanly when told to", async () => {
    const writes: RecordWrite[] = Array.from({ length: 5 }, (_, i) => ({
      op: "create" as const,
      resource: "members" as const,
      record: member(400 + i),
    }));
    const seen: number[] = [];
    const outcome = await applyRecordWrites(fs.db, writes, {
      source: "backup",
      now: NOW,
      chunkSize: 2,
      onChunk: (p) => {
        seen.push(p.done);
        if (p.chunk === 1) throw new Error("killed");
      },
    });
    expect(seen).toEqual([2]);
    expect(outcome.written).toBe(2);
    expect(outcome.notAttempted).toBe(3);
    expect(outcome.stoppedBy).toEqual(new Error("killed"));
    const exists = await Promise.all(
      writes.map(async (_w, i) => (await recordRef(fs.db, "members", id(400 + i)).get()).exists),
    );
    expect(exists).toEqual([true, true, false, false, false]);
  });

  it("replaces a corrupted document (stray Timestamp field) with the record", async () => {
    const ref = recordRef(fs.db, "members", id(500));
    await ref.set({ _id: id(500), a: 1, gone: FieldValue.serverTimestamp() });
    const snap = await ref.get();
    const outcome = await applyRecordWrites(
      fs.db,
      [
        {
          op: "replace",
          resource: "members",
          record: { _id: id(500), a: 1 },
          base: { updateTime: versionOf(snap), fields: ["_id", "a", "gone"] },
        },
      ],
      { source: "backup", now: NOW },
    );
    expect(outcome.written).toBe(1);
    expect(Object.keys((await ref.get()).data() ?? {}).sort()).toEqual(["_id", "_sync", "a"]);
  });
});
