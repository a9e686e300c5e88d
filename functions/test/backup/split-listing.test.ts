import { setTimeout as sleep } from "node:timers/promises";
import type { Timestamp } from "firebase-admin/firestore";
import { awkwardMembers } from "../../dev/sandbox";
import { lockRef } from "../../src/backup/lock";
import { baseEnv } from "../cli/run-cli";
import { spawnCli } from "../reliability/harness";
import { loadCheckpoint } from "../../src/backup/checkpoint";
import { runBackup, type BackupRunResult } from "../../src/backup/run";
import { RESOURCES } from "../../src/officernd/resources";
import type { LogEntry } from "../../src/logs";
import { captureLogsPerTest } from "../officernd/helpers";
import { addUndatedMember, differences, seedFirestore, startStack, type Stack } from "./helpers";

/**
 * A big type that accepts a createdAt range and has /count (members) is listed as createdAt
 * ranges side by side (src/backup/split-listing.ts), against the real sandbox (createdAt range
 * filters on members, unknown parameters 400, docs/officernd-api.md) and the real emulator. It
 * must end in the same mirror as one cursor chain would, never lose or duplicate a record whose
 * createdAt disagrees with its id time, and never remove anything when the ranges' sum falls
 * short of OfficeRnD's /count (records without createdAt are in no range).
 */

let stack: Stack;
const logs = captureLogsPerTest();
afterEach(() => stack.close());

const PAGE = 50;
const SIZES = {
  members: 4_000,
  companies: 20,
  opportunities: 30,
  locations: 0,
  events: 0,
  bookings: 0,
};
const RESOURCES_USED = ["members", "companies", "opportunities"] as const;

function progress(phase: string): LogEntry[] {
  return logs.entries.filter(
    (e) => e.event === "backup_progress" && e.phase === phase && e.resource === "members",
  );
}

function memberListReads(s: Stack): number {
  return s.sandbox.stats.log.filter((e) => e.route === "list" && e.resource === "members").length;
}

async function documents(s: Stack): Promise<number> {
  return (await s.db.collection(RESOURCES.members.collection).count().get()).data().count;
}

it("a split listing of members converges to the same mirror as one chain, first run and next", async () => {
  stack = await startStack("split-converges", { seed: SIZES });
  const deps = () => stack.deps({ resources: RESOURCES_USED });
  // First run (empty mirror): /count and the oldest page tell the split; 4 ranges.
  const first = await runBackup(deps(), { trigger: "schedule" });
  expect(first).toMatchObject({ status: "completed", error: null });
  expect(progress("split")).toEqual([expect.objectContaining({ ranges: 4 })]);
  expect(first.resources.members).toMatchObject({ api: 4_000, missing: 4_000, written: 4_000 });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  // The reads: the minimum, plus the oldest page and one partial last page per range.
  const minimum = Math.ceil(4_000 / PAGE);
  expect(memberListReads(stack)).toBeGreaterThan(minimum);
  expect(memberListReads(stack)).toBeLessThanOrEqual(minimum + 1 + 4);

  // Drift, then a run split at the mirror's quantiles: only the differences are written.
  const ids = stack.sandbox.data.members.ids();
  stack.sandbox.data.members.remove(ids[5]!, ids[2_500]!);
  stack.sandbox.data.members.update(ids[3_900]!, { name: "Renamed ✓" });
  logs.entries.length = 0;
  stack.sandbox.resetStats();
  const next = await runBackup(deps(), { trigger: "schedule" });
  expect(next).toMatchObject({ status: "completed", error: null });
  expect(progress("split")).toEqual([expect.objectContaining({ ranges: 4, reason: "mirror" })]);
  expect(next.resources.members).toMatchObject({
    api: 3_998,
    firestore: 4_000,
    changed: 1,
    orphaned: 2,
    removed: 2,
    written: 3,
  });
  // No OfficeRnD read to plan it: the minimum and one partial page per range.
  expect(memberListReads(stack)).toBeLessThanOrEqual(Math.ceil(3_998 / PAGE) + 4);
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
}, 120_000);

it("records whose createdAt disagrees with their id time are neither duplicated nor removed", async () => {
  stack = await startStack("split-strays", { seed: SIZES });
  const template = stack.sandbox.data.members.all()[0]!;
  const { imported } = awkwardMembers(template, { imported: 40 });
  stack.sandbox.data.members.add(...imported);
  // A previous backup holds all of them but two of the imported ones (to be created).
  const stored = stack.sandbox.data.members.all().filter((r) => r._id !== imported[0]!._id);
  await seedFirestore(stack.db, { members: stored.filter((r) => r._id !== imported[1]!._id) });
  const result = await runBackup(stack.deps({ resources: RESOURCES_USED }), {
    trigger: "schedule",
  });
  expect(result).toMatchObject({ status: "completed", error: null });
  expect(progress("one_chain")).toEqual([]);
  expect(progress("split")).toEqual([expect.objectContaining({ reason: "mirror" })]);
  const listed = progress("ranges_listed")[0];
  expect(listed).toMatchObject({ strays: expect.any(Number) as number });
  expect(Number(listed?.strays)).toBeGreaterThan(0);
  // The strays' documents were not listed by the ranges of their ids: not orphans.
  expect(result.resources.members).toMatchObject({
    api: 4_040,
    missing: 2,
    orphaned: 0,
    removed: 0,
    written: 2,
  });
  expect(await documents(stack)).toBe(4_040);
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
}, 120_000);

