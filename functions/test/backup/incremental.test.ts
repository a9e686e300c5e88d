import { Timestamp } from "firebase-admin/firestore";
import { backupMetadataSchema, incrementalStateDocSchema } from "../../src/backup/documents";
import { INCREMENTAL_OVERLAP_MS } from "../../src/backup/incremental-read";
import { takeBackupLease, leaseTiming } from "../../src/backup/lock";
import { metadataRef, readBackupError, readBackupRuns, runsRef } from "../../src/backup/metadata";
import { incrementalStateRef } from "../../src/backup/run-state";
import { runBackup, type BackupRunResult } from "../../src/backup/run";
import { recordRef } from "../../src/mirror/record-document";
import { RESOURCES } from "../../src/officernd/resources";
import type { OfficeRndReader } from "../../src/officernd/types";
import { differences, readCollection, startStack, type Stack } from "./helpers";
import { captureLogsPerTest } from "../officernd/helpers";

/**
 * The incremental sync against the sandbox and the Firestore emulator: after a full run, only the
 * records modified since each type's high-water mark are read and written through the same rules;
 * nothing is removed; types that cannot be listed by modifiedAt are left to the full backup and
 * the run says why; /officeRndMetadata/backup-metadata stays the last full backup's.
 */

const SEED = {
  members: 300,
  companies: 60,
  opportunities: 120,
  locations: 3,
  events: 20,
  bookings: 400,
};
/** OfficeRnD's answer to a parameter a listing does not take (live, docs/officernd-api.md). */
const REFUSED = "property modifiedAt[$gte] should not exist";

const logs = captureLogsPerTest();

let stack: Stack;
beforeEach(async () => {
  stack = await startStack("incremental", { seed: SEED });
});
afterEach(() => stack.close());

const full = () => runBackup(stack.deps(), { trigger: "cli" });
const incremental = (reader?: OfficeRndReader) =>
  runBackup(stack.deps(reader ? { reader } : {}), { trigger: "cli", mode: "incremental" });

/** Changes `n` records of a type in the sandbox (a new modifiedAt, as OfficeRnD sets it). */
function change(resource: "members" | "bookings" | "companies", n: number, offset = 0): string[] {
  const ids = stack.sandbox.data[resource].ids().slice(offset, offset + n);
  for (const id of ids) stack.sandbox.data[resource].update(id, { x_note: `changed ${id}` });
  return ids;
}

async function metadataUpdateTime(): Promise<string> {
  const snap = await metadataRef(stack.db).get();
  return `${snap.updateTime?.toMillis()}`;
}

function listRequests(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of stack.sandbox.stats.log) {
    if (entry.route === "list" && entry.resource)
      out[entry.resource] = (out[entry.resource] ?? 0) + 1;
  }
  return out;
}

async function fullThenCleanStats(): Promise<BackupRunResult> {
  const first = await full();
  expect(first).toMatchObject({ status: "completed", mode: "full" });
  stack.sandbox.resetStats();
  return first;
}

