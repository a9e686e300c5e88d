import { readBackupError, readBackupMetadata } from "../../src/backup/metadata";
import { loadCheckpoint } from "../../src/backup/checkpoint";
import { runBackup } from "../../src/backup/run";
import { setLogSink } from "../../src/logs";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { readCollection, seedFirestore, startStack, updateTimes, type Stack } from "./helpers";

/**
 * Whole runs against the sandbox's live-API behaviour (docs/officernd-api.md): what a run does
 * when OfficeRnD's answers are the awkward ones the live API gives.
 */

beforeAll(() => setLogSink(() => undefined));
afterAll(() => setLogSink(null));

let stack: Stack;
afterEach(() => stack.close());

describe("a run on the live API's behaviour", () => {
  it("a listing cut short without a cursor: /count catches it, removals are held back", async () => {
    stack = await startStack("live-short", {
      seed: { members: 160, companies: 10, opportunities: 10 },
    });
    await seedFirestore(stack.db, stack.sandbox.data.snapshot());
    const changed = stack.sandbox.data.members.all()[3]?._id ?? "";
    stack.sandbox.data.members.update(changed, { name: "Changed upstream" });
    // Page 2 of members ends the listing early: 100 of 160 listed, the rest look orphaned.
    stack.sandbox.setFault({ kind: "cut-short", resource: "members", page: 2 });
    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "incomplete_listing", retryable: true });
    expect(result.error?.message).toMatch(/\/count says 160 but the listing returned 100/);
    expect(result.resources.members).toMatchObject({ api: 100, orphaned: 60, removed: 0 });
    // The update OfficeRnD listed is still applied; nothing was removed.
    const docs = await readCollection(stack.db, "members");
    expect(docs.get(changed)?.data.name).toBe("Changed upstream");
    const removed = [...docs.values()].filter(
      (d) => (d.data._sync as { removedAt: unknown } | undefined)?.removedAt != null,
    );
    expect(removed).toHaveLength(0);
    expect(docs.size).toBe(160);

    // The next run (a complete listing) converges.
    stack.sandbox.clearFaults();
    const next = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(next).toMatchObject({ status: "completed", inSync: true, written: 0 });
  });

  it("a wrong org slug fails in seconds, naming OFFICERND_ORG_SLUG, not retryable", async () => {
    stack = await startStack("live-slug");
    await seedFirestore(stack.db, stack.sandbox.data.snapshot());
    const reads = stack.sandbox.stats.reads;
    const deps = stack.deps();
    const started = Date.now();
    const result = await runBackup(
      { ...deps, reader: stack.readerFor({ orgSlug: "acme-typo" }) },
      { trigger: "schedule" },
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "org_not_found", retryable: false });
    expect(result.error?.message).toMatch(/"acme-typo".*OFFICERND_ORG_SLUG/);
    // One request per resource (read side by side), none retried.
    expect(stack.sandbox.stats.reads - reads).toBeLessThanOrEqual(RESOURCE_NAMES.length);
    expect((await readBackupError(stack.db, result.runId))?.code).toBe("org_not_found");
  });

  it("a spent daily quota fails in seconds, naming its reset, and changes nothing", async () => {
    stack = await startStack("live-quota");
    await seedFirestore(stack.db, stack.sandbox.data.snapshot());
    const missing = stack.sandbox.data.members.all()[0]?._id ?? "";
    await stack.db.collection("officeRndMembers").doc(missing).delete();
    const before = await updateTimes(stack.db);
    stack.sandbox.exhaustDailyQuota();
    const started = Date.now();
    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "quota_exhausted", retryable: false });
    expect(result.error?.message).toMatch(/daily read quota is spent.*resets at \d{4}-/);
    expect(result.written).toBe(0);
    expect(await updateTimes(stack.db)).toEqual(before);
    expect(result.api.budget?.day).toMatchObject({ remaining: 0 });
    // Its position stays: the next run (after the reset) goes on from it, so an organization
    // needing more than one day's quota still finishes (docs/scaling.md).
    const saved = await loadCheckpoint(stack.db, 5_000);
    expect(saved?.checkpoint).toMatchObject({ runId: result.runId, endedFailed: true });
  });

  it("a member whose properties are left out equals one stored with empty properties", async () => {
    stack = await startStack("live-properties", { seed: { members: 120 } });
    const snapshot = stack.sandbox.data.snapshot();
    // Live: OfficeRnD omits `properties` when a member has none; a webhook or an older listing
    // may have stored `{}` or null. Neither is drift.
    const omitted = snapshot.members.filter((m) => !("properties" in m));
    expect(omitted.length).toBeGreaterThan(3);
    const stored = snapshot.members.map((m, i) =>
      "properties" in m ? m : { ...m, properties: i % 2 === 0 ? {} : null },
    );
    await seedFirestore(stack.db, { ...snapshot, members: stored });
    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(result).toMatchObject({ status: "completed", inSync: true, written: 0 });
    expect(result.resources.members.changed).toBe(0);
  });

  it("reports the read budget the run used and what was left, in the metadata too", async () => {
    stack = await startStack("live-budget", { readsPerMinute: 400, readsPerDay: 5_000 });
    const result = await runBackup(stack.deps(), { trigger: "schedule" });
    expect(result.status).toBe("completed");
    const used = result.api.requests;
    expect(result.api.budget).toMatchObject({
      used,
      minute: { limit: 400, remaining: 400 - used },
      day: { limit: 5_000, remaining: 5_000 - used },
    });
    expect(result.api.budget?.day?.resetAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const metadata = await readBackupMetadata(stack.db);
    expect(metadata?.api?.budget).toEqual(result.api.budget);
  });
});
