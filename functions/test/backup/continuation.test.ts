import { setTimeout as sleep } from "node:timers/promises";
import { Timestamp } from "firebase-admin/firestore";
import { loadCheckpoint, type SavedRun } from "../../src/backup/checkpoint";
import { listBackupRuns, readBackupMetadata } from "../../src/backup/metadata";
import { lockRef } from "../../src/backup/lock";
import { beginBackup, runBackup, type BackupRunResult } from "../../src/backup/run";
import { RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";
import { baseEnv } from "../cli/run-cli";
import { spawnCli, type CliProcess } from "../reliability/harness";
import { differences, startStack, type Stack } from "./helpers";

/**
 * A full run that reaches its time budget saves where it is and ends as `continuing`; the next
 * attempt (a Cloud Tasks continuation in production, the next CLI `run` here) goes on from the
 * checkpoint with the same run id, until the run ends: one history document, one final metadata
 * update, and OfficeRnD read about once, not once per attempt.
 */

let stack: Stack;
afterEach(() => stack.close());

const PAGE = 50;

/** List requests the sandbox answered, per resource. */
function listReads(s: Stack): Record<ResourceName, number> {
  const out = Object.fromEntries(RESOURCE_NAMES.map((r) => [r, 0])) as Record<ResourceName, number>;
  for (const entry of s.sandbox.stats.log) {
    if (entry.route === "list" && entry.resource !== null) out[entry.resource] += 1;
  }
  return out;
}

/**
 * The CLI's environment for the stack: reads not throttled, and members in one cursor chain (its
 * position is the type's own; a split run killed and resumed, each range from its own position:
 * test/backup/split-listing.test.ts).
 */
function oneChainEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return baseEnv({
    ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
    GCLOUD_PROJECT: stack.fs.projectId,
    BACKUP_LISTING_RANGES: "1",
    ...extra,
  });
}

/**
 * SIGKILLs `cli` (as OOM or a function's timeout kill it) once the checkpoint it saves satisfies
 * `saved` (looked at every 50 ms, for 20 s at most); returns the checkpoint last seen.
 */
async function killOnceSaved(
  cli: CliProcess,
  saved: (run: SavedRun | null) => boolean,
): Promise<SavedRun | null> {
  let last = await loadCheckpoint(stack.db, 5_000);
  for (let i = 0; i < 400 && !saved(last); i += 1) {
    await sleep(50);
    last = await loadCheckpoint(stack.db, 5_000);
  }
  cli.child.kill("SIGKILL");
  expect((await cli.done).signal).toBe("SIGKILL");
  return last;
}

it("a budgeted run continues three times or more and converges, one run id and one history entry", async () => {
  stack = await startStack("continue", {
    // 30 pages of members at 150 ms: at most ~7 in a 1 s attempt, so at least five attempts.
    latencyMs: 150,
    seed: { members: 1_500, companies: 60, opportunities: 120, bookings: 200 },
  });
  const attempts: BackupRunResult[] = [];
  for (let i = 0; i < 30; i += 1) {
    const result = await runBackup(stack.deps({ timeBudgetMs: 1_000, writeChunkSize: 50 }), {
      trigger: "schedule",
    });
    attempts.push(result);
    if (result.status !== "continuing") break;
    // Between attempts the checkpoint says where the run stands.
    expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.runId).toBe(attempts[0]?.runId);
  }
  const last = attempts.at(-1);
  expect(attempts.length).toBeGreaterThanOrEqual(4);
  expect(last?.status).toBe("completed");
  expect(new Set(attempts.map((a) => a.runId)).size).toBe(1);
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  // The result is the whole run's: every member counted once, whichever attempt wrote it.
  expect(last?.resources.members).toMatchObject({ api: 1_500, missing: 1_500, written: 1_500 });
  // One history entry and one final metadata update, for the whole run.
  const runs = await listBackupRuns(stack.db, 10);
  expect(runs.map((r) => r.runId)).toEqual([last?.runId]);
  expect(await readBackupMetadata(stack.db)).toMatchObject({
    runId: last?.runId,
    status: "completed",
    apiMembers: 1_500,
  });
  expect(await loadCheckpoint(stack.db, 5_000)).toBeNull();
  // OfficeRnD read about once: the minimum, plus at most one page per resource per hand-over
  // (the page in flight, or prefetched, when the budget ran out).
  const reads = listReads(stack);
  const continuations = attempts.length - 1;
  for (const resource of RESOURCE_NAMES) {
    const records = stack.sandbox.data[resource].all().length;
    const minimum = Math.max(1, Math.ceil(records / PAGE));
    expect(reads[resource]).toBeGreaterThanOrEqual(minimum);
    expect(reads[resource]).toBeLessThanOrEqual(minimum + continuations);
  }
}, 120_000);

