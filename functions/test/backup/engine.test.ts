import { FieldValue, Timestamp } from "firebase-admin/firestore";
import { backupMetadataSchema } from "../../src/backup/documents";
import { lockRef } from "../../src/backup/lock";
import {
  listBackupRuns,
  metadataRef,
  readBackupError,
  readBackupMetadata,
} from "../../src/backup/metadata";
import { recordHash } from "../../src/mirror/record-hash";
import { recordRef } from "../../src/mirror/record-document";
import { writeRecord } from "../../src/mirror/record-writes";
import { beginBackup, runBackup, shouldRetry, type BackupRunResult } from "../../src/backup/run";
import type { OfficeRndReader } from "../../src/officernd/types";
import { RESOURCE_NAMES, RESOURCES } from "../../src/officernd/resources";
import {
  asRecord,
  differences,
  readCollection,
  seedFirestore,
  startStack,
  updateTimes,
  type Stack,
} from "./helpers";
import { captureLogsPerTest } from "../officernd/helpers";

/**
 * Minimum OfficeRnD requests for a run: one per page of 50 per resource, one `/count` per
 * resource that has it (the completeness check), plus one token.
 */
function minimumRequests(stack: Stack): { requests: number; tokenRequests: number } {
  const counts = stack.sandbox.data.counts();
  const requests = RESOURCE_NAMES.reduce(
    (sum, r) => sum + Math.max(1, Math.ceil(counts[r] / 50)) + (RESOURCES[r].count ? 1 : 0),
    0,
  );
  return { requests, tokenRequests: 1 };
}

const logs = captureLogsPerTest();

let stack: Stack;
beforeEach(async () => {
  stack = await startStack("engine");
});
afterEach(() => stack.close());

const summaries = (runId: string) =>
  logs.entries.filter((e) => e.event === "backup_summary" && e.runId === runId);

async function inSyncCopy() {
  await seedFirestore(stack.db, stack.sandbox.data.snapshot());
}

describe("a run with Firestore already equal to OfficeRnD", () => {
  it("writes no record document and makes the minimum of API requests", async () => {
    await inSyncCopy();
    const before = await updateTimes(stack.db);
    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(result).toMatchObject({ status: "completed", written: 0, inSync: true, error: null });
    expect(result.missingRecords).toBe(0);
    expect(await updateTimes(stack.db)).toEqual(before);
    expect(result.api).toMatchObject(minimumRequests(stack));
    for (const r of RESOURCE_NAMES) {
      const n = stack.sandbox.data[r].size;
      expect(result.resources[r]).toMatchObject({ firestore: n, api: n, missing: 0, written: 0 });
    }
  });

  it("a record written by the webhook handler is equal to the backup's (no rewrite)", async () => {
    const now = new Date("2026-11-20T00:00:00Z");
    for (const r of RESOURCE_NAMES) {
      for (const raw of stack.sandbox.data[r].all()) {
        await writeRecord(stack.db, r, asRecord(r, raw), { source: "webhook", now });
      }
    }
    const before = await updateTimes(stack.db);
    const result = await runBackup(stack.deps(), { trigger: "manual" });
    expect(result).toMatchObject({ status: "completed", written: 0 });
    expect(await updateTimes(stack.db)).toEqual(before);
    const raw = stack.sandbox.data.members.all()[0]!;
    const stored = (await recordRef(stack.db, "members", raw._id).get()).data() ?? {};
    expect(recordHash(stored)).toBe(recordHash(asRecord("members", raw)));
    expect(stored._sync).toMatchObject({ source: "webhook" });
  });
});