describe("an incremental run after a full run", () => {
  it("reads one page per type and applies exactly the five members and three bookings changed", async () => {
    const first = await fullThenCleanStats();
    const metadataBefore = await metadataUpdateTime();
    const members = change("members", 5, 10);
    const bookings = change("bookings", 3, 200);

    const result = await incremental();

    expect(result).toMatchObject({
      status: "completed",
      mode: "incremental",
      written: 8,
      inSync: true,
    });
    expect(result.resources.members).toMatchObject({ api: 5, changed: 5, written: 5, removed: 0 });
    expect(result.resources.bookings).toMatchObject({ api: 3, changed: 3, written: 3, removed: 0 });
    expect(result.resources.companies).toMatchObject({ api: 0, written: 0 });
    expect(result.resources.opportunities).toMatchObject({ api: 0, written: 0 });
    expect(result.resources.locations.api).toBeNull();
    expect(result.resources.events.api).toBeNull();
    // One page per type read, no /count, one token.
    expect(listRequests()).toEqual({ members: 1, companies: 1, opportunities: 1, bookings: 1 });
    expect(result.api).toMatchObject({ requests: 4, tokenRequests: 1 });
    const since = new Date(first.startedAt.getTime() - INCREMENTAL_OVERLAP_MS).toISOString();
    expect(result.coverage).toEqual({
      members: { read: "incremental", since, note: null },
      opportunities: { read: "incremental", since, note: null },
      companies: { read: "incremental", since, note: null },
      locations: {
        read: "no_modified_at",
        since: null,
        note: expect.stringContaining("no modifiedAt") as string,
      },
      events: {
        read: "no_modified_at",
        since: null,
        note: expect.stringContaining("no modifiedAt") as string,
      },
      bookings: { read: "incremental", since, note: null },
    });
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
    const docs = await readCollection(stack.db, "members");
    for (const id of members) expect(docs.get(id)?.data.x_note).toBe(`changed ${id}`);
    const bookingDocs = await readCollection(stack.db, "bookings");
    for (const id of bookings) expect(bookingDocs.get(id)?.data.x_note).toBe(`changed ${id}`);

    // backup-metadata still describes the full run; the history has both, each with its mode.
    expect(await metadataUpdateTime()).toBe(metadataBefore);
    const metadata = backupMetadataSchema.parse((await metadataRef(stack.db).get()).data());
    expect(metadata).toMatchObject({ runId: first.runId, mode: "full" });
    const history = await readBackupRuns(stack.db, 10, ["full", "incremental"]);
    expect(history.runs.map((r) => [r.runId, r.mode])).toEqual([
      [result.runId, "incremental"],
      [first.runId, "full"],
    ]);
    const stored = (await runsRef(stack.db, "incremental").doc(result.runId).get()).data();
    expect(backupMetadataSchema.parse(stored).coverage?.bookings?.read).toBe("incremental");
    // The summary is its own event, so the full backup's metrics never count it.
    const summary = logs.entries.find((e) => e.event === "incremental_summary");
    expect(summary).toMatchObject({ runId: result.runId, mode: "incremental", written: 8 });
    expect(
      logs.entries.filter((e) => e.event === "backup_summary" && e.runId === result.runId),
    ).toEqual([]);

    // The high-water marks moved to this run's start for the types it read.
    const state = incrementalStateDocSchema.parse(
      (await incrementalStateRef(stack.db).get()).data(),
    );
    expect(state.resources.members).toMatchObject({ runId: result.runId, mode: "incremental" });
    expect(state.resources.members?.highWaterMark.toMillis()).toBe(result.startedAt.getTime());
    expect(state.resources.locations).toMatchObject({ runId: first.runId, mode: "full" });
  });

  it("does not recreate a record a webhook marked removed after OfficeRnD listed it", async () => {
    await fullThenCleanStats();
    const [gone, ...others] = change("members", 3, 20);
    if (gone === undefined) throw new Error("no member");
    // The webhook's removal lands between OfficeRnD's answer and the run's Firestore read
    // (src/webhooks/apply.ts marks the document: `_sync.removedAt`, content kept).
    const base = stack.deps().reader;
    const reader: OfficeRndReader = {
      ...base,
      async *pages(resource, options) {
        for await (const page of base.pages(resource, options)) {
          if (resource === "members") {
            await recordRef(stack.db, "members", gone).update({
              "_sync.removedAt": Timestamp.now(),
              "_sync.source": "webhook",
            });
          }
          yield page;
        }
      },
    };
    const result = await incremental(reader);
    expect(result.error).toBeNull();
    expect(result).toMatchObject({ status: "completed", mode: "incremental" });
    expect(result.resources.members).toMatchObject({ api: 3, written: others.length });
    const doc = await recordRef(stack.db, "members", gone).get();
    expect(doc.get("_sync.removedAt")).not.toBeNull();
    expect(doc.get("x_note")).toBeUndefined();
    // The next full run (hours later: the mark is older than its listing), OfficeRnD still
    // listing the record, brings it back.
    await recordRef(stack.db, "members", gone).update({
      "_sync.removedAt": Timestamp.fromMillis(Date.now() - 3_600_000),
    });
    const next = await full();
    expect(next.status).toBe("completed");
    expect((await recordRef(stack.db, "members", gone).get()).get("_sync.removedAt")).toBeNull();
  });

  it("removes nothing, even when a record is gone from OfficeRnD", async () => {
    await fullThenCleanStats();
    const [gone] = stack.sandbox.data.members.ids();
    stack.sandbox.data.members.remove(gone ?? "");
    change("members", 1, 20);
    const result = await incremental();
    expect(result).toMatchObject({ status: "completed", written: 1 });
    expect(result.resources.members).toMatchObject({ orphaned: 0, removed: 0 });
    const doc = (await readCollection(stack.db, "members")).get(gone ?? "");
    expect((doc?.data._sync as { removedAt: unknown }).removedAt).toBeNull();
    // The next full run is the one that marks it removed.
    const next = await full();
    expect(next.resources.members).toMatchObject({ orphaned: 1, removed: 1 });
  });

  it("falls back to the full backup only for a type whose filter OfficeRnD refuses (400)", async () => {
    await fullThenCleanStats();
    stack.sandbox.setFault({ kind: "4xx", resource: "bookings", status: 400, message: REFUSED });
    change("members", 2);
    const [booking] = change("bookings", 1);
    const result = await incremental();
    expect(result).toMatchObject({ status: "completed", written: 2, error: null });
    expect(result.coverage?.bookings).toMatchObject({
      read: "filter_refused",
      note: expect.stringContaining("full backup only") as string,
    });
    expect(result.resources.bookings.api).toBeNull();
    expect(
      (await readCollection(stack.db, "bookings")).get(booking ?? "")?.data.x_note,
    ).toBeUndefined();
    const summary = logs.entries.find((e) => e.event === "incremental_summary");
    expect(summary?.message).toMatch(/full backup only: .*bookings \(filter_refused\)/);
    expect(
      logs.entries.some((e) => e.phase === "full_backup_only" && e.resource === "bookings"),
    ).toBe(true);
    // The refused type's high-water mark stays the full run's.
    const state = incrementalStateDocSchema.parse(
      (await incrementalStateRef(stack.db).get()).data(),
    );
    expect(state.resources.bookings?.mode).toBe("full");
  });

  it("falls back when OfficeRnD ignores the filter (older records come back)", async () => {
    await fullThenCleanStats();
    const client = stack.reader();
    // A reader that drops the filter for bookings: what OfficeRnD ignoring it would look like.
    const ignoring: OfficeRndReader = {
      pages: (resource, options = {}) =>
        client.pages(resource, resource === "bookings" ? { ...options, filters: [] } : options),
      count: (resource, options) => client.count(resource, options),
      stats: () => client.stats(),
    };
    change("members", 1);
    const result = await incremental(ignoring);
    expect(result).toMatchObject({ status: "completed", written: 1 });
    expect(result.coverage?.bookings?.read).toBe("filter_ignored");
    // It stopped at the first page instead of reading all 400 bookings.
    expect(listRequests().bookings).toBe(1);
  });

  it("fails like a full run on another OfficeRnD failure: nothing written, /errors, metadata kept", async () => {
    await fullThenCleanStats();
    const before = await metadataUpdateTime();
    stack.sandbox.setFault({ kind: "5xx", resource: "members", status: 503 });
    change("bookings", 2);
    const result = await incremental();
    expect(result).toMatchObject({ status: "failed", written: 0 });
    expect(result.error?.code).toBe("server");
    const error = await readBackupError(stack.db, result.runId, "incremental");
    expect(error).toMatchObject({ functionName: "officeRndIncrementalSync", code: "server" });
    expect(await metadataUpdateTime()).toBe(before);
  });
});

