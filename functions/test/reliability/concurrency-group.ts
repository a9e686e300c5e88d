import { beginBackup, runBackup, type BackupRunResult } from "../../src/backup/run";
import { listBackupRuns, readBackupMetadata } from "../../src/backup/metadata";
import { createApp, listen, type RunningServer } from "../../src/http";
import { startBackup } from "../../src/wiring";
import { differences } from "../backup/helpers";
import { ADMIN_ID_TOKEN, fakeVerifyIdToken } from "../http/helpers";
import {
  cliEnv,
  describeResult,
  expectRecorded,
  spawnCli,
  startCaseStack,
  STATUS_TOKEN,
  type CliOutcome,
} from "./harness";
import { seedKnownContent } from "./known-content";
import { httpCall } from "./sockets";
import { expectNoSecrets, expectNothingLost, runCase, type CaseGroup } from "./suite";

/**
 * Two runs at once: the manual trigger (the real route) while a scheduled run holds the lease, and
 * two CLI processes started together. Exactly one run does the work; the other is told `busy`.
 */

export const CONCURRENCY_GROUP: CaseGroup = {
  cases: 2,
  register() {
    describe("Concurrency", () => {
      it("a manual run started while the scheduled run holds the lock", async () => {
        await runCase(
          "Concurrency",
          "manual run while the scheduled run holds the lock",
          "POST /v1/office-rnd/backup (admin) during a scheduled run",
          "409 busy; scheduled run completed; manual run after it completed",
          async (row) => {
            const stack = await startCaseStack("manual-vs-schedule", { latencyMs: 150 });
            let server: RunningServer | null = null;
            const responses: string[] = [];
            try {
              const known = await seedKnownContent(stack.db, stack.truth);
              const source = {
                ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
                BACKUP_STATUS_TOKEN: STATUS_TOKEN,
              };
              let manual: Promise<BackupRunResult> | undefined;
              const app = createApp({
                db: stack.db,
                status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
                verifyIdToken: fakeVerifyIdToken,
                // The manual trigger as the CLI's `serve` wires it: the engine, its lock, a new client.
                startManualBackup: async (trigger) => {
                  const start = await startBackup(
                    { db: stack.db, source, clientOptions: stack.clientOptions },
                    trigger,
                  );
                  if (!start.busy) manual = start.completion;
                  return start;
                },
              });
              server = await listen(app);
              const post = async () => {
                const answer = await httpCall(`${server?.url ?? ""}/v1/office-rnd/backup`, {
                  method: "POST",
                  headers: { Authorization: `Bearer ${ADMIN_ID_TOKEN}` },
                });
                responses.push(JSON.stringify(answer));
                return answer;
              };

              const scheduled = await beginBackup(stack.deps(), { trigger: "schedule" });
              if (scheduled.busy) throw new Error("the scheduled run found the lock taken");
              const refused = await post();
              expect(refused.status).toBe(409);
              expect(JSON.parse(refused.body)).toMatchObject({
                error: { code: "backup_in_progress", runId: scheduled.runId },
              });
              // The callable / CLI path into the same lock says the same.
              const busy = await runBackup(stack.deps(), { trigger: "manual" });
              expect(busy).toMatchObject({ status: "busy", heldBy: { runId: scheduled.runId } });

              const result = await scheduled.completion;
              row.finalStatus = `409 busy; scheduled ${describeResult(result)}`;
              await expectRecorded(stack.db, result, { status: "completed" });
              expect((await listBackupRuns(stack.db, 10)).map((r) => r.runId)).toEqual([
                scheduled.runId,
              ]);
              expect(await differences(stack.db, stack.sandbox)).toEqual([]);
              await expectNothingLost(row, stack, known);

              const accepted = await post();
              expect(accepted.status).toBe(202);
              const after = await (manual ?? Promise.reject(new Error("no manual run started")));
              expect(after).toMatchObject({ status: "completed", trigger: "manual", written: 0 });
              row.finalStatus += `; manual after it ${describeResult(after)}`;
              row.runsToConverge = 1;
              row.notes = `the scheduled run repaired ${result.written} documents; the manual run found nothing to do`;
              stack.extraSecrets.push(STATUS_TOKEN, ADMIN_ID_TOKEN);
              await expectNoSecrets(stack, responses);
            } finally {
              await server?.close();
              await stack.close();
            }
          },
        );
      });

      it("two CLI runs at once", async () => {
        await runCase(
          "Concurrency",
          "two CLI runs at once",
          "two `cli run` processes started together",
          "one completed, one busy (exit 1)",
          async (row) => {
            // Latency makes each run last a few seconds, far longer than the processes' start skew.
            const stack = await startCaseStack("two-cli", { latencyMs: 400 });
            try {
              const known = await seedKnownContent(stack.db, stack.truth);
              const env = cliEnv(stack);
              const outcomes: CliOutcome[] = await Promise.all([
                spawnCli(["run", "--json"], env).done,
                spawnCli(["run", "--json"], env).done,
              ]);
              const completed = outcomes.filter((o) => o.result?.status === "completed");
              const busy = outcomes.filter((o) => o.result?.status === "busy");
              row.finalStatus = outcomes
                .map((o) => `${o.result?.status ?? "?"} (exit ${o.code})`)
                .join(", ");
              expect(completed).toHaveLength(1);
              expect(busy).toHaveLength(1);
              expect(completed[0]?.code).toBe(0);
              expect(busy[0]?.code).toBe(1);
              const winner = completed[0]?.result?.runId ?? "";
              expect(busy[0]?.stdout).toContain(winner);
              expect((await listBackupRuns(stack.db, 10)).map((r) => r.runId)).toEqual([winner]);
              expect((await readBackupMetadata(stack.db))?.status).toBe("completed");
              expect(await differences(stack.db, stack.sandbox)).toEqual([]);
              row.runsToConverge = 1;
              row.notes = `the winner wrote ${completed[0]?.result?.written ?? "?"} documents; the other touched nothing`;
              await expectNothingLost(row, stack, known);
              await expectNoSecrets(
                stack,
                outcomes.flatMap((o) => [o.stdout, o.stderr]),
              );
            } finally {
              await stack.close();
            }
          },
        );
      });
    });
  },
};