describe("drift", () => {
  it("creates missing, repairs changed and corrupted, marks orphans: only those are written", async () => {
    await inSyncCopy();
    const { sandbox, db } = stack;
    const members = sandbox.data.members.all().map((r) => r._id);
    const companies = sandbox.data.companies.all().map((r) => r._id);
    const opportunities = sandbox.data.opportunities.all().map((r) => r._id);
    const col = (r: "members" | "companies" | "opportunities") =>
      db.collection(RESOURCES[r].collection);
    // Missing: documents deleted (missed created webhooks), and one marked removed but back.
    for (const id of members.slice(0, 3)) await col("members").doc(id).delete();
    // (Marked by an earlier run: a mark made during this run's listing is a webhook's removal.)
    await col("companies")
      .doc(companies[0]!)
      .update({ "_sync.removedAt": Timestamp.fromMillis(Date.now() - 3_600_000) });
    // Changed in OfficeRnD (missed updated webhooks).
    sandbox.data.companies.update(companies[1]!, { name: "Renamed Ltd ✓" });
    sandbox.data.companies.update(companies[2]!, { properties: { tier: "gold" } });
    // Corrupted in Firestore: wrong type, stray field, lost field, broken _sync, foreign value.
    await col("members").doc(members[10]!).update({ name: 42 });
    await col("members").doc(members[11]!).update({ strayField: "x" });
    await col("members").doc(members[12]!).update({ email: FieldValue.delete() });
    await col("members").doc(members[13]!).update({ _sync: "garbage" });
    await col("opportunities").doc(opportunities[5]!).update({ startDate: Timestamp.now() });
    // Orphans: gone from OfficeRnD (missed removed webhooks).
    sandbox.data.opportunities.remove(opportunities[0]!, opportunities[1]!);

    const before = await updateTimes(db);
    const result = await runBackup(stack.deps(), { trigger: "cli" });
    expect(result.error).toBeNull();
    expect(result.status).toBe("completed");
    expect(result.resources.members).toMatchObject({
      missing: 3,
      changed: 4,
      orphaned: 0,
      written: 7,
    });
    expect(result.resources.companies).toMatchObject({
      missing: 1,
      changed: 2,
      orphaned: 0,
      written: 3,
    });
    expect(result.resources.opportunities).toMatchObject({
      missing: 0,
      changed: 1,
      orphaned: 2,
      written: 3,
      removed: 2,
    });
    expect(result.missingRecords).toBe(4);
    expect(result.written).toBe(13);
    expect(await differences(db, sandbox)).toEqual([]);

    // Exactly the 13 differing documents changed; every other one kept its update time.
    const after = await updateTimes(db);
    const touched = [...after].filter(([key, time]) => before.get(key) !== time).map(([k]) => k);
    expect(touched).toHaveLength(13);
    // Orphans are kept, marked, with their content.
    const orphan = (await col("opportunities").doc(opportunities[0]!).get()).data() ?? {};
    expect(orphan._sync).toMatchObject({
      source: "backup",
      removedAt: expect.any(Timestamp) as unknown,
    });
    expect(orphan.name).toBeDefined();

    const again = await runBackup(stack.deps(), { trigger: "cli" });
    expect(again).toMatchObject({ status: "completed", written: 0, inSync: true });
    expect(again.resources.opportunities).toMatchObject({ firestore: 43, api: 43, orphaned: 0 });
  });

  it("deletes orphans with the delete policy", async () => {
    await inSyncCopy();
    const gone = stack.sandbox.data.members
      .all()
      .slice(0, 5)
      .map((r) => r._id);
    stack.sandbox.data.members.remove(...gone);
    const result = await runBackup(stack.deps({ config: { orphanPolicy: "delete" } }), {
      trigger: "cli",
    });
    expect(result.resources.members).toMatchObject({ orphaned: 5, removed: 5, written: 5 });
    const docs = await readCollection(stack.db, "members");
    expect(gone.filter((id) => docs.has(id))).toEqual([]);
    expect(docs.size).toBe(stack.sandbox.data.members.size);
  });
});

