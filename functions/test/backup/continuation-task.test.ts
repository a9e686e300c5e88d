import { loadCheckpoint } from "../../src/backup/checkpoint";
import { backupMetadataSchema } from "../../src/backup/documents";
import { errorRef, listBackupRuns, readBackupMetadata, runsRef } from "../../src/backup/metadata";
import { runBackup } from "../../src/backup/run";
import { differences, startStack, type Stack } from "./helpers";

/**
 * A continuation task goes on from the hand-over it was enqueued for, and only from it: checked
 * under the lease (src/backup/run.ts nothingToResume), so a duplicate delivery, or a task that
 * waited while a scheduled retry took the run further, does nothing and records nothing.
 */

let stack: Stack;
afterEach(() => stack.close());

it("a continuation runs only from its own hand-over; stale or ended ones do nothing", async () => {
  stack = await startStack("continuation-task", {
    latencyMs: 150,
    seed: { members: 1_000, companies: 20, opportunities: 20 },
  });
  const budgeted = () => stack.deps({ timeBudgetMs: 1_000, writeChunkSize: 50 });
  const first = await runBackup(budgeted(), { trigger: "schedule" });
  expect(first.status).toBe("continuing");
  const handedOver = first.continuations + 1;
  expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.continuations).toBe(handedOver);

  // The task of the hand-over before (delivered again because enqueueing the next one failed):
  // nothing run or recorded, `continuing` so the handler enqueues the next task again.
  const reads = stack.sandbox.stats.log.length;
  const again = await runBackup(budgeted(), {
    trigger: "schedule",
    runId: first.runId,
    resumeOnly: { runId: first.runId, continuation: handedOver - 1 },
  });
  expect(again).toMatchObject({ status: "continuing", continuations: handedOver - 1 });
  expect(stack.sandbox.stats.log.length).toBe(reads);
  expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.continuations).toBe(handedOver);

  // The run goes on once more; a task two hand-overs behind is stale: nothing run or recorded.
  const second = await runBackup(budgeted(), {
    trigger: "schedule",
    runId: first.runId,
    resumeOnly: { runId: first.runId, continuation: handedOver },
  });
  expect(second.status).toBe("continuing");
  const latest = handedOver + 1;
  const before = stack.sandbox.stats.log.length;
  const stale = await runBackup(budgeted(), {
    trigger: "schedule",
    runId: first.runId,
    resumeOnly: { runId: first.runId, continuation: handedOver - 1 },
  });
  // Not `busy` (the task handler retries that): failed, not retryable, and not recorded.
  expect(stale).toMatchObject({ status: "failed", error: { code: "busy", retryable: false } });
  expect(stale.error?.message).toContain(
    `another attempt went on from hand-over ${handedOver - 1}`,
  );
  expect(stack.sandbox.stats.log.length).toBe(before);
  expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.continuations).toBe(latest);

  // The task of the latest hand-over goes on, to the end (the same run id).
  let attempt = await runBackup(stack.deps(), {
    trigger: "schedule",
    runId: first.runId,
    resumeOnly: { runId: first.runId, continuation: latest },
  });
  expect(attempt).toMatchObject({ status: "completed", runId: first.runId });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);

  // Delivered again after the run ended: nothing to continue.
  attempt = await runBackup(stack.deps(), {
    trigger: "schedule",
    runId: first.runId,
    resumeOnly: { runId: first.runId, continuation: latest },
  });
  expect(attempt).toMatchObject({ status: "failed", error: { code: "busy", retryable: false } });
  expect(attempt.error?.message).toContain("the run has ended");
  expect((await listBackupRuns(stack.db, 10)).map((r) => r.runId)).toEqual([first.runId]);
}, 120_000);

it("a run abandoned for a fresh one says so in its history (not `continuing` for ever)", async () => {
  stack = await startStack("continuation-abandoned", {
    latencyMs: 150,
    seed: { members: 1_000, companies: 20, opportunities: 20 },
  });
  const first = await runBackup(stack.deps({ timeBudgetMs: 1_000, writeChunkSize: 50 }), {
    trigger: "schedule",
  });
  expect(first.status).toBe("continuing");
  expect((await runsRef(stack.db).doc(first.runId).get()).get("status")).toBe("continuing");

  const fresh = await runBackup(stack.deps(), { trigger: "cli", fresh: true });
  expect(fresh).toMatchObject({ status: "completed" });
  expect(fresh.runId).not.toBe(first.runId);
  const abandoned = backupMetadataSchema.parse(
    (await runsRef(stack.db).doc(first.runId).get()).data(),
  );
  expect(abandoned).toMatchObject({
    status: "failed",
    errorCode: "abandoned",
    error: "abandoned: a fresh run was asked for",
    errorRetryable: false,
  });
  // The metadata is the fresh run's; the abandoned one filed no /errors document.
  expect((await readBackupMetadata(stack.db))?.runId).toBe(fresh.runId);
  expect((await errorRef(stack.db, first.runId).get()).exists).toBe(false);
}, 120_000);
