import { randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Timestamp } from "firebase-admin/firestore";
import type { FirestoreEmulator } from "../../dev/emulator";
import { lockRef } from "../../src/backup/lock";
import { listBackupRuns, readBackupMetadata } from "../../src/backup/metadata";
import { beginBackup, runBackup, type BackupRunResult } from "../../src/backup/run";
import { createApp, listen, REALM_HEADER, type RunningServer } from "../../src/http";
import { onLogEntry, setLogSink, type LogEntry } from "../../src/logs";
import { createProductApp, startBackup } from "../../src/wiring";
import { backupStatusResponseSchema } from "../../src/status";
import { differences } from "../backup/helpers";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { ADMIN_ID_TOKEN, fakeVerifyIdToken } from "../http/helpers";
import {
  auditDocuments,
  captureKnown,
  cliEnv,
  converge,
  describeExpected,
  describeResult,
  expectRecorded,
  expireLease,
  failBatchCommits,
  firestoreAt,
  healOfficeRnd,
  httpCall,
  leakedSecrets,
  rawRequest,
  readState,
  recordVersions,
  seedKnownContent,
  spawnCli,
  startCaseStack,
  startPrivateEmulator,
  storedTexts,
  OUTAGE_FIRESTORE_TIMEOUT_MS,
  tapPages,
  writeState,
  type CaseStack,
  type CliOutcome,
  type KnownContent,
  type PrivateFirestore,
  type StoredState,
} from "./harness";
import { ENGINE_CASES } from "./engine-cases";
import { API_CASES, type ApiCase } from "./officernd-cases";
import {
  formatTable,
  machineFacts,
  resultsPath,
  seconds,
  writeReport,
  type ResultRow,
} from "./results";

/**
 * Reliability: faults, bad input and load, end to end. Every case runs against the real Firestore
 * emulator and the local OfficeRnD sandbox, starting from a Firestore copy with known content
 * (OfficeRnD's records with drift: missing, stale and orphaned documents), and asserts:
 *   1. the run's final status is right (completed; failed with a clear error in the metadata and
 *      in /errors; busy),
 *   2. no known document was deleted, blanked or overwritten with invalid data,
 *   3. after the fault clears, one normal run converges Firestore to OfficeRnD exactly,
 *   4. no secret (client secret, issued tokens, status token) is in logs, Firestore or responses.
 * The engine's finer points (per-fault unit behaviour) live in test/backup and test/officernd; this
 * is the table-shaped proof, and its rows become docs/reliability.md (`npm run test:faults`).
 */

// ---- Results ---------------------------------------------------------------------------------------

const rows: ResultRow[] = [];
let entries: LogEntry[] = [];
let stopListening: () => void = () => undefined;
let suiteStarted = 0;

const logTexts = () => entries.map((e) => JSON.stringify(e));

function openRow(group: ResultRow["group"], name: string, fault: string, expected: string) {
  const row: ResultRow = {
    group,
    case: name,
    fault,
    expected,
    outcome: "fail",
    finalStatus: "not reached",
    runsToConverge: null,
    documentsLost: null,
    durationMs: 0,
    notes: "",
    failure: null,
  };
  rows.push(row);
  return row;
}

/** Jest colours its assertion messages; the report keeps the text. */
const ANSI_COLOURS = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Runs a case body for a row: pass when it returns, fail (and rethrow) when an assertion fails. */
async function track(row: ResultRow, body: () => Promise<void>): Promise<void> {
  const started = performance.now();
  try {
    await body();
    row.outcome = "pass";
  } catch (error) {
    row.outcome = "fail";
    const text = error instanceof Error ? error.message : String(error);
    row.failure = text.replace(ANSI_COLOURS, "").split("\n").slice(0, 8).join(" ").trim();
    throw error;
  } finally {
    row.durationMs = Math.round(performance.now() - started);
  }
}

function runCase(
  group: ResultRow["group"],
  name: string,
  fault: string,
  expected: string,
  body: (row: ResultRow) => Promise<void>,
): Promise<void> {
  entries = [];
  const row = openRow(group, name, fault, expected);
  return track(row, () => body(row));
}

beforeAll(() => {
  suiteStarted = performance.now();
  setLogSink(() => undefined);
  stopListening = onLogEntry((entry) => entries.push(entry));
});