/**
 * A run killed mid-way (SIGKILL, as OOM or a function's timeout kill it) records nothing, but its
 * checkpoint was saved after each chunk of writes: the next run (here the CLI again; in
 * production the task queue's redelivery, or Cloud Scheduler's retry) takes over its lease and
 * goes on with the same run id from there, not from zero.
 */
it("a run killed mid-listing resumes from its last checkpoint, not from zero", async () => {
  stack = await startStack("resume-killed", {
    latencyMs: 100,
    seed: { members: 3_000, companies: 40, opportunities: 70 },
  });
  const env = oneChainEnv();
  // Killed once the members' position was saved after chunks of 500 writes.
  const saved = await killOnceSaved(
    spawnCli(["run", "--json"], env),
    (run) => (run?.progress.get("members")?.written ?? 0) >= 500,
  );
  const members = saved?.progress.get("members");
  expect(members?.written).toBeGreaterThanOrEqual(500);
  expect(members?.listed).toBe(false);
  expect(await readBackupMetadata(stack.db)).toBeNull(); // killed: nothing recorded

  // Renewed within the last 3 s, the dead lease still looks live (busy at once); after that the
  // next run watches it lapse and takes it over (test/backup/lock.test.ts).
  const renewedAt = (await lockRef(stack.db).get()).get("renewedAt") as Timestamp;
  await sleep(Math.max(0, renewedAt.toMillis() + 3_100 - Date.now()));
  stack.sandbox.resetStats();
  const next = await spawnCli(["run", "--json"], env).done;
  expect(next.result).toMatchObject({ status: "completed", error: null });
  expect(next.code).toBe(0);
  expect(next.result).toMatchObject({ status: "completed", runId: saved?.checkpoint.runId });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  // From the saved position: the pages after it (and the few the killed run read past it), not
  // the 30 pages of the whole listing.
  const remaining = Math.ceil((3_000 - (members?.api ?? 0)) / PAGE);
  expect(listReads(stack).members).toBeLessThanOrEqual(remaining + 2);
  expect(listReads(stack).members).toBeLessThan(60);
}, 120_000);

/**
 * The same, one hand-over later: a continuation (the attempt after a budget stop) killed mid-way.
 * The third attempt goes on from the continuation's own last save, not from the first attempt's
 * hand-over and not from zero: same run id, one history entry, OfficeRnD read about once.
 */
it("a run killed mid-continuation resumes from the continuation's checkpoint", async () => {
  const MEMBERS = 6_000;
  stack = await startStack("resume-killed-continuation", {
    latencyMs: 100,
    seed: { members: MEMBERS, companies: 40, opportunities: 70 },
  });
  // Attempt 1 stops at its 3 s budget (120 pages at 100 ms take 12 s) and hands over.
  const first = await spawnCli(["run", "--json"], oneChainEnv({ BACKUP_TIME_BUDGET_SECONDS: "3" }))
    .done;
  expect(first.code).toBe(75);
  expect(first.result).toMatchObject({ status: "continuing" });
  const handedOver = await loadCheckpoint(stack.db, 5_000);
  expect(handedOver?.checkpoint.continuations).toBe(1);
  const handedOverApi = handedOver?.progress.get("members")?.api ?? 0;
  expect(handedOverApi).toBeGreaterThan(0);
  expect(handedOverApi).toBeLessThan(MEMBERS);

  // Attempt 2, the continuation (no budget): killed once it has saved a position of its own,
  // four chunks of 500 writes past the hand-over.
  // (At least three pages past it: a save every 10 s could also come a page or two after it.)
  const ownSave = (run: SavedRun | null) =>
    (run?.progress.get("members")?.api ?? 0) >= handedOverApi + 3 * PAGE;
  const saved = await killOnceSaved(spawnCli(["run", "--json"], oneChainEnv()), ownSave);
  expect(ownSave(saved)).toBe(true);
  expect(saved?.checkpoint).toMatchObject({ runId: first.result?.runId, continuations: 1 });
  const savedApi = saved?.progress.get("members")?.api ?? 0;
  expect(savedApi).toBeLessThan(MEMBERS); // killed before the listing ended
  expect(await listBackupRuns(stack.db, 10)).toEqual([
    expect.objectContaining({ runId: first.result?.runId, status: "continuing" }),
  ]);

  // Attempt 3, once the dead lease has expired: the same run, from attempt 2's save. A killed
  // attempt's lease is watched until it lapses, 15 s after its last renewal (the test above and
  // test/backup/lock.test.ts wait for that); here it is expired at once.
  await lockRef(stack.db).update({ expiresAt: Timestamp.fromMillis(Date.now() - 1_000) });
  stack.sandbox.resetStats();
  const third = await spawnCli(["run", "--json"], oneChainEnv()).done;
  expect(third.code).toBe(0);
  expect(third.result).toMatchObject({ status: "completed", runId: first.result?.runId });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  const runs = await listBackupRuns(stack.db, 10);
  expect(runs.map((r) => [r.runId, r.status])).toEqual([[first.result?.runId, "completed"]]);
  expect(await loadCheckpoint(stack.db, 5_000)).toBeNull();
  // The pages after attempt 2's save (and the one it resumes on), not those after the hand-over.
  const fromSave = Math.ceil((MEMBERS - savedApi) / PAGE);
  const fromHandOver = Math.ceil((MEMBERS - handedOverApi) / PAGE);
  expect(listReads(stack).members).toBeLessThanOrEqual(fromSave + 2);
  expect(listReads(stack).members).toBeLessThan(fromHandOver);
}, 120_000);

