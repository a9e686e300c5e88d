import { Timestamp } from "firebase-admin/firestore";
import { FirestoreCursor } from "../../src/backup/firestore-cursor";
import type { FirestoreIndex, IndexEntry } from "../../src/backup/firestore-index";
import { diffResource, DuplicateRecordError, ResourceReconciler } from "../../src/backup/reconcile";
import { recordDocument, recordRef, syncInfo } from "../../src/mirror/record-document";
import { recordHash } from "../../src/mirror/record-hash";
import type { OfficeRndRecord } from "../../src/officernd/schemas";
import type { ResourcePage } from "../../src/officernd/types";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

const NOW = new Date("2026-11-25T10:00:00Z");
const id = (n: number) => n.toString(16).padStart(24, "0");
const company = (n: number, name = `Company ${n}`): OfficeRndRecord => ({
  _id: id(n),
  name,
  properties: { n },
});
const page = (n: number, records: OfficeRndRecord[], rejected = 0): ResourcePage => ({
  resource: "companies",
  page: n,
  records,
  rejected: Array.from({ length: rejected }, (_, index) => ({
    resource: "companies" as const,
    page: n,
    index,
    id: null,
    reason: "no _id",
  })),
  drift: [],
});

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("reconcile");
});
afterAll(() => fs.close());

/** The whole collection through the full run's cursor (pages of `pageSize`), as an index. */
async function indexThroughCursor(pageSize: number): Promise<FirestoreIndex> {
  const cursor = new FirestoreCursor(fs.db, "companies", { pageSize });
  const entries = new Map<string, IndexEntry>();
  for (let next = await cursor.peek(); next !== null; next = await cursor.peek()) {
    entries.set(next.id, next.entry);
    cursor.advance();
  }
  const removed = [...entries.values()].filter((e) => e.removed).length;
  return {
    resource: "companies",
    entries,
    live: entries.size - removed,
    removed,
    pages: cursor.pages,
  };
}

describe("the collection read in document-id order (FirestoreCursor)", () => {
  let index: FirestoreIndex;
  beforeAll(async () => {
    const batch = fs.db.batch();
    for (let n = 1; n <= 10; n += 1) {
      batch.set(
        recordRef(fs.db, "companies", id(n)),
        recordDocument(company(n), syncInfo("backup", NOW, n === 10)),
      );
    }
    // Corrupted: no _sync at all, and a _sync of the wrong shape.
    batch.set(recordRef(fs.db, "companies", id(11)), company(11));
    batch.set(recordRef(fs.db, "companies", id(12)), { ...company(12), _sync: "yesterday" });
    await batch.commit();
    index = await indexThroughCursor(3);
  });

  it("reads every document, page by page, into hashes and flags", () => {
    expect(index.entries.size).toBe(12);
    expect(index.pages).toBe(5);
    expect(index.live).toBe(11);
    expect(index.removed).toBe(1);
    expect(index.entries.get(id(3))?.hash).toBe(recordHash(company(3)));
    expect(index.entries.get(id(10))?.removed).toBe(true);
    expect(index.entries.get(id(11))?.syncValid).toBe(false);
    expect(index.entries.get(id(12))?.syncValid).toBe(false);
    expect(index.entries.get(id(1))?.updateTime).toBeInstanceOf(Timestamp);
  });

  it("keeps no documents: a hash, flags, the version and the field names", () => {
    const a = index.entries.get(id(1));
    expect(a?.fields).toEqual(["_id", "name", "properties"]);
    expect(Object.keys(a ?? {}).sort()).toEqual([
      "fields",
      "hash",
      "removed",
      "removedAt",
      "syncValid",
      "updateTime",
      "version",
    ]);
  });

  it("classifies missing, changed, orphaned and unchanged", () => {
    const diff = diffResource(index, [
      page(1, [company(1), company(2, "renamed"), company(3)]),
      // 4..9 gone from OfficeRnD; 10 (marked removed) is back; 11/12 have a bad _sync; 13 is new.
      page(2, [company(10), company(11), company(12), company(13)]),
    ]);
    expect(diff.unchanged).toBe(2);
    expect(diff.missing.map((m) => m.record._id)).toEqual([id(10), id(13)]);
    expect(diff.missing[0]?.existing?.removed).toBe(true);
    expect(diff.missing[1]?.existing).toBeNull();
    expect(diff.changed.map((c) => c.record._id)).toEqual([id(2), id(11), id(12)]);
    expect(diff.orphaned.map((o) => o.id)).toEqual([4, 5, 6, 7, 8, 9].map(id));
    expect(diff).toMatchObject({ firestore: 11, firestoreRemoved: 1, api: 7, rejected: 0 });
  });
});

