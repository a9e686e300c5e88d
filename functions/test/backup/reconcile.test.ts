import { Timestamp } from "firebase-admin/firestore";
import { readFirestoreIndex, type FirestoreIndex } from "../../src/backup/firestore-index";
import {
  diffResource,
  DuplicateRecordError,
  ResourceReconciler,
  shrinkGuardTripped,
} from "../../src/backup/reconcile";
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

describe("readFirestoreIndex", () => {
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
    index = await readFirestoreIndex(fs.db, "companies", { pageSize: 3 });
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

  it("keeps no documents, and one copy of each field list", () => {
    const a = index.entries.get(id(1));
    const b = index.entries.get(id(9));
    expect(a?.fields).toEqual(["_id", "name", "properties"]);
    expect(a?.fields).toBe(b?.fields);
    expect(Object.keys(a ?? {}).sort()).toEqual([
      "fields",
      "hash",
      "removed",
      "syncValid",
      "updateTime",
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
    syncValid: true,
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

describe("shrink guard", () => {
  it.each([
    [100, 100, false],
    [100, 80, false],
    [100, 79, true],
    [100, 0, true],
    [0, 0, false],
    [10, 50, false],
  ])("firestore %i, api %i -> %s (20%%)", (firestore, api, tripped) => {
    expect(shrinkGuardTripped({ firestore, api }, 0.2)).toBe(tripped);
  });
});