describe("failures", () => {
  it("a resource failing mid-read removes nothing, keeps the repairs it read, records the failure", async () => {
    await inSyncCopy();
    // Drift everywhere, so a careless engine would remove or write something wrong.
    const companies = stack.sandbox.data.companies.all().map((r) => r._id);
    await stack.db.collection("officeRndCompanies").doc(companies[0]!).delete();
    const opportunity = stack.sandbox.data.opportunities.ids()[0]!;
    stack.sandbox.data.opportunities.update(opportunity, { name: "changed" });
    const gone = stack.sandbox.data.members.ids()[0]!;
    stack.sandbox.data.members.remove(gone);
    stack.sandbox.setFault({ kind: "5xx", resource: "members", page: 2, status: 503 });
    const before = await updateTimes(stack.db);

    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "server", retryable: true, resource: "members" });
    expect(shouldRetry(result)).toBe(true);
    expect(result.resources.members.api).toBeNull();
    expect(result.resources.members.removed).toBe(0);
    // The member OfficeRnD no longer lists is not removed on the basis of a partial listing.
    const kept = await stack.db.collection("officeRndMembers").doc(gone).get();
    expect(kept.get("_sync.removedAt")).toBeNull();
    // Whatever was written is a repair read from OfficeRnD (streamed as pages arrived): only the
    // two drifted documents may have changed, and each now holds OfficeRnD's record.
    const after = await updateTimes(stack.db);
    const changed = [...after.keys()].filter((k) => after.get(k) !== before.get(k));
    expect(changed.length).toBe(result.written);
    for (const key of changed) {
      expect([`companies/${companies[0]}`, `opportunities/${opportunity}`]).toContain(key);
    }
    expect(
      (await differences(stack.db, stack.sandbox)).filter((d) =>
        changed.some((k) => d.startsWith(k)),
      ),
    ).toEqual([]);

    const meta = await readBackupMetadata(stack.db);
    expect(meta).toMatchObject({ status: "failed", runId: result.runId, apiMembers: null });
    expect(meta?.error).toMatch(/members: OfficeRnD read failed \(server\)/);
    const errorDoc = await readBackupError(stack.db, result.runId);
    expect(errorDoc).toMatchObject({
      functionName: "officeRndDataBackup",
      runId: result.runId,
      code: "server",
      trigger: "schedule",
      resource: "members",
    });
    expect(errorDoc?.time).toBeInstanceOf(Timestamp);
    expect(summaries(result.runId)).toHaveLength(1);
    expect(summaries(result.runId)[0]).toMatchObject({ status: "failed", errorCode: "server" });

    // No secret anywhere: logs, metadata, /errors.
    const secrets = [stack.sandbox.clientSecret, ...stack.sandbox.issuedTokens()];
    const stored = JSON.stringify([logs.entries, meta, errorDoc]);
    for (const secret of secrets) expect(stored).not.toContain(secret);

    // The fault clears: the next run converges.
    stack.sandbox.clearFaults();
    const next = await runBackup(stack.deps(), { trigger: "schedule" });
    // A run of its own, going on from what the failed one had listed (its position was kept):
    // the member removed and the repairs the failed run had not made.
    expect(next.runId).not.toBe(result.runId);
    expect(next).toMatchObject({ status: "completed", written: 3 - result.written });
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
    const latest = await readBackupMetadata(stack.db);
    expect(latest?.lastCompletedAt).toEqual(latest?.finishedAt);
  });

  it("shrink guard: no removals for a resource that shrank too much or came back empty", async () => {
    await inSyncCopy();
    const members = stack.sandbox.data.members.ids();
    stack.sandbox.data.members.remove(...members.slice(0, 40)); // 120 -> 80: a third
    stack.sandbox.data.members.update(members[50]!, { name: "still repaired" });
    stack.sandbox.data.companies.clear(); // 30 -> 0
    stack.sandbox.data.opportunities.remove(stack.sandbox.data.opportunities.ids()[0]!);

    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("shrink_guard");
    expect(result.error?.retryable).toBe(false);
    expect(shouldRetry(result)).toBe(false);
    expect(result.error?.message).toMatch(
      /members: removal guard: this run would remove 40 of 120 members documents \(33%/,
    );
    expect(result.error?.message).toMatch(/OfficeRnD listed no companies while Firestore has 30/);
    expect(result.resources.members).toMatchObject({
      guarded: true,
      orphaned: 40,
      removed: 0,
      written: 1,
    });
    expect(result.resources.companies).toMatchObject({ guarded: true, orphaned: 30, removed: 0 });
    // Within the guard, removals proceed.
    expect(result.resources.opportunities).toMatchObject({ guarded: false, removed: 1 });
    const docs = await readCollection(stack.db, "members");
    const marked = [...docs.values()].filter(
      (d) => (d.data._sync as { removedAt: unknown }).removedAt !== null,
    );
    expect(marked).toHaveLength(0);
    expect(docs.get(members[50]!)?.data.name).toBe("still repaired");
  });

  it("records the client rejected: no removals for that resource, run failed", async () => {
    await inSyncCopy();
    const gone = stack.sandbox.data.companies.ids()[5]!;
    stack.sandbox.data.companies.remove(gone);
    stack.sandbox.setFault({ kind: "bad-record", resource: "companies", count: 2 });
    const memberId = stack.sandbox.data.members.ids()[0]!;
    stack.sandbox.data.members.update(memberId, { name: "repaired anyway" });

    const result = await runBackup(stack.deps(), { trigger: "manual" });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "invalid_records", retryable: false });
    expect(result.resources.companies).toMatchObject({ rejected: 2, removed: 0 });
    expect(result.resources.companies.orphaned).toBeGreaterThanOrEqual(1);
    const doc = (await recordRef(stack.db, "companies", gone).get()).data() ?? {};
    expect((doc._sync as { removedAt: unknown }).removedAt).toBeNull();
    expect((await recordRef(stack.db, "members", memberId).get()).get("name")).toBe(
      "repaired anyway",
    );
  });

  it("a record Firestore cannot store fails alone, clearly", async () => {
    await inSyncCopy();
    const [target, other] = stack.sandbox.data.members.ids();
    stack.sandbox.data.members.update(target!, { matrix: [[1, 2], [3]] });
    stack.sandbox.data.members.update(other!, { name: "fine" });
    const result = await runBackup(stack.deps(), { trigger: "cli" });
    expect(result.error).toMatchObject({ code: "unstorable_record", retryable: false });
    expect(result.error?.message).toContain(target);
    expect(result.resources.members).toMatchObject({ changed: 2, unstorable: 1, written: 1 });
    expect((await recordRef(stack.db, "members", target!).get()).get("matrix")).toBeUndefined();
    expect((await recordRef(stack.db, "members", other!).get()).get("name")).toBe("fine");
  });
});

