import { performance } from "node:perf_hooks";
import type { FirestoreEmulator } from "../../dev/emulator";
import { lockRef } from "../../src/backup/lock";
import { runBackup } from "../../src/backup/run";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { expireLease, tapPages } from "./faults";
import { describeResult, OUTAGE_FIRESTORE_TIMEOUT_MS, startCaseStack } from "./harness";
import { seedKnownContent } from "./known-content";
import {
  firestoreAt,
  readState,
  startPrivateEmulator,
  writeState,
  type PrivateFirestore,
  type StoredState,
} from "./private-emulator";
import { seconds } from "./results";
import {
  clearLogs,
  excerpt,
  expectConverges,
  expectNoSecrets,
  expectNothingLost,
  logEntries,
  openRow,
  runCase,
  track,
  type CaseGroup,
} from "./suite";

/**
 * The Firestore rows where the database itself goes away: its process stopped mid-sync, down
 * when a run starts, stopped while the run reads its documents (docs/reliability.md, "How the
 * harder cases are built").
 */

/**
 * A run that gave up on Firestore leaves requests its client keeps retrying (for up to 10
 * minutes). They must end before this process does, so a fresh emulator takes over the stopped
 * one's port, answers them in a database nobody reads, and stays up until the suite ends. (The
 * client cannot be terminated instead: its retries then fail on streams nobody listens to.)
 */
const lingering: { emulator: FirestoreEmulator; firestore: PrivateFirestore; since: number }[] = [];

/** A private emulator and a client on it, for a case that stops the emulator mid-run. */
interface Outage {
  firestore: PrivateFirestore;
  /** When `stop()` returned (performance.now()); 0 before. */
  stoppedAt: number;
  stop(): Promise<void>;
  /** Stopped: its port answers again (see `lingering`); not stopped: all closed. */
  finish(): Promise<void>;
}

async function startOutage(projectId: string): Promise<Outage> {
  const emulator = await startPrivateEmulator();
  const port = Number(emulator.host.split(":")[1]);
  const firestore = firestoreAt(emulator.host, projectId);
  let finished = false;
  const outage: Outage = {
    firestore,
    stoppedAt: 0,
    async stop() {
      await emulator.stop();
      outage.stoppedAt = performance.now();
    },
    async finish() {
      if (finished) return;
      finished = true;
      if (outage.stoppedAt === 0) {
        await emulator.stop();
        await firestore.close();
        return;
      }
      lingering.push({ emulator: await startPrivateEmulator(port), firestore, since: Date.now() });
    },
  };
  return outage;
}

/**
 * After Firestore stops, a run must be over within this (three deadlines at most, and slack for a
 * loaded machine); without the bounds it took the client's 10-minute retry window.
 */
const OUTAGE_BOUND_MS = 3 * OUTAGE_FIRESTORE_TIMEOUT_MS + 8_000;

/** A Firestore stack seeded so the sync has several chunks (20 missing per resource). */
const OUTAGE_DRIFT = { missing: 20, changed: 2, orphaned: 2 };

