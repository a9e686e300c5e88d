import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Timestamp } from "firebase-admin/firestore";
import { loadCheckpoint } from "../../src/backup/checkpoint";
import { lockRef } from "../../src/backup/lock";
import { listBackupRuns, newRunId, readBackupMetadata } from "../../src/backup/metadata";
import { beginBackup, runBackup, shouldRetry } from "../../src/backup/run";
import { differences } from "../backup/helpers";
import { cliEnv, describeResult, expectRecorded, spawnCli, startCaseStack } from "./harness";
import { captureKnown, seedKnownContent } from "./known-content";
import { seconds } from "./results";
import {
  expectConverges,
  expectNoSecrets,
  expectNothingLost,
  logEntries,
  runCase,
  type CaseGroup,
} from "./suite";

/**
 * Leases that die with their run (issue 14, item 4): a 15 s lease renewed by a heartbeat, taken
 * over once a killed run stops renewing it; each attempt holds it with its own token (a task
 * delivered twice shares its run id); `busy` is retryable for the scheduled trigger, so Cloud
 * Scheduler runs the day's backup again instead of counting it done. test/backup/lock.test.ts
 * covers the lease itself.
 */

/** Sandbox latency that makes each run last a few seconds, so a second attempt meets the first. */
const SLOW_OFFICERND = { latencyMs: 300 };