describe("concurrency and crashes", () => {
  it("a second run while one holds the lock reports busy and changes nothing", async () => {
    stack.sandbox.configure({ latencyMs: 150 });
    const first = await beginBackup(stack.deps(), { trigger: "schedule" });
    const second = await beginBackup(stack.deps(), { trigger: "manual" });
    expect(first.busy).toBe(false);
    expect(second).toMatchObject({ busy: true, heldBy: first.runId, heldByTrigger: "schedule" });
    if (!second.busy || first.busy) throw new Error("unreachable");
    expect(second.result).toMatchObject({
      status: "busy",
      written: 0,
      error: { code: "busy", retryable: false },
    });
    expect(shouldRetry(second.result)).toBe(false);
    expect(
      logs.entries.some((e) => e.event === "backup_lock_busy" && e.heldBy === first.runId),
    ).toBe(true);
    const result = await first.completion;
    expect(result.status).toBe("completed");
    const runs = await listBackupRuns(stack.db, 10);
    expect(runs.map((r) => r.runId)).toEqual([first.runId]);
    expect(summaries(second.runId)).toHaveLength(0);
    // The lock was released: the next run goes ahead.
    stack.sandbox.configure({ latencyMs: 0 });
    expect((await runBackup(stack.deps(), { trigger: "manual" })).status).toBe("completed");
  });

  it("a run killed mid-sync leaves a state the next run converges from", async () => {
    const killed = await runBackup(
      stack.deps({
        writeChunkSize: 20,
        hooks: {
          afterWriteChunk: (p) => {
            if (p.chunk === 1) throw new Error("process killed");
          },
        },
      }),
      { trigger: "schedule" },
    );
    expect(killed.status).toBe("failed");
    expect(killed.error).toMatchObject({ code: "firestore_write", retryable: true });
    // The chunks flushed before the kill (the resources write side by side), not the rest.
    const total = RESOURCE_NAMES.reduce((s, r) => s + stack.sandbox.data[r].size, 0);
    expect(killed.written).toBeGreaterThanOrEqual(20);
    expect(killed.written).toBeLessThan(total);

    // The killed run is recorded failed; the next run, a run of its own, goes on from its
    // saved position.
    const rerun = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(rerun.status).toBe("completed");
    expect(rerun.runId).not.toBe(killed.runId);
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
    expect((await runBackup(stack.deps(), { trigger: "schedule" })).written).toBe(0);
  });

  it("a lock left by a killed process blocks runs until it expires", async () => {
    const t0 = new Date();
    await lockRef(stack.db).set({
      runId: "killed-run",
      trigger: "schedule",
      acquiredAt: Timestamp.fromDate(t0),
      expiresAt: Timestamp.fromMillis(t0.getTime() + 15 * 60_000),
    });
    const blocked = await runBackup(stack.deps(), { trigger: "manual" });
    expect(blocked).toMatchObject({ status: "busy", heldBy: { runId: "killed-run" } });
    expect((await metadataRef(stack.db).get()).exists).toBe(false);
    const later = () => new Date(t0.getTime() + 16 * 60_000);
    const after = await runBackup(stack.deps({ now: later }), { trigger: "manual" });
    expect(after.status).toBe("completed");
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
    expect((await lockRef(stack.db).get()).exists).toBe(false);
  });

  it("a document a webhook changes during the sync is left to the webhook", async () => {
    const ids = stack.sandbox.data.companies.ids();
    const lastId = ids[ids.length - 1]!;
    // The webhook lands after the companies' page was merged (the document was absent then) and
    // before its last chunk of writes (chunks of 10: the last id is in the last one).
    const client = stack.reader();
    let delivered = false;
    const reader: OfficeRndReader = {
      async *pages(resource, options) {
        for await (const page of client.pages(resource, options)) {
          yield page;
          if (resource !== "companies" || delivered) continue;
          delivered = true;
          await writeRecord(
            stack.db,
            "companies",
            { _id: lastId, name: "from a webhook" },
            { source: "webhook", now: new Date() },
          );
        }
      },
      count: (resource, options) => client.count(resource, options),
      stats: () => client.stats(),
    };
    const result = await runBackup(stack.deps({ reader, writeChunkSize: 10 }), {
      trigger: "cli",
    });
    expect(delivered).toBe(true);
    expect(result).toMatchObject({ status: "completed", inSync: false });
    expect(result.resources.companies.conflicts).toBe(1);
    expect((await recordRef(stack.db, "companies", lastId).get()).get("name")).toBe(
      "from a webhook",
    );
  });
});

