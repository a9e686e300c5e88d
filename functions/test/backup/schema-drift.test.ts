import { Timestamp } from "firebase-admin/firestore";
import { backupMetadataSchema, schemaFieldsDocSchema } from "../../src/backup/documents";
import type { ObservedFields } from "../../src/backup/field-observer";
import { metadataRef, runsRef } from "../../src/backup/metadata";
import { runBackup } from "../../src/backup/run";
import { schemaFieldsRef } from "../../src/backup/run-state";
import { compareFieldSets } from "../../src/backup/schema-drift";
import type { ResourceName } from "../../src/officernd/resources";
import { getBackupStatus } from "../../src/status";
import { captureLogsPerTest } from "../officernd/helpers";
import { startStack, type Stack } from "./helpers";

/**
 * Schema drift: per type, the top-level fields that appeared in or disappeared from its records
 * since the previous run, in the run's result, its history document, its summary log entry and
 * the status response. Against the sandbox (records gain and lose fields between runs) and the
 * Firestore emulator; the comparison itself is pure and tested on its own below.
 */

const logs = captureLogsPerTest();

let stack: Stack;
beforeEach(async () => {
  stack = await startStack("schema-drift", {
    seed: { members: 80, companies: 20, opportunities: 30, locations: 3, events: 10, bookings: 60 },
  });
});
afterEach(() => stack.close());

const run = (mode: "full" | "incremental" = "full") =>
  runBackup(stack.deps(), { trigger: "cli", mode });

/** Removes a top-level field from every record of a type (as if OfficeRnD dropped it). */
function dropField(resource: ResourceName, field: string): void {
  const store = stack.sandbox.data[resource];
  const records = store.all().map((r) => {
    const { [field]: _dropped, ...rest } = r;
    return { ...rest, _id: r._id };
  });
  store.set(records);
}

describe("schema drift between runs", () => {
  it("first run: a baseline, nothing reported; then fields that appeared and disappeared", async () => {
    const first = await run();
    expect(first.status).toBe("completed");
    expect(first.schemaDrift).toEqual({});
    const baseline = schemaFieldsDocSchema.parse((await schemaFieldsRef(stack.db).get()).data());
    expect(baseline.resources.members?.fields).toContain("email");
    expect(baseline.resources.members?.lastChange).toBeNull();

    for (const id of stack.sandbox.data.members.ids().slice(0, 3)) {
      stack.sandbox.data.members.update(id, { x_badge: "gold" }, new Date("2026-01-01T00:00:00Z"));
    }
    dropField("companies", "x_legacyCode");
    const second = await run();
    expect(second.status).toBe("completed");
    expect(second.schemaDrift).toEqual({
      members: { added: ["x_badge"], removed: [] },
      companies: { added: [], removed: ["x_legacyCode"] },
    });
    // The history document, the metadata (a full run) and the summary entry carry it.
    const history = backupMetadataSchema.parse(
      (await runsRef(stack.db).doc(second.runId).get()).data(),
    );
    expect(history.schemaDrift).toEqual(second.schemaDrift);
    const metadata = backupMetadataSchema.parse((await metadataRef(stack.db).get()).data());
    expect(metadata.schemaDrift).toEqual(second.schemaDrift);
    const summary = logs.entries.find(
      (e) => e.event === "backup_summary" && e.runId === second.runId,
    );
    expect(summary?.schemaDrift).toEqual(second.schemaDrift);

    // The status keeps the latest change per type after a run that finds none.
    const third = await run();
    expect(third.schemaDrift).toEqual({});
    const status = await getBackupStatus(stack.db, { missingAlertThreshold: 10 });
    expect(status.schemaDrift.members.lastChange).toMatchObject({
      runId: second.runId,
      mode: "full",
      added: ["x_badge"],
      removed: [],
    });
    expect(status.schemaDrift.companies.lastChange?.removed).toEqual(["x_legacyCode"]);
    expect(status.schemaDrift.members.fields).toBe(
      (baseline.resources.members?.fields.length ?? 0) + 1,
    );
    expect(status.schemaDrift.locations.lastChange).toBeNull();
  });

  it("an incremental run tells fields that appeared (never that one disappeared), once", async () => {
    await run();
    const [id] = stack.sandbox.data.members.ids();
    stack.sandbox.data.members.update(id ?? "", { x_floor: 3 });
    const incremental = await run("incremental");
    expect(incremental.schemaDrift).toEqual({ members: { added: ["x_floor"], removed: [] } });
    const stored = await runsRef(stack.db, "incremental").doc(incremental.runId).get();
    expect(backupMetadataSchema.parse(stored.data()).schemaDrift).toEqual(incremental.schemaDrift);
    // The next full run knows the field already: not told again.
    const next = await run();
    expect(next.schemaDrift).toEqual({});
  });
});

describe("compareFieldSets (pure)", () => {
  const observed = (
    fields: Partial<Record<ResourceName, string[]>>,
    complete: ResourceName[] = Object.keys(fields) as ResourceName[],
  ): ObservedFields => ({
    fields: new Map(Object.entries(fields).map(([k, v]) => [k as ResourceName, new Set(v)])),
    complete: new Set(complete),
    records: new Map(Object.entries(fields).map(([k, v]) => [k as ResourceName, v.length])),
  });
  const stored = (fields: string[]) => ({
    fields,
    updatedAt: Timestamp.now(),
    runId: "r",
    lastChange: null,
  });

  it("a listing cut short or empty changes nothing", () => {
    expect(
      compareFieldSets(
        { members: stored(["_id", "a"]) },
        observed({ members: ["_id"] }, []),
        "full",
      ),
    ).toEqual([]);
    expect(
      compareFieldSets({ members: stored(["_id", "a"]) }, observed({ members: [] }), "full"),
    ).toEqual([]);
  });

  it("a baseline stores the set and reports nothing", () => {
    expect(compareFieldSets({}, observed({ events: ["_id", "start"] }), "full")).toEqual([
      { resource: "events", fields: ["_id", "start"], drift: null },
    ]);
  });

  it("incremental: appeared only, and the stored set grows", () => {
    expect(
      compareFieldSets(
        { members: stored(["_id", "a", "b"]) },
        observed({ members: ["_id", "c"] }),
        "incremental",
      ),
    ).toEqual([
      { resource: "members", fields: ["_id", "a", "b", "c"], drift: { added: ["c"], removed: [] } },
    ]);
  });
});