export const LEASES_GROUP: CaseGroup = {
  cases: 3,
  register() {
    describe("Leases", () => {
      /**
       * A killed run leaves its lease (15 s, renewed every 2 s while it runs) and its checkpoint
       * (saved after each chunk of writes). The re-run sees that nobody renews the lease, waits
       * for it to lapse, takes it over and goes on with the same run from the checkpoint: it
       * completes within seconds of the kill (test/backup/lock.test.ts and
       * test/backup/continuation.test.ts cover the lease and the checkpoint themselves).
       */
      it("the process killed between batches, then a clean re-run", async () => {
        await runCase(
          "Leases",
          "process killed between batches",
          "SIGKILL to `cli run` once its position is saved with 500+ member writes",
          "killed; the re-run takes the dead lease over once it lapses (≤ 15 s), resumes the run and completes",
          async (row) => {
            // 60 pages of members at 0.1 s: the position is first saved after four chunks of 500
            // writes (about 40 pages), so the kill lands while the listing goes on.
            const stack = await startCaseStack("killed", {
              latencyMs: 100,
              seed: { members: 3_000, companies: 40, opportunities: 70 },
            });
            const outputs: string[] = [];
            try {
              const partial = { ...stack.truth, members: stack.truth.members.slice(0, 100) };
              await seedKnownContent(stack.db, partial);
              const known = await captureKnown(stack.db, stack.truth);
              const seeded = known.docs.members.size;
              const env = cliEnv(stack);

              const killed = spawnCli(["run", "--json"], env);
              let saved = await loadCheckpoint(stack.db, 5_000);
              for (
                let i = 0;
                i < 600 && (saved?.progress.get("members")?.written ?? 0) < 500;
                i++
              ) {
                await sleep(25);
                saved = await loadCheckpoint(stack.db, 5_000);
              }
              const killedAt = performance.now();
              killed.child.kill("SIGKILL");
              const first = await killed.done;
              outputs.push(first.stdout, first.stderr);
              expect(first.signal).toBe("SIGKILL");
              expect(first.result).toBeNull();
              const killedRunId = saved?.checkpoint.runId ?? "no checkpoint";
              const members = (await stack.db.collection("officeRndMembers").select().get()).size;
              const writtenBeforeKill = members - seeded;
              expect(writtenBeforeKill).toBeGreaterThanOrEqual(500);
              expect(writtenBeforeKill).toBeLessThan(2_900);
              expect((await lockRef(stack.db).get()).get("runId")).toBe(killedRunId);
              expect(await readBackupMetadata(stack.db)).toBeNull();
              await expectNothingLost(row, stack, known);

              // Renewed within the last 3 s, the lease still looks live (busy at once): the operator
              // re-runs once it has not been renewed for that long.
              const renewedAt = (await lockRef(stack.db).get()).get("renewedAt") as Timestamp;
              await sleep(Math.max(0, renewedAt.toMillis() + 3_100 - Date.now()));
              stack.sandbox.resetStats();
              const rerun = await spawnCli(["run", "--json"], env).done;
              const afterKill = performance.now() - killedAt;
              outputs.push(rerun.stdout, rerun.stderr);
              expect(rerun.code).toBe(0);
              expect(rerun.result).toMatchObject({ status: "completed", runId: killedRunId });
              expect(rerun.entries).toContainEqual(
                expect.objectContaining({
                  event: "backup_lock_taken_over",
                  previousRunId: killedRunId,
                }),
              );
              // From the checkpoint: not the 60 pages of the whole members listing.
              const memberPages = stack.sandbox.stats.log.filter(
                (l) => l.route === "list" && l.resource === "members",
              ).length;
              expect(memberPages).toBeLessThan(60);
              expect(afterKill).toBeLessThan(60_000);
              row.finalStatus = "killed (no record); the same run resumed, completed";
              row.notes =
                `${writtenBeforeKill} documents written before the kill; the re-run took the dead ` +
                `lease over, resumed the run from its checkpoint (${memberPages} of 60 member ` +
                `pages read) and completed ${seconds(afterKill)} after the kill`;
              await expectNothingLost(row, stack, known);
              // One run, resumed: a difference it deferred (a stored copy dated after OfficeRnD's
              // record) is repaired when the next run sees it again.
              await expectConverges(row, stack, known);
              await expectNoSecrets(stack, outputs);
            } finally {
              await stack.close();
            }
          },
        );
      });

      it("a task delivered twice (one run id)", async () => {
        await runCase(
          "Leases",
          "task delivered twice",
          "the same Cloud Tasks task delivered again while its first delivery runs: two attempts with one run id",
          "first completed; the duplicate busy, not retried; one run recorded",
          async (row) => {
            const stack = await startCaseStack("task-twice", SLOW_OFFICERND);
            try {
              const known = await seedKnownContent(stack.db, stack.truth);
              const runId = newRunId(new Date());
              const first = await beginBackup(stack.deps(), { trigger: "manual", runId });
              if (first.busy) throw new Error("the first delivery found the lease taken");
              const token = (await lockRef(stack.db).get()).get("token") as unknown;
              const second = await beginBackup(stack.deps(), { trigger: "manual", runId });
              // Its own token: the duplicate neither takes, replaces nor renews the lease.
              expect(second).toMatchObject({ busy: true, heldBy: runId });
              expect((await lockRef(stack.db).get()).get("token")).toBe(token);
              if (!second.busy) throw new Error("unreachable");
              expect(second.result.error).toMatchObject({ code: "busy", retryable: false });
              expect(shouldRetry(second.result)).toBe(false);

              const result = await first.completion;
              row.finalStatus = `${describeResult(result)}; duplicate ${describeResult(second.result)}`;
              await expectRecorded(stack.db, result, { status: "completed" });
              expect((await listBackupRuns(stack.db, 10)).map((r) => r.runId)).toEqual([runId]);
              // Not run twice: every OfficeRnD page was listed once.
              const pages = stack.sandbox.stats.log
                .filter((l) => l.route === "list")
                .map((l) => `${l.resource}/${l.page}`);
              expect(new Set(pages).size).toBe(pages.length);
              expect(await differences(stack.db, stack.sandbox)).toEqual([]);
              row.notes =
                `one run recorded (${result.written} written); each of the ${pages.length} pages ` +
                "read once; the lease kept its first token through the duplicate";
              await expectNothingLost(row, stack, known);
              await expectConverges(row, stack, known);
              await expectNoSecrets(stack);
            } finally {
              await stack.close();
            }
          },
        );
      });

      it("a scheduled run finds the lease held", async () => {
        await runCase(
          "Leases",
          "scheduled run finds the lease held",
          "Cloud Scheduler fires while a manual run holds the lease (its heartbeat live)",
          "busy, retryable for the schedule (not for a manual run); the retry completes",
          async (row) => {
            const stack = await startCaseStack("busy-schedule", SLOW_OFFICERND);
            try {
              const known = await seedKnownContent(stack.db, stack.truth);
              const holder = await beginBackup(stack.deps(), { trigger: "manual" });
              if (holder.busy) throw new Error("the lease was taken");
              const scheduled = await runBackup(stack.deps(), { trigger: "schedule" });
              const manual = await runBackup(stack.deps(), { trigger: "manual" });
              const held = await holder.completion;
              row.finalStatus = `${describeResult(scheduled)}; manual ${describeResult(manual)}`;
              expect(scheduled).toMatchObject({
                status: "busy",
                heldBy: { runId: holder.runId },
                error: { code: "busy", retryable: true },
              });
              // The scheduled function rethrows it: Cloud Scheduler runs the backup again later.
              expect(shouldRetry(scheduled)).toBe(true);
              expect(manual).toMatchObject({ status: "busy", error: { retryable: false } });
              expect(shouldRetry(manual)).toBe(false);
              expect(
                logEntries().filter(
                  (e) => e.event === "backup_lock_busy" && e.runId === scheduled.runId,
                ),
              ).toHaveLength(1);
              await expectRecorded(stack.db, held, { status: "completed" });
              // Cloud Scheduler's retry, once the holder is done.
              const retry = await runBackup(stack.deps(), { trigger: "schedule" });
              row.finalStatus += `; the retry ${describeResult(retry)}`;
              expect(retry.status).toBe("completed");
              row.notes =
                `the holder wrote ${held.written}; the scheduled attempt answered busy at once ` +
                `(${scheduled.durationMs} ms), logged, and its retry completed`;
              await expectNothingLost(row, stack, known);
              await expectConverges(row, stack, known);
              await expectNoSecrets(stack);
            } finally {
              await stack.close();
            }
          },
        );
      });
    });
  },
};