afterAll(() => {
  stopListening();
  setLogSink(null);
  const expectedCases =
    API_CASES.length + ENGINE_CASES.length + FIRESTORE_CASES + CONCURRENCY_CASES + HTTP_CASES;
  const report = {
    generatedAt: new Date().toISOString(),
    machine: machineFacts(),
    suiteMs: Math.round(performance.now() - suiteStarted),
    complete: rows.length === expectedCases,
    expectedCases,
    rows,
  };
  writeReport(report);
  const passed = rows.filter((r) => r.outcome === "pass").length;
  process.stdout.write(
    `\nReliability suite: ${passed}/${rows.length} cases passed (${expectedCases} in the table) ` +
      `in ${seconds(report.suiteMs)}; results in ${resultsPath()}\n\n${formatTable(rows)}\n\n`,
  );
});

// ---- Common checks ---------------------------------------------------------------------------------

async function expectNothingLost(row: ResultRow, stack: CaseStack, known: KnownContent) {
  const lost = await auditDocuments(stack.db, known);
  row.documentsLost = lost.length;
  expect(lost).toEqual([]);
}

/** Heals OfficeRnD, runs normal runs until Firestore equals it: one must do. */
async function expectConverges(row: ResultRow, stack: CaseStack, known: KnownContent) {
  healOfficeRnd(stack);
  const converged = await converge(stack);
  row.runsToConverge = converged.runs;
  expect(converged.remaining).toEqual([]);
  expect(converged.runs).toBe(1);
  const lost = await auditDocuments(stack.db, known);
  row.documentsLost = Math.max(row.documentsLost ?? 0, lost.length);
  expect(lost).toEqual([]);
}

async function expectNoSecrets(stack: CaseStack, more: readonly string[] = []) {
  const texts = [...logTexts(), ...(await storedTexts(stack.db)), ...more];
  expect(leakedSecrets(texts, stack.secrets())).toEqual([]);
}