it("a record without createdAt holds removals back; the next run lists members in one chain and converges", async () => {
  stack = await startStack("split-short", { seed: SIZES });
  const noCreatedAt = await addUndatedMember(stack);
  // Gone from OfficeRnD: an orphan to remove, but only on a verified listing.
  const gone = stack.sandbox.data.members.ids()[100]!;
  stack.sandbox.data.members.remove(gone);

  const held = await runBackup(stack.deps({ resources: RESOURCES_USED }), { trigger: "schedule" });
  expect(held).toMatchObject({ status: "failed", error: { code: "incomplete_listing" } });
  expect(held.error?.message).toMatch(/createdAt ranges/);
  expect(held.error?.message).toMatch(/one chain/);
  expect(held.resources.members).toMatchObject({ api: 3_999, removed: 0 });
  // Nothing lost: the record without createdAt and the orphan are still there, unmarked.
  for (const id of [noCreatedAt, gone]) {
    const doc = await stack.db.collection(RESOURCES.members.collection).doc(id).get();
    expect(doc.get("_sync.removedAt")).toBeNull();
  }

  logs.entries.length = 0;
  const next = await runBackup(stack.deps({ resources: RESOURCES_USED }), { trigger: "schedule" });
  expect(next).toMatchObject({ status: "completed", error: null });
  expect(progress("one_chain")).toEqual([
    expect.objectContaining({ reason: expect.stringMatching(/^one chain until/) as string }),
  ]);
  expect(progress("split")).toEqual([]);
  expect(next.resources.members).toMatchObject({ api: 4_000, removed: 1 });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
}, 120_000);

it("a budgeted split run continues, resumes every range, and converges within the read bound", async () => {
  stack = await startStack("split-continues", { latencyMs: 60, seed: SIZES });
  const attempts: BackupRunResult[] = [];
  for (let i = 0; i < 40; i += 1) {
    const result = await runBackup(
      stack.deps({ resources: RESOURCES_USED, timeBudgetMs: 1_000, writeChunkSize: 100 }),
      { trigger: "schedule" },
    );
    attempts.push(result);
    if (result.status !== "continuing") break;
    const saved = await loadCheckpoint(stack.db, 5_000);
    // Every range keeps its own position; the type its split points.
    expect(saved?.progress.get("members")?.split?.points).toHaveLength(3);
  }
  const last = attempts.at(-1);
  expect(attempts.length).toBeGreaterThanOrEqual(3);
  expect(last).toMatchObject({ status: "completed", error: null });
  expect(new Set(attempts.map((a) => a.runId)).size).toBe(1);
  expect(last?.resources.members).toMatchObject({ api: 4_000, missing: 4_000, written: 4_000 });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  expect(await loadCheckpoint(stack.db, 5_000)).toBeNull();
  // The minimum, the oldest page, and per range one partial last page and one page per hand-over.
  const continuations = attempts.length - 1;
  const minimum = Math.ceil(4_000 / PAGE);
  expect(memberListReads(stack)).toBeLessThanOrEqual(minimum + 1 + 4 * (1 + continuations));
}, 180_000);

/**
 * A split run killed mid-listing (SIGKILL, as OOM or a function's timeout kill it) resumes every
 * range from its own saved position: the same run id, the same split points, and only the pages
 * after those positions read again.
 */
it("a split run killed mid-listing resumes every range from its position, not from zero", async () => {
  // 3,000 members a range: each saves its position after 4 chunks of 500 writes, mid-range
  // (with 1,000 a range the first position saved would be the range's end).
  const members = 12_000;
  stack = await startStack("split-killed", { latencyMs: 100, seed: { ...SIZES, members } });
  const env = baseEnv({
    ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
    GCLOUD_PROJECT: stack.fs.projectId,
    BACKUP_RESOURCES: RESOURCES_USED.join(","),
  });
  const first = spawnCli(["run", "--json"], env);
  const written = (saved: Awaited<ReturnType<typeof loadCheckpoint>>) =>
    [...(saved?.ranges.get("members")?.values() ?? [])].reduce((n, r) => n + r.written, 0);
  let saved = await loadCheckpoint(stack.db, 5_000);
  const unlisted = (s: typeof saved) =>
    [...(s?.ranges.get("members")?.values() ?? [])].some((r) => !r.listed);
  for (let i = 0; i < 400 && !(written(saved) >= 2_000 && unlisted(saved)); i += 1) {
    await sleep(50);
    saved = await loadCheckpoint(stack.db, 5_000);
  }
  first.child.kill("SIGKILL");
  expect((await first.done).signal).toBe("SIGKILL");
  const points = saved?.progress.get("members")?.split?.points;
  expect(points).toHaveLength(3);
  const savedApi = [...(saved?.ranges.get("members")?.values() ?? [])].reduce(
    (n, r) => n + r.api,
    0,
  );
  expect(savedApi).toBeGreaterThanOrEqual(2_000);
  expect(savedApi).toBeLessThan(members);

  const renewedAt = (await lockRef(stack.db).get()).get("renewedAt") as Timestamp;
  await sleep(Math.max(0, renewedAt.toMillis() + 3_100 - Date.now()));
  stack.sandbox.resetStats();
  logs.entries.length = 0;
  const next = await spawnCli(["run", "--json"], env).done;
  expect(next.code).toBe(0);
  expect(next.result).toMatchObject({ status: "completed", runId: saved?.checkpoint.runId });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  // From the saved positions: the remaining pages, plus the few each range read past its saved
  // position before the kill and one partial page per range.
  const remaining = Math.ceil((members - savedApi) / PAGE);
  expect(memberListReads(stack)).toBeLessThanOrEqual(remaining + 4 * 3);
  expect(memberListReads(stack)).toBeLessThan(Math.ceil(members / PAGE));
}, 180_000);