describe("ResourceReconciler", () => {
  const entry = (record: OfficeRndRecord, removed = false) => ({
    hash: recordHash(record),
    removed,
    removedAt: removed ? NOW.getTime() : null,
    syncValid: true,
    version: null,
    updateTime: Timestamp.fromDate(NOW),
    fields: Object.keys(record),
  });
  const index = (entries: Array<[OfficeRndRecord, boolean]>): FirestoreIndex => ({
    resource: "companies",
    entries: new Map(entries.map(([r, removed]) => [r._id, entry(r, removed)])),
    live: entries.filter(([, removed]) => !removed).length,
    removed: entries.filter(([, removed]) => removed).length,
    pages: 1,
  });

  it("compares pages that arrive before the Firestore index, keeping only differences", () => {
    const reconciler = new ResourceReconciler("companies");
    reconciler.addPage(page(1, [company(1), company(2)]));
    expect(reconciler.indexReady).toBe(false);
    reconciler.setFirestoreIndex(
      index([
        [company(1), false],
        [company(3), false],
      ]),
    );
    reconciler.addPage(page(2, [company(4)], 2));
    const diff = reconciler.finish();
    expect(diff.unchanged).toBe(1);
    expect(diff.missing.map((m) => m.record._id)).toEqual([id(2), id(4)]);
    expect(diff.orphaned.map((o) => o.id)).toEqual([id(3)]);
    expect(diff.rejected).toBe(2);
    expect(diff.pages).toBe(2);
  });

  it("refuses a listing with the same id twice", () => {
    const reconciler = new ResourceReconciler("companies");
    reconciler.addPage(page(1, [company(1)]));
    expect(() => reconciler.addPage(page(2, [company(1)]))).toThrow(DuplicateRecordError);
  });

  it("with the delete policy, documents already marked removed are orphans too", () => {
    const idx = index([
      [company(1), true],
      [company(2), false],
    ]);
    expect(diffResource(idx, [page(1, [])], "mark").orphaned.map((o) => o.id)).toEqual([id(2)]);
    expect(diffResource(idx, [page(1, [])], "delete").orphaned.map((o) => o.id)).toEqual([
      id(1),
      id(2),
    ]);
  });
});

describe("ids", () => {
  it("an upper-case _id is the lower-case document's record (the webhooks store it so)", () => {
    const upper = { ...company(0xabc), _id: id(0xabc).toUpperCase() };
    const stored = { ...company(0xabc) };
    const reconciler = new ResourceReconciler("companies");
    reconciler.setFirestoreIndex({
      resource: "companies",
      entries: new Map([
        [
          stored._id,
          {
            hash: recordHash(stored),
            removed: false,
            removedAt: null,
            syncValid: true,
            version: null,
            updateTime: Timestamp.fromDate(NOW),
            fields: Object.keys(stored),
          },
        ],
      ]),
      live: 1,
      removed: 0,
      pages: 1,
    });
    reconciler.addPage(page(1, [upper]));
    const diff = reconciler.finish();
    expect(diff).toMatchObject({ missing: [], changed: [], orphaned: [], unchanged: 1 });
  });
});