export const OUTAGE_GROUP: CaseGroup = {
  cases: 3,
  register() {
    // At the suite's end, not the group's: the lingering retries have long drained by then.
    afterAll(async () => {
      for (const { emulator, firestore, since } of lingering) {
        // The retries back off; 15 s after the restart every one of them has reached the server.
        await new Promise((r) => setTimeout(r, Math.max(0, since + 15_000 - Date.now())));
        await emulator.stop();
        await firestore.close();
      }
    });
    describe("Firestore outages", () => {
      /**
       * The emulator keeps data in memory, so a stopped emulator comes back empty. Design: a private
       * emulator for the run; right before stopping it, the case reads exactly what it holds (the
       * known content plus whatever the run wrote so far: between chunks nothing is in flight). The
       * run must end in bounded time, failed. "Firestore is back" is then a project on the shared
       * emulator loaded with that state (what a real database would still hold, the dead run's lease
       * included), and one normal run must converge once the lease has expired. The private emulator
       * is restarted on its port only to let the dead run's abandoned requests drain.
       */
      it("the emulator stopped mid-sync, then down when a run starts", async () => {
        clearLogs();
        const stopped = openRow(
          "Firestore",
          "emulator stopped mid-sync",
          "Firestore process killed after the first chunk of writes",
          "failed (firestore_write or firestore_read), retryable, in bounded time",
        );
        const down = openRow(
          "Firestore",
          "Firestore down when a run starts",
          "a run started while the emulator is stopped",
          "failed (firestore_unavailable), retryable, in bounded time",
        );
        await track(stopped, async () => {
          const outage = await startOutage("demo-outage-sync");
          const stack = await startCaseStack(
            "outage",
            {},
            { ...outage.firestore, close: () => Promise.resolve() },
          );
          let back: TestFirestore | null = null;
          let atStop: StoredState | null = null;
          try {
            const known = await seedKnownContent(stack.db, stack.truth, OUTAGE_DRIFT);
            const result = await runBackup(
              stack.deps({
                writeChunkSize: 10,
                firestoreTimeoutMs: OUTAGE_FIRESTORE_TIMEOUT_MS,
                hooks: {
                  afterWriteChunk: async ({ chunk }) => {
                    if (chunk !== 1) return;
                    atStop = await readState(stack.db);
                    await outage.stop();
                  },
                },
              }),
              { trigger: "schedule" },
            );
            const elapsed = performance.now() - outage.stoppedAt;
            stopped.finalStatus = `${describeResult(result)}; not recorded (Firestore down)`;
            // The listing reads the collection while the streams write: whichever meets the stop
            // first names the failure.
            expect([
              "failed (firestore_write), retryable",
              "failed (firestore_read), retryable",
            ]).toContain(describeResult(result));
            // Chunks of the three resources' write streams were in flight when it stopped.
            expect(result.written).toBeGreaterThanOrEqual(10);
            expect(result.written).toBeLessThan(3 * (OUTAGE_DRIFT.missing + OUTAGE_DRIFT.changed));
            expect(result.error?.message).toMatch(
              new RegExp(
                `no answer from Firestore within ${OUTAGE_FIRESTORE_TIMEOUT_MS} ms` +
                  ".*could not record the run: no answer from Firestore",
              ),
            );
            // Bounded: one deadline for the step, one for the record, one for the lease release.
            expect(elapsed).toBeLessThan(OUTAGE_BOUND_MS);
            // With Firestore down, the logs are where the failure shows (and the alerts look).
            expect(
              logEntries().some((e) => e.event === "backup_failed" && e.runId === result.runId),
            ).toBe(true);
            stopped.notes =
              `${result.written} written before the stop; ended ${seconds(elapsed)} after it ` +
              "(production bound: 60 s a step); failure logged; " +
              `error: “${excerpt(result.error?.message ?? "", 170)}”`;

            await track(down, async () => {
              const t0 = performance.now();
              const second = await runBackup(
                stack.deps({ firestoreTimeoutMs: OUTAGE_FIRESTORE_TIMEOUT_MS }),
                { trigger: "manual" },
              );
              const took = performance.now() - t0;
              down.finalStatus = `${describeResult(second)}; not recorded (Firestore down)`;
              expect(describeResult(second)).toBe("failed (firestore_unavailable), retryable");
              expect(second.error?.message).toMatch(
                /could not take the backup lock: no answer from Firestore within \d+ ms/,
              );
              expect(took).toBeLessThan(OUTAGE_BOUND_MS);
              down.notes =
                `ended in ${seconds(took)}, nothing written; recovery as in the row above; ` +
                `error: “${excerpt(second.error?.message ?? "", 170)}”`;
            });

            await outage.finish();

            // Firestore is back with what it held at the stop.
            const held = atStop as StoredState | null;
            expect(held).not.toBeNull();
            if (held === null) return;
            expect(held.lock).not.toBeNull();
            back = createTestFirestore("outage-back");
            stack.fs = back;
            stack.db = back.db;
            await writeState(back.db, held);
            await expectNothingLost(stopped, stack, known);
            down.documentsLost = stopped.documentsLost; // the down run wrote nothing
            // The dead run's lease (15 s, no longer renewed) is waited out and taken over by the
            // next run: no need to expire it by hand.
            await expectConverges(stopped, stack, known);
            down.runsToConverge = stopped.runsToConverge;
            await expectNoSecrets(stack);
          } finally {
            await outage.finish();
            await stack.close();
            await back?.close();
          }
        });
      });

      it("the emulator stopped while the index is read", async () => {
        await runCase(
          "Firestore",
          "emulator stopped while reading",
          "Firestore process killed while the run reads its documents",
          "failed (firestore_read), retryable, in bounded time",
          async (row) => {
            const outage = await startOutage("demo-outage-read");
            const stack = await startCaseStack(
              "outage-read",
              {},
              { ...outage.firestore, close: () => Promise.resolve() },
            );
            let back: TestFirestore | null = null;
            try {
              const known = await seedKnownContent(stack.db, stack.truth);
              // Nothing is written before the index is read: Firestore holds this, plus the lease.
              const beforeRun = await readState(stack.db);
              let atStop: StoredState | null = null;
              let stopping: Promise<void> | null = null;
              const reader = tapPages(stack.reader(), async () => {
                stopping ??= (async () => {
                  // The first OfficeRnD page is in: the lease is taken, the index is being read one
                  // document per query.
                  const lock = await lockRef(stack.db).get();
                  atStop = { ...beforeRun, lock: lock.data() ?? null };
                  await outage.stop();
                })();
                await stopping;
              });
              const result = await runBackup(
                stack.deps({
                  reader,
                  indexPageSize: 1,
                  firestoreTimeoutMs: OUTAGE_FIRESTORE_TIMEOUT_MS,
                }),
                { trigger: "schedule" },
              );
              const elapsed = performance.now() - outage.stoppedAt;
              row.finalStatus = `${describeResult(result)}; not recorded (Firestore down)`;
              expect(describeResult(result)).toBe("failed (firestore_read), retryable");
              expect(result.error?.message).toMatch(
                /Firestore read failed: no answer from Firestore within \d+ ms/,
              );
              expect(result.written).toBe(0);
              expect(elapsed).toBeLessThan(OUTAGE_BOUND_MS);
              row.notes =
                `ended in ${seconds(elapsed)}, nothing written; ` +
                `error: “${excerpt(result.error?.message ?? "", 170)}”`;

              await outage.finish();

              const held = atStop as StoredState | null;
              expect(held?.lock).toBeTruthy();
              if (held === null) return;
              back = createTestFirestore("outage-read-back");
              stack.fs = back;
              stack.db = back.db;
              await writeState(back.db, held);
              await expectNothingLost(row, stack, known);
              await expireLease(back.db);
              await expectConverges(row, stack, known);
              await expectNoSecrets(stack);
            } finally {
              await outage.finish();
              await stack.close();
              await back?.close();
            }
          },
        );
      });
    });
  },
};