/**
 * A lease lost mid-listing (taken over) stops the attempt's writes; the position it saves must
 * not pass writes it never made, or the run that goes on would skip those records for good.
 */
it("an attempt that lost its lease saves no position past writes it did not make", async () => {
  stack = await startStack("lease-lost-position", {
    latencyMs: 60,
    seed: { members: 1_500, companies: 20, opportunities: 20 },
  });
  const start = await beginBackup(stack.deps({ lockTtlMs: 3_000, writeChunkSize: 50 }), {
    trigger: "schedule",
  });
  if (start.busy) throw new Error("the lease was taken");
  // Someone else takes the lease over while the members are being listed.
  await sleep(1_500);
  await lockRef(stack.db).update({ token: "taken-over-by-another-attempt" });
  const lost = await start.completion;
  expect(lost).toMatchObject({ status: "failed", error: { code: "lock_lost" } });
  // The checkpoint stays (not this attempt's to end); the next run goes on from it.
  const saved = await loadCheckpoint(stack.db, 5_000);
  expect(saved?.checkpoint.runId).toBe(lost.runId);
  const members = saved?.progress.get("members");
  // What the saved position says was read was also written (or is still to be read).
  expect((members?.written ?? 0) + (members?.unchanged ?? 0)).toBe(members?.api ?? 0);
  await lockRef(stack.db).delete();
  const next = await runBackup(stack.deps(), { trigger: "schedule" });
  expect(next).toMatchObject({ status: "completed", runId: lost.runId });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
}, 120_000);

/**
 * A run whose removals were held back on something passing (OfficeRnD's `/count` above its
 * listing) hands its position to the next run; the held resource is read again from the start
 * there, so the next run decides its removals afresh instead of holding them back for ever.
 */
it("after removals held back by a short listing, the next run reads that resource again and converges", async () => {
  stack = await startStack("held-then-seeded");
  expect((await runBackup(stack.deps(), { trigger: "schedule" })).status).toBe("completed");
  const gone = stack.sandbox.data.members.ids()[0] ?? "";
  stack.sandbox.data.members.remove(gone);
  // Page 2 ends the listing although page 3 follows: 20 of 119 members unlisted.
  stack.sandbox.setFault({ kind: "cut-short", resource: "members", page: 2 });
  const held = await runBackup(stack.deps(), { trigger: "schedule" });
  expect(held).toMatchObject({ status: "failed", error: { code: "incomplete_listing" } });
  expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.endedFailed).toBe(true);
  stack.sandbox.clearFaults();
  const next = await runBackup(stack.deps(), { trigger: "schedule" });
  expect(next).toMatchObject({ status: "completed", error: null });
  expect(next.runId).not.toBe(held.runId);
  expect(next.resources.members).toMatchObject({ api: 119, removed: 1 });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  expect(await loadCheckpoint(stack.db, 5_000)).toBeNull();
}, 60_000);