function excerpt(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Fails with the case's label, so a table of requests says which one broke. */
function expectOneOf(label: string, status: number | null, allowed: readonly (number | null)[]) {
  if (!allowed.includes(status)) {
    throw new Error(`${label}: answered ${status ?? "nothing"}, expected ${allowed.join(" or ")}`);
  }
}

// ---- OfficeRnD -------------------------------------------------------------------------------------

/** One fault or scenario injected around a normal run, then the checks every case makes. */
function apiCase(group: "OfficeRnD" | "Engine") {
  return async (_name: string, c: ApiCase): Promise<void> => {
    await runCase(group, c.name, c.fault, describeExpected(c.expect), async (row) => {
      const stack = await startCaseStack(c.name, c.sandbox);
      try {
        let known = await seedKnownContent(stack.db, stack.truth);
        stack.clientOptions = { ...stack.clientOptions, ...c.client };
        await c.inject(stack, known);
        if (c.changesTruth) known = await captureKnown(stack.db, stack.truth);
        const before = await recordVersions(stack.db);
        const reader = stack.reader();
        const result = await runBackup(
          stack.deps({ ...c.deps, reader: c.wrap ? c.wrap(reader, stack) : reader }),
          { trigger: "schedule" },
        );
        row.finalStatus = describeResult(result);
        await expectRecorded(stack.db, result, c.expect);
        if (c.writesNothing) {
          expect(result.written).toBe(0);
          expect(await recordVersions(stack.db)).toEqual(before);
          row.notes ||= "nothing written";
        }
        await c.check?.(result, stack, row);
        if (result.error) row.notes += `; error: “${excerpt(result.error.message, 170)}”`;
        await expectNothingLost(row, stack, known);
        await expectConverges(row, stack, known);
        await expectNoSecrets(stack);
      } finally {
        await stack.close();
      }
    });
  };
}

describe("OfficeRnD faults", () => {
  it.each(API_CASES.map((c) => [c.name, c] as const))("%s", apiCase("OfficeRnD"));
});

describe("Engine rules (races with webhooks, removals, odd records)", () => {
  it.each(ENGINE_CASES.map((c) => [c.name, c] as const))("%s", apiCase("Engine"));
});

// ---- Firestore -------------------------------------------------------------------------------------

const FIRESTORE_CASES = 6;

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

afterAll(async () => {
  for (const { emulator, firestore, since } of lingering) {
    // The retries back off; 15 s after the restart every one of them has reached the server.
    await new Promise((r) => setTimeout(r, Math.max(0, since + 15_000 - Date.now())));
    await emulator.stop();
    await firestore.close();
  }
});

/**
 * After Firestore stops, a run must be over within this (three deadlines at most, and slack for a
 * loaded machine); without the bounds it took the client's 10-minute retry window.
 */
const OUTAGE_BOUND_MS = 3 * OUTAGE_FIRESTORE_TIMEOUT_MS + 8_000;

/** A Firestore stack seeded so the sync has several chunks (20 missing per resource). */
const OUTAGE_DRIFT = { missing: 20, changed: 2, orphaned: 2 };

describe("Firestore faults", () => {
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
    entries = [];
    const stopped = openRow(
      "Firestore",
      "emulator stopped mid-sync",
      "Firestore process killed after the first chunk of writes",
      "failed (firestore_write), retryable, in bounded time",
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
        expect(describeResult(result)).toBe("failed (firestore_write), retryable");
        expect(result.written).toBe(10);
        expect(result.error?.message).toMatch(
          new RegExp(
            `write\\(s\\) failed \\(first: .*no answer from Firestore within ${OUTAGE_FIRESTORE_TIMEOUT_MS} ms\\); ` +
              "\\d+ not attempted; could not record the run: no answer from Firestore",
          ),
        );
        // Bounded: one deadline for the chunk, one for the record, one for the lease release.
        expect(elapsed).toBeLessThan(OUTAGE_BOUND_MS);
        // With Firestore down, the logs are where the failure shows (and the alerts look).
        expect(entries.some((e) => e.event === "backup_failed" && e.runId === result.runId)).toBe(
          true,
        );
        stopped.notes =
          `ended in ${seconds(elapsed)} (production bound: 60 s a step); failure logged; ` +
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

  it("a batch commit that fails once is retried", async () => {
    await runCase(
      "Firestore",
      "batch commit fails once",
      "the first batchWrite RPC fails UNAVAILABLE",
      "completed",
      async (row) => {
        const stack = await startCaseStack("batch-once");
        try {
          const known = await seedKnownContent(stack.db, stack.truth);
          const fault = failBatchCommits(stack.db, (call) => call === 1);
          const result = await runBackup(stack.deps(), { trigger: "schedule" });
          fault.restore();
          row.finalStatus = describeResult(result);
          await expectRecorded(stack.db, result, { status: "completed" });
          expect(fault.failed()).toBe(1);
          expect(result.written).toBe(18);
          row.notes = `1 commit failed, BulkWriter retried its writes; ${result.written} written`;
          await expectNothingLost(row, stack, known);
          await expectConverges(row, stack, known);
          await expectNoSecrets(stack);
        } finally {
          await stack.close();
        }
      },
    );
  });

  it("batch commits that keep failing stop the sync", async () => {
    await runCase(
      "Firestore",
      "batch commits keep failing",
      "every batchWrite RPC after the first fails UNAVAILABLE",
      "failed (firestore_write), retryable",
      async (row) => {
        const stack = await startCaseStack("batch-fail");
        try {
          const known = await seedKnownContent(stack.db, stack.truth);
          const fault = failBatchCommits(stack.db, (call) => call >= 2);
          const result = await runBackup(stack.deps({ writeChunkSize: 6 }), {
            trigger: "schedule",
          });
          fault.restore();
          row.finalStatus = describeResult(result);
          await expectRecorded(stack.db, result, {
            status: "failed",
            code: "firestore_write",
            retryable: true,
            message: /6 write\(s\) failed \(first: .*UNAVAILABLE.*\); 6 not attempted/,
          });
          expect(result.written).toBe(6);
          expect(fault.failed()).toBe(4);
          row.notes = "chunk 1 written; chunk 2 failed after 4 attempts; the rest not attempted";
          await expectNothingLost(row, stack, known);
          await expectConverges(row, stack, known);
          await expectNoSecrets(stack);
        } finally {
          await stack.close();
        }
      },
    );
  });

  /**
   * A killed run leaves its lease (15 s, renewed every 2 s while it runs). The re-run sees that
   * nobody renews it, waits for it to lapse and takes it over: it completes within seconds of the
   * kill (test/backup/lock.test.ts covers the lease itself).
   */
  it("the process killed between batches, then a clean re-run", async () => {
    await runCase(
      "Firestore",
      "process killed between batches",
      "SIGKILL to `cli run` after its first chunk of 500 writes",
      "killed; the re-run takes the dead lease over once it lapses (≤ 15 s), then completed",
      async (row) => {
        const stack = await startCaseStack("killed", {
          seed: { members: 1_000, companies: 40, opportunities: 70 },
        });
        const outputs: string[] = [];
        try {
          const partial = { ...stack.truth, members: stack.truth.members.slice(0, 100) };
          await seedKnownContent(stack.db, partial);
          const known = await captureKnown(stack.db, stack.truth);
          const seeded = known.docs.members.size;
          const env = cliEnv(stack);

          let killedRunId = "";
          let killedAt = 0;
          const killed = spawnCli(["run", "--json"], env, (entry, child) => {
            if (entry.event === "backup_started") killedRunId = String(entry.runId);
            if (entry.event === "backup_progress" && entry.phase === "sync" && entry.chunk === 1) {
              killedAt = performance.now();
              child.kill("SIGKILL");
            }
          });
          const first = await killed.done;
          outputs.push(first.stdout, first.stderr);
          expect(first.signal).toBe("SIGKILL");
          expect(first.result).toBeNull();
          const members = (await stack.db.collection("officeRndMembers").select().get()).size;
          const writtenBeforeKill = members - seeded;
          expect(writtenBeforeKill).toBeGreaterThanOrEqual(500);
          expect(writtenBeforeKill).toBeLessThan(900);
          expect((await lockRef(stack.db).get()).get("runId")).toBe(killedRunId);
          expect(await readBackupMetadata(stack.db)).toBeNull();
          await expectNothingLost(row, stack, known);

          // Renewed within the last 3 s, the lease still looks live (busy at once): the operator
          // re-runs once it has not been renewed for that long.
          const renewedAt = (await lockRef(stack.db).get()).get("renewedAt") as Timestamp;
          await sleep(Math.max(0, renewedAt.toMillis() + 3_100 - Date.now()));
          const rerun = await spawnCli(["run", "--json"], env).done;
          const afterKill = performance.now() - killedAt;
          outputs.push(rerun.stdout, rerun.stderr);
          expect(rerun.code).toBe(0);
          expect(rerun.result?.status).toBe("completed");
          expect(rerun.entries).toContainEqual(
            expect.objectContaining({
              event: "backup_lock_taken_over",
              previousRunId: killedRunId,
            }),
          );
          expect(afterKill).toBeLessThan(60_000);
          expect(await differences(stack.db, stack.sandbox)).toEqual([]);
          row.runsToConverge = 1;
          row.finalStatus = "killed (no record); completed";
          row.notes =
            `${writtenBeforeKill} documents written before the kill; the re-run took the dead ` +
            `lease over and completed ${seconds(afterKill)} after the kill, ` +
            `writing the remaining ${rerun.result?.written ?? "?"}`;
          await expectNothingLost(row, stack, known);
          await expectNoSecrets(stack, outputs);
        } finally {
          await stack.close();
        }
      },
    );
  });
});

// ---- Concurrency -----------------------------------------------------------------------------------

const CONCURRENCY_CASES = 2;

const STATUS_TOKEN = `st-${randomBytes(24).toString("hex")}`;
const WEBHOOK_SECRET = `wh-${randomBytes(24).toString("hex")}`;

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

// ---- HTTP ------------------------------------------------------------------------------------------

const HTTP_CASES = 4;

describe("HTTP (the product app over a real socket)", () => {
  let stack: CaseStack;
  let known: KnownContent;
  let server: RunningServer;
  let baselineRunId = "";
  const responses: string[] = [];

  beforeAll(async () => {
    stack = await startCaseStack("http");
    known = await seedKnownContent(stack.db, stack.truth);
    const baseline = await runBackup(stack.deps(), { trigger: "schedule" });
    baselineRunId = baseline.runId;
    known = await captureKnown(stack.db, stack.truth);
    stack.extraSecrets.push(STATUS_TOKEN, WEBHOOK_SECRET);
    const app = createProductApp({
      db: stack.db,
      source: {
        ...stack.sandbox.env(),
        BACKUP_STATUS_TOKEN: STATUS_TOKEN,
        OFFICERND_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    });
    server = await listen(app);
  });

  afterAll(async () => {
    await server?.close();
    await stack?.close();
  });

  /** Every HTTP case: no run started, nothing lost, status healthy, one run finds nothing to do. */
  async function afterHttp(row: ResultRow) {
    const status = await httpCall(`${server.url}/v1/office-rnd/backup-status`, {
      headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
    });
    expect(status.status).toBe(200);
    const body = backupStatusResponseSchema.parse(JSON.parse(status.body));
    expect(body.backup.status).toBe("completed");
    expect((await readBackupMetadata(stack.db))?.runId).toBe(baselineRunId);
    expect(entries.filter((e) => e.event === "http_error")).toEqual([]);
    await expectNothingLost(row, stack, known);
    const converged = await converge(stack);
    row.runsToConverge = converged.runs;
    expect(converged.runs).toBe(1);
    expect(converged.last?.written).toBe(0);
    baselineRunId = converged.last?.runId ?? baselineRunId;
    await expectNoSecrets(stack, responses);
  }

  /** `401×2, 413×1, closed×1`: what a list of requests got. */
  function tally(statuses: readonly (number | null)[]): string {
    const counts = new Map<string, number>();
    for (const status of statuses) {
      const key = status === null ? "closed" : String(status);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts]
      .sort()
      .map(([key, n]) => `${key}×${n}`)
      .join(", ");
  }

  it("malformed paths and methods", async () => {
    await runCase(
      "HTTP",
      "malformed paths and methods",
      "bad encodings, dot segments, NUL, unknown and unsupported methods, garbage",
      "4xx for each, JSON from the app, never 5xx",
      async (row) => {
        const auth = `Authorization: Bearer ${STATUS_TOKEN}\r\n`;
        const req = (line: string, headers = auth) =>
          `${line}\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`;
        const cases: [string, string, readonly (number | null)[]][] = [
          ["bad percent-encoding", req("GET /v1/office-rnd/%E0%A4%A HTTP/1.1"), [404]],
          ["trailing %", req("GET /v1/office-rnd/backup-status% HTTP/1.1"), [404]],
          ["encoded NUL", req("GET /v1/office-rnd/backup-status%00 HTTP/1.1"), [404]],
          ["dot segments", req("GET /v1/office-rnd/../../etc/passwd HTTP/1.1"), [404]],
          ["double slashes", req("GET //v1//office-rnd//backup-status HTTP/1.1"), [404]],
          ["unknown route", req("GET /v1/office-rnd/members HTTP/1.1"), [404]],
          ["bad limit", req("GET /v1/office-rnd/backups?limit=%ZZ HTTP/1.1"), [400]],
          ["limit twice", req("GET /v1/office-rnd/backups?limit=1&limit=2 HTTP/1.1"), [400]],
          ["DELETE", req("DELETE /v1/office-rnd/backup-status HTTP/1.1"), [405]],
          ["PUT", req("PUT /v1/office-rnd/backups HTTP/1.1"), [405]],
          ["PATCH", req("PATCH /v1/office-rnd/backup HTTP/1.1"), [405]],
          ["GET on a POST route", req("GET /v1/office-rnd/backup HTTP/1.1"), [405]],
          ["GET on the webhook", req("GET /v1/office-rnd/webhook HTTP/1.1"), [405]],
          ["unknown method", req("BREW /v1/office-rnd/backup-status HTTP/1.1"), [400]],
          ["lower-case method", req("get /v1/office-rnd/backup-status HTTP/1.1"), [400]],
          ["no HTTP version", "GET /v1/office-rnd/backup-status\r\n\r\n", [400, 401, null]],
          ["binary garbage", "\u0000\u0001\u0002\u00ff\r\n\r\n", [400, null]],
          ["CONNECT", req("CONNECT 127.0.0.1:443 HTTP/1.1"), [400, 405, null]],
        ];
        const statuses: (number | null)[] = [];
        for (const [label, text, allowed] of cases) {
          const answer = await rawRequest(server.port, text);
          responses.push(`${answer.head}\n${answer.body}`);
          statuses.push(answer.status);
          expectOneOf(label, answer.status, allowed);
          if (answer.status !== null && /content-type: application\/json/i.test(answer.head)) {
            expect(JSON.parse(answer.body)).toEqual({
              error: expect.objectContaining({ code: expect.any(String) as unknown }) as unknown,
            });
          }
        }
        row.finalStatus = tally(statuses);
        row.notes = `${cases.length} requests; the server answered the next request normally`;
        await afterHttp(row);
      },
    );
  });

  it("oversized headers and bodies", async () => {
    await runCase(
      "HTTP",
      "oversized headers and bodies",
      "20 KB header, 15 KB bearer token, 8 MB bodies to the status, backup and webhook routes",
      "4xx, or a reset for a body a route does not read; never 5xx; memory bounded",
      async (row) => {
        const rssBefore = process.memoryUsage().rss;
        const statuses: (number | null)[] = [];
        const big = (bytes: number) => Buffer.alloc(bytes, 0x61);
        const header = await rawRequest(
          server.port,
          `GET /v1/office-rnd/backup-status HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(20_000)}\r\nConnection: close\r\n\r\n`,
        );
        responses.push(header.head);
        statuses.push(header.status);
        expect(header.status).toBe(431);
        const eightMiB = big(8 * 2 ** 20);
        // [label, path, request, answers allowed]; null: the server reset a connection whose
        // body it would not read, while the client was still sending (nothing buffered).
        const calls: [string, string, Parameters<typeof httpCall>[1], (number | null)[]][] = [
          [
            "15 KB bearer token",
            "/v1/office-rnd/backup-status",
            { headers: { Authorization: `Bearer ${"t".repeat(15_000)}` } },
            [401],
          ],
          [
            "8 MB body, no credentials",
            "/v1/office-rnd/backup",
            { method: "POST", body: eightMiB, headers: { "Content-Type": "application/json" } },
            [401, null],
          ],
          [
            "8 MB body to the status route",
            "/v1/office-rnd/backup-status",
            { body: eightMiB, headers: { Authorization: `Bearer ${STATUS_TOKEN}` } },
            [200, null],
          ],
          [
            "8 MB body to the webhook (1 MB limit)",
            "/v1/office-rnd/webhook",
            {
              method: "POST",
              body: eightMiB,
              headers: {
                "Content-Type": "application/json",
                "X-Officernd-Signature": "t=1,signature=00",
              },
            },
            [401, 413, null],
          ],
        ];
        for (const [label, path, options, allowed] of calls) {
          let status: number | null;
          try {
            const answer = await httpCall(`${server.url}${path}`, options);
            responses.push(JSON.stringify({ headers: answer.headers, body: answer.body }));
            status = answer.status;
          } catch {
            status = null; // reset while sending: see the table above
          }
          statuses.push(status);
          expectOneOf(label, status, allowed);
        }
        // What the server itself answered (or 499: the client was gone): never a 5xx.
        const served = entries
          .filter((e) => e.event === "http_request")
          .map((e) => Number(e.status));
        expect(served.filter((code) => code >= 500)).toEqual([]);
        const growthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
        expect(growthMiB).toBeLessThan(128);
        row.finalStatus = tally(statuses);
        row.notes = `bodies not buffered by routes that do not read them; RSS grew ${Math.max(0, Math.round(growthMiB))} MiB`;
        await afterHttp(row);
      },
    );
  });

  it("missing or wrong tokens", async () => {
    await runCase(
      "HTTP",
      "missing or wrong tokens",
      "12 kinds of missing, malformed, altered or misplaced credentials",
      "401 with WWW-Authenticate (403 for the status token on the admin route), no data",
      async (row) => {
        const altered = `${STATUS_TOKEN.slice(0, -1)}${STATUS_TOKEN.endsWith("a") ? "b" : "a"}`;
        const statusPath = "/v1/office-rnd/backup-status";
        const cases: [string, string, Record<string, string>, number, string?][] = [
          ["no Authorization", statusPath, {}, 401],
          ["empty Authorization", statusPath, { Authorization: "" }, 401],
          ["Basic scheme", statusPath, { Authorization: "Basic dXNlcjpwYXNz" }, 401],
          ["Bearer without a token", statusPath, { Authorization: "Bearer" }, 401],
          [
            "a random token",
            statusPath,
            { Authorization: `Bearer ${randomBytes(20).toString("hex")}` },
            401,
          ],
          [
            "the token with one character changed",
            statusPath,
            { Authorization: `Bearer ${altered}` },
            401,
          ],
          [
            "a prefix of the token",
            statusPath,
            { Authorization: `Bearer ${STATUS_TOKEN.slice(0, -4)}` },
            401,
          ],
          [
            "the token upper-cased",
            statusPath,
            { Authorization: `Bearer ${STATUS_TOKEN.toUpperCase()}` },
            401,
          ],
          [
            "the token plus a second word",
            statusPath,
            { Authorization: `Bearer ${STATUS_TOKEN} x` },
            401,
          ],
          ["the token in the query string", `${statusPath}?access_token=${STATUS_TOKEN}`, {}, 401],
          ["the token as a cookie", statusPath, { Cookie: `token=${STATUS_TOKEN}` }, 401],
          [
            "status token on the admin route",
            "/v1/office-rnd/backup",
            { Authorization: `Bearer ${STATUS_TOKEN}` },
            403,
            "POST",
          ],
        ];
        const statuses: number[] = [];
        for (const [label, path, headers, expected, method] of cases) {
          const answer = await httpCall(`${server.url}${path}`, {
            method: method ?? "GET",
            headers,
          });
          responses.push(JSON.stringify({ headers: answer.headers, body: answer.body }));
          statuses.push(answer.status);
          expect({ label, status: answer.status }).toEqual({ label, status: expected });
          if (expected === 401) expect(answer.headers["www-authenticate"]).toBe(REALM_HEADER);
          expect(answer.body).not.toMatch(/currentStats|syncHealth|runs/);
        }
        // Positive controls: the scheme is case-insensitive; the right token reads.
        for (const scheme of ["Bearer", "bearer"]) {
          const ok = await httpCall(`${server.url}${statusPath}`, {
            headers: { Authorization: `${scheme} ${STATUS_TOKEN}` },
          });
          expect(ok.status).toBe(200);
        }
        expect(
          entries.filter((e) => e.event === "http_auth_rejected").length,
        ).toBeGreaterThanOrEqual(cases.length - 1);
        row.finalStatus = tally(statuses);
        row.notes = "each refusal logged with a reason code, never the credential";
        await afterHttp(row);
      },
    );
  });

  it("1,000 concurrent status requests", async () => {
    await runCase(
      "HTTP",
      "1,000 concurrent status requests",
      "1,000 GET backup-status over 50 keep-alive sockets",
      "1,000 × 200, each a valid status response",
      async (row) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 50 });
        try {
          const started = performance.now();
          const answers = await Promise.all(
            Array.from({ length: 1_000 }, () =>
              httpCall(`${server.url}/v1/office-rnd/backup-status`, {
                agent,
                headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
              }),
            ),
          );
          const wall = performance.now() - started;
          const statuses = answers.map((a) => a.status);
          row.finalStatus = tally(statuses);
          expect(statuses.filter((s) => s !== 200)).toEqual([]);
          for (const answer of answers) {
            const body = backupStatusResponseSchema.parse(JSON.parse(answer.body));
            expect(body.backup.status).toBe("completed");
          }
          responses.push(answers[0]?.body ?? "");
          // Time each request spent in the app (from its http_request log entry): client-side
          // latency would mostly be the wait for one of the 50 sockets.
          const inApp = entries
            .filter((e) => e.event === "http_request" && e.status === 200)
            .map((e) => Number(e.durationMs))
            .sort((a, b) => a - b);
          expect(inApp.length).toBe(1_000);
          const pct = (p: number) =>
            Math.round(inApp[Math.min(inApp.length - 1, Math.floor(p * inApp.length))] ?? 0);
          row.notes =
            `${seconds(wall)} wall, ${Math.round(1_000 / (wall / 1_000))} requests/s; time in the ` +
            `app p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${pct(1)} ms (50 at a time)`;
        } finally {
          agent.destroy();
        }
        await afterHttp(row);
      },
    );
  });
});
