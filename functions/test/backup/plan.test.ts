import { Timestamp } from "firebase-admin/firestore";
import type { IndexEntry } from "../../src/backup/firestore-index";
import { planSync, removalGuard } from "../../src/backup/plan";
import type { ResourceRead } from "../../src/backup/resource-read";
import type { ResourceDiff } from "../../src/backup/reconcile";
import { OfficeRndError } from "../../src/officernd/types";
import { RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";

/** The plan is pure: reads in, writes and held-back removals out. No Firestore, no sandbox. */

const CONFIG = { orphanPolicy: "mark", shrinkGuard: 0.2, maxRemovals: 500 } as const;
const id = (n: number) => n.toString(16).padStart(24, "0");
const entry: IndexEntry = {
  hash: "h",
  removed: false,
  removedAt: null,
  syncValid: true,
  version: null,
  updateTime: Timestamp.fromMillis(0),
  fields: ["_id"],
};

function diff(resource: ResourceName, shape: Partial<ResourceDiff> = {}): ResourceDiff {
  return {
    resource,
    firestore: 10,
    firestoreRemoved: 0,
    api: 10,
    rejected: 0,
    pages: 1,
    unchanged: 10,
    missing: [],
    changed: [],
    orphaned: [],
    deferred: [],
    drifted: 0,
    driftExamples: [],
    ...shape,
  };
}

function read(resource: ResourceName, shape: Partial<ResourceRead> = {}): ResourceRead {
  const d = shape.diff === undefined ? diff(resource) : shape.diff;
  return {
    resource,
    index: { resource, entries: new Map(), live: d?.firestore ?? 0, removed: 0, pages: 1 },
    indexError: null,
    diff: d,
    apiError: null,
    cancelled: false,
    received: d?.api ?? 0,
    rejected: d?.rejected ?? 0,
    unverified: null,
    ...shape,
  };
}

/** Every resource in sync except the one given. */
function reads(...special: ResourceRead[]): ResourceRead[] {
  return RESOURCE_NAMES.map((r) => special.find((s) => s.resource === r) ?? read(r));
}

const missing = { record: { _id: id(1) }, existing: null };
const changed = { record: { _id: id(2), name: "new" }, existing: entry };
const orphan = { id: id(3), existing: entry };

describe("planSync", () => {
  it("creates the missing, replaces the changed and marks the orphaned", () => {
    const plan = planSync(
      reads(
        read("members", {
          diff: diff("members", {
            missing: [missing],
            changed: [changed],
            orphaned: [orphan],
            api: 10,
          }),
        }),
      ),
      CONFIG,
    );
    expect(plan.writes.map((w) => w.op)).toEqual(["create", "replace", "markRemoved"]);
    expect(plan.problems).toEqual([]);
    expect(plan.readFailed).toBe(false);
    expect(plan.resources.members).toMatchObject({ missing: 1, changed: 1, orphaned: 1, api: 10 });
  });

  it("deletes the orphaned with the delete policy", () => {
    const plan = planSync(
      reads(read("companies", { diff: diff("companies", { orphaned: [orphan] }) })),
      { ...CONFIG, orphanPolicy: "delete" },
    );
    expect(plan.writes).toEqual([{ op: "delete", resource: "companies", id: id(3), base: entry }]);
  });

  it("writes nothing at all when any read failed, and names the failure", () => {
    const failure = new OfficeRndError("server", "OfficeRnD opportunities page 2: 503", {
      resource: "opportunities",
    });
    const plan = planSync(
      reads(
        read("members", { diff: diff("members", { missing: [missing] }) }),
        read("opportunities", { apiError: failure, diff: null }),
        read("companies", { cancelled: true, diff: null }),
      ),
      CONFIG,
    );
    expect(plan.readFailed).toBe(true);
    expect(plan.writes).toEqual([]);
    expect(plan.problems).toEqual([
      expect.objectContaining({ code: "server", retryable: true, resource: "opportunities" }),
    ]);
    expect(plan.resources.opportunities.api).toBeNull();
    expect(plan.resources.companies.error).toMatch(/not read completely/);
  });

  it.each([
    [
      "shrink guard",
      { diff: diff("members", { firestore: 4, api: 3, orphaned: [orphan] }) },
      "shrink_guard",
      false,
    ],
    [
      "rejected records",
      { diff: diff("members", { rejected: 1, orphaned: [orphan] }), rejected: 1 },
      "invalid_records",
      false,
    ],
    [
      "a short listing (/count)",
      {
        diff: diff("members", { orphaned: [orphan] }),
        unverified: "OfficeRnD's /count says 11 but the listing returned 10",
      },
      "incomplete_listing",
      true,
    ],
  ] as const)(
    "holds back removals on %s, still applying creates and updates",
    (_name, shape, code, retryable) => {
      const withWrites = { ...shape.diff, missing: [missing], changed: [changed] };
      const plan = planSync(reads(read("members", { ...shape, diff: withWrites })), CONFIG);
      expect(plan.writes.map((w) => w.op)).toEqual(["create", "replace"]);
      expect(plan.problems).toEqual([
        expect.objectContaining({ code, retryable, resource: "members" }),
      ]);
      expect(plan.resources.members.error).toMatch(/1 removal\(s\) held back/);
    },
  );

  it("an empty listing against documents trips the guard", () => {
    const plan = planSync(
      reads(
        read("companies", {
          diff: diff("companies", { api: 0, firestore: 4, orphaned: [orphan] }),
        }),
      ),
      CONFIG,
    );
    expect(plan.resources.companies.guarded).toBe(true);
    expect(plan.problems[0]?.message).toMatch(
      /OfficeRnD listed no companies while Firestore has 4/,
    );
    expect(plan.writes).toEqual([]);
  });
});

describe("removalGuard (issue: a guard on removals, not on the net count)", () => {
  const orphans = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ id: id(100 + i), existing: entry }));

  it("trips on the share of documents a run would remove, even when the count stays level", () => {
    // 25 of 100 members replaced upstream in one day: the net count is unchanged.
    const replaced = diff("members", { firestore: 100, api: 100, orphaned: orphans(25) });
    expect(removalGuard(replaced, CONFIG)).toMatch(/remove 25 of 100 members documents \(25%/);
    expect(
      removalGuard(diff("members", { firestore: 100, api: 100, orphaned: orphans(20) }), CONFIG),
    ).toBeNull();
  });

  it("trips above the absolute cap, and on an empty listing", () => {
    const many = diff("members", { firestore: 10_000, api: 9_400, orphaned: orphans(600) });
    expect(removalGuard(many, CONFIG)).toMatch(
      /600 members documents, more than the 500 BACKUP_MAX_REMOVALS/,
    );
    const empty = diff("members", { firestore: 3, api: 0, orphaned: orphans(3) });
    expect(removalGuard(empty, CONFIG)).toMatch(/listed no members while Firestore has 3/);
  });

  it("switching mark to delete does not delete every marked document at once", () => {
    // 90 marked removed earlier, now all orphans under the delete policy.
    const marked = diff("companies", {
      firestore: 10,
      firestoreRemoved: 90,
      api: 10,
      orphaned: orphans(90),
    });
    expect(removalGuard(marked, { ...CONFIG, orphanPolicy: "delete" })).toMatch(/remove 90 of 100/);
  });

  it("holds back removals but applies creates and updates when it trips", () => {
    const tripped = diff("members", {
      firestore: 100,
      api: 100,
      orphaned: orphans(30),
      missing: [missing],
    });
    const plan = planSync(reads(read("members", { diff: tripped })), CONFIG);
    expect(plan.writes.map((w) => w.op)).toEqual(["create"]);
    expect(plan.resources.members.guarded).toBe(true);
    expect(plan.problems).toEqual([
      expect.objectContaining({ code: "shrink_guard", retryable: false }),
    ]);
  });
});

describe("drift and deferred differences", () => {
  it("reports drift as a warning, not a problem, and counts deferred ids as conflicts", () => {
    const plan = planSync(
      reads(
        read("members", {
          diff: diff("members", {
            drifted: 2,
            driftExamples: [`${id(7)} (properties: expected record, received array)`],
            deferred: [{ id: id(8), reason: "older_than_stored" }],
          }),
        }),
      ),
      CONFIG,
    );
    expect(plan.problems).toEqual([]);
    expect(plan.resources.members).toMatchObject({ drifted: 2, conflicts: 1, error: null });
    expect(plan.resources.members.warning).toMatch(
      /2 record\(s\) differ .* stored as OfficeRnD sent them/,
    );
    expect(plan.deferred.members).toEqual([id(8)]);
  });
});
