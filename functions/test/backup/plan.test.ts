import { Timestamp } from "firebase-admin/firestore";
import type { IndexEntry } from "../../src/backup/firestore-index";
import { planSync } from "../../src/backup/plan";
import type { ResourceRead } from "../../src/backup/read-phase";
import type { ResourceDiff } from "../../src/backup/reconcile";
import { OfficeRndError } from "../../src/officernd/types";
import { RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";

/** The plan is pure: reads in, writes and held-back removals out. No Firestore, no sandbox. */

const CONFIG = { orphanPolicy: "mark", shrinkGuard: 0.2 } as const;
const id = (n: number) => n.toString(16).padStart(24, "0");
const entry: IndexEntry = {
  hash: "h",
  removed: false,
  syncValid: true,
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
      { diff: diff("members", { firestore: 10, api: 5, orphaned: [orphan] }) },
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