describe("an incremental run without high-water marks", () => {
  it("leaves every type to the full backup, which then sets the marks", async () => {
    const result = await incremental();
    expect(result).toMatchObject({ status: "completed", written: 0 });
    for (const name of ["members", "opportunities", "companies", "bookings"] as const) {
      expect(result.coverage?.[name]?.read).toBe("no_high_water_mark");
    }
    expect(stack.sandbox.stats.reads).toBe(0);
    expect((await metadataRef(stack.db).get()).exists).toBe(false);
    const first = await full();
    const state = incrementalStateDocSchema.parse(
      (await incrementalStateRef(stack.db).get()).data(),
    );
    for (const name of Object.keys(RESOURCES)) {
      expect(state.resources[name]?.highWaterMark).toEqual(Timestamp.fromDate(first.startedAt));
    }
  });
});

describe("the run lock", () => {
  it("is shared with the full backup: an incremental run finds it busy", async () => {
    const taken = await takeBackupLease(stack.db, {
      runId: "full-run-holding-the-lock",
      trigger: "schedule",
      now: () => new Date(),
      timing: leaseTiming(),
      stepTimeoutMs: 10_000,
    });
    expect(taken.acquired).toBe(true);
    const result = await incremental();
    expect(result).toMatchObject({ status: "busy", mode: "incremental" });
    expect(result.heldBy?.runId).toBe("full-run-holding-the-lock");
    expect(stack.sandbox.stats.reads).toBe(0);
  });
});