describe("what a run leaves behind", () => {
  it("metadata with the seed's fields and types, history, one summary and progress entries", async () => {
    await seedFirestore(stack.db, {
      ...stack.sandbox.data.snapshot(),
      members: stack.sandbox.data.members.all().slice(5),
    });
    const result: BackupRunResult = await runBackup(stack.deps(), { trigger: "schedule" });
    const snap = await metadataRef(stack.db).get();
    const data = snap.data() ?? {};
    // The seed's fields, exactly, with their types.
    expect(data.lastBackup).toBeInstanceOf(Timestamp);
    expect(data.updatedAt).toBeInstanceOf(Timestamp);
    expect(data.firestoreMembers).toBe(115);
    expect(data.apiMembers).toBe(120);
    expect(data.missingRecords).toBe(5);
    expect(data.status).toBe("completed");
    expect(data.error).toBeNull();
    // Ours.
    expect(data).toMatchObject({
      runId: result.runId,
      trigger: "schedule",
      inSync: true,
      errorCode: null,
      written: 5,
      resources: { members: { firestore: 115, api: 120, missing: 5, written: 5 } },
    });
    expect(typeof data.durationMs).toBe("number");
    expect(data.lastCompletedAt).toEqual(data.finishedAt);
    expect(backupMetadataSchema.safeParse(data).success).toBe(true);
    const history = await stack.db.doc(`${snap.ref.path}/runs/${result.runId}`).get();
    expect(history.data()).toEqual(data);

    const summary = summaries(result.runId);
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({
      severity: "INFO",
      status: "completed",
      missingRecords: 5,
      written: 5,
      resources: { members: { missing: 5, written: 5 } },
      api: { requests: minimumRequests(stack).requests, tokenRequests: 1 },
    });
    const phases = logs.entries.filter((e) => e.event === "backup_progress").map((e) => e.phase);
    expect(phases).toEqual(expect.arrayContaining(["listed", "sync"]));
  });
});