describe("changes a webhook may have made (issue: races with webhooks)", () => {
  const stored = (record: OfficeRndRecord, updated: Date) => ({
    hash: recordHash(record),
    removed: false,
    removedAt: null,
    syncValid: true,
    version: typeof record.modifiedAt === "string" ? Date.parse(record.modifiedAt) : null,
    updateTime: Timestamp.fromDate(updated),
    fields: Object.keys(record),
  });
  const at = (iso: string) => ({ modifiedAt: iso });
  const listingStartedAt = NOW.getTime();
  const before = new Date(NOW.getTime() - 60_000);
  const after = new Date(NOW.getTime() + 1_000);

  function diff(
    records: OfficeRndRecord[],
    docs: Array<[OfficeRndRecord, Date]>,
    previousConflicts?: Set<string>,
  ) {
    const reconciler = new ResourceReconciler("companies", { listingStartedAt, previousConflicts });
    reconciler.setFirestoreIndex({
      resource: "companies",
      entries: new Map(docs.map(([r, updated]) => [r._id, stored(r, updated)])),
      live: docs.length,
      removed: 0,
      pages: 1,
    });
    reconciler.addPage(page(1, records));
    return reconciler.finish();
  }

  it("never puts an older OfficeRnD record over a newer stored one; the next run repairs it", () => {
    const older = { ...company(1, "Old"), ...at("2026-11-20T00:00:00.000Z") };
    const newer = { ...company(1, "New"), ...at("2026-11-21T00:00:00.000Z") };
    const first = diff([older], [[newer, before]]);
    expect(first.changed).toEqual([]);
    expect(first.deferred).toEqual([{ id: id(1), reason: "older_than_stored" }]);
    // Seen again by the next run: repaired from OfficeRnD (a corrupted future modifiedAt).
    const second = diff([older], [[newer, before]], new Set([id(1)]));
    expect(second.changed.map((c) => c.record._id)).toEqual([id(1)]);
    expect(second.deferred).toEqual([]);
  });

  it("a newer OfficeRnD record, or one without modifiedAt, is written as before", () => {
    const stale = { ...company(2, "Stale"), ...at("2026-11-20T00:00:00.000Z") };
    const fresh = { ...company(2, "Fresh"), ...at("2026-11-22T00:00:00.000Z") };
    expect(diff([fresh], [[stale, before]]).changed).toHaveLength(1);
    expect(diff([company(2, "No version")], [[stale, before]]).changed).toHaveLength(1);
  });

  it("never recreates a record marked removed after the listing began; the next run does", () => {
    // A webhook's removal marks the document (`_sync.removedAt`, content kept:
    // src/webhooks/apply.ts); OfficeRnD may have listed the record to this run before removing it.
    const listed = company(4, "Listed");
    const marked = (when: Date) => ({
      ...stored(listed, when),
      removed: true,
      removedAt: when.getTime(),
    });
    const reconcile = (mark: ReturnType<typeof marked>, previousConflicts?: Set<string>) => {
      const reconciler = new ResourceReconciler("companies", {
        listingStartedAt,
        previousConflicts,
      });
      reconciler.setFirestoreIndex({
        resource: "companies",
        entries: new Map([[listed._id, mark]]),
        live: 0,
        removed: 1,
        pages: 1,
      });
      reconciler.addPage(page(1, [listed]));
      return reconciler.finish();
    };
    const first = reconcile(marked(after));
    expect(first.missing).toEqual([]);
    expect(first.deferred).toEqual([{ id: id(4), reason: "removed_during_listing" }]);
    // Still listed by the next run: OfficeRnD has it after all, so it comes back.
    const second = reconcile(marked(after), new Set([id(4)]));
    expect(second.missing.map((m) => m.record._id)).toEqual([id(4)]);
    // Marked before the listing began (an earlier run's removal) and listed again: back at once.
    const back = reconcile(marked(before));
    expect(back.missing.map((m) => m.record._id)).toEqual([id(4)]);
    expect(back.deferred).toEqual([]);
  });

  it("never removes a document written after the listing began; the next run does", () => {
    const createdMidRun = company(3);
    const first = diff([], [[createdMidRun, after]]);
    expect(first.orphaned).toEqual([]);
    expect(first.deferred).toEqual([{ id: id(3), reason: "changed_during_listing" }]);
    expect(diff([], [[createdMidRun, before]]).orphaned.map((o) => o.id)).toEqual([id(3)]);
    const second = diff([], [[createdMidRun, after]], new Set([id(3)]));
    expect(second.orphaned.map((o) => o.id)).toEqual([id(3)]);
  });
});
