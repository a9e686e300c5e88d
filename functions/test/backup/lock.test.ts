import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Firestore, Timestamp } from "firebase-admin/firestore";
import {
  acquireBackupLock,
  keepLeaseAlive,
  LEASE_DURATION_MS,
  leaseTiming,
  lockRef,
  readBackupLock,
  releaseBackupLock,
  RENEW_DEADLINE_MS,
  renewBackupLock,
  RETRY_PERIOD_MS,
  takeBackupLease,
  type LeaseHolder,
  type LockAttempt,
} from "../../src/backup/lock";
import { listBackupRuns, readBackupMetadata } from "../../src/backup/metadata";
import { beginBackup, runBackup, shouldRetry } from "../../src/backup/run";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { baseEnv } from "../cli/run-cli";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { spawnCli } from "../reliability/harness";
import { differences, startStack, type Stack } from "./helpers";

const T0 = new Date("2026-11-25T10:00:00Z");
const later = (ms: number) => new Date(T0.getTime() + ms);

let fs: TestFirestore;
beforeEach(() => {
  fs = createTestFirestore("lock");
});
afterEach(() => fs.close());

function holderOf(attempt: LockAttempt): LeaseHolder {
  if (!attempt.acquired) throw new Error(`not acquired: held by ${attempt.heldBy}`);
  return attempt.holder;
}

/** A short lease for the tests that wait: 3 s, renew deadline 2 s, retry period 400 ms. */
const SHORT = leaseTiming(3_000);

function take(db: Firestore, runId: string, now: () => Date = () => new Date()) {
  return takeBackupLease(db, {
    runId,
    trigger: "schedule",
    now,
    timing: SHORT,
    stepTimeoutMs: 10_000,
  });
}

describe("the lease document", () => {
  it("Kubernetes leader election's timing: 15 s lease, 10 s renew deadline, 2 s retry period", () => {
    expect([LEASE_DURATION_MS, RENEW_DEADLINE_MS, RETRY_PERIOD_MS]).toEqual([
      15_000, 10_000, 2_000,
    ]);
    expect(leaseTiming()).toEqual({
      durationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
    expect(SHORT).toEqual({ durationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 400 });
  });

  it("lets one run hold the lease; a second sees who holds it and until when", async () => {
    const first = await acquireBackupLock(fs.db, { runId: "run-a", trigger: "schedule", now: T0 });
    expect(first.acquired).toBe(true);
    const second = await acquireBackupLock(fs.db, {
      runId: "run-b",
      trigger: "manual",
      now: later(1000),
    });
    expect(second).toEqual({
      acquired: false,
      heldBy: "run-a",
      trigger: "schedule",
      expiresAt: later(LEASE_DURATION_MS),
    });
    expect((await readBackupLock(fs.db, later(1000)))?.runId).toBe("run-a");
  });

  it("only one of many simultaneous runs gets it (transaction)", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        acquireBackupLock(fs.db, { runId: `run-${i}`, trigger: "cli", now: T0 }),
      ),
    );
    expect(attempts.filter((a) => a.acquired)).toHaveLength(1);
  });

  it("an expired lease (a crashed run) is taken over; the crashed run cannot renew or release it", async () => {
    const crashed = holderOf(
      await acquireBackupLock(fs.db, { runId: "crashed", trigger: "schedule", now: T0 }),
    );
    const next = await acquireBackupLock(fs.db, {
      runId: "next",
      trigger: "schedule",
      now: later(LEASE_DURATION_MS + 1),
    });
    expect(next.acquired).toBe(true);
    expect(await readBackupLock(fs.db, later(LEASE_DURATION_MS + 2))).toMatchObject({
      runId: "next",
    });
    expect(await releaseBackupLock(fs.db, crashed)).toBe(false);
    expect(await renewBackupLock(fs.db, crashed, later(LEASE_DURATION_MS + 3))).toBe(false);
    expect((await lockRef(fs.db).get()).get("runId")).toBe("next");
  });

  it("is renewed and released by its holder only", async () => {
    const a = holderOf(
      await acquireBackupLock(fs.db, { runId: "a", trigger: "cli", now: T0, ttlMs: 60_000 }),
    );
    expect(await renewBackupLock(fs.db, a, later(50_000), 60_000)).toBe(true);
    // Without the renewal this would have expired at T0 + 60 s.
    expect(
      await acquireBackupLock(fs.db, { runId: "b", trigger: "cli", now: later(70_000) }),
    ).toMatchObject({ acquired: false, heldBy: "a" });
    expect(await releaseBackupLock(fs.db, { runId: "b", token: "t" })).toBe(false);
    expect(await releaseBackupLock(fs.db, a)).toBe(true);
    expect(await readBackupLock(fs.db, later(70_000))).toBeNull();
    expect(
      (await acquireBackupLock(fs.db, { runId: "b", trigger: "cli", now: later(70_000) })).acquired,
    ).toBe(true);
  });

  it("a malformed lock document does not block runs forever", async () => {
    await lockRef(fs.db).set({ runId: 42, note: "garbage" });
    const attempt = await acquireBackupLock(fs.db, { runId: "a", trigger: "cli", now: T0 });
    expect(attempt.acquired).toBe(true);
  });
});

describe("each attempt owns the lease with its own token", () => {
  it("a second delivery of the same task (same run id) neither takes, renews nor releases it", async () => {
    // Cloud Tasks may deliver one task twice; both deliveries carry the task's run id.
    const first = holderOf(
      await acquireBackupLock(fs.db, { runId: "task-run", trigger: "manual", now: T0 }),
    );
    const duplicate = await acquireBackupLock(fs.db, {
      runId: "task-run",
      trigger: "manual",
      now: later(1000),
    });
    expect(duplicate).toMatchObject({ acquired: false, heldBy: "task-run" });
    const impostor: LeaseHolder = { runId: "task-run", token: "another-delivery" };
    expect(await renewBackupLock(fs.db, impostor, later(2000))).toBe(false);
    expect(await releaseBackupLock(fs.db, impostor)).toBe(false);
    expect((await lockRef(fs.db).get()).get("token")).toBe(first.token);
    expect(await renewBackupLock(fs.db, first, later(2000))).toBe(true);
    expect(await releaseBackupLock(fs.db, first)).toBe(true);
  });

  it("the same attempt may take its own lease again", async () => {
    const first = holderOf(await acquireBackupLock(fs.db, { runId: "r", trigger: "cli", now: T0 }));
    const again = await acquireBackupLock(fs.db, {
      runId: "r",
      trigger: "cli",
      now: later(1000),
      token: first.token,
    });
    expect(again.acquired).toBe(true);
  });
});

describe("a run that finds the lease held", () => {
  it("answers busy at once while the lease was just renewed (a live heartbeat)", async () => {
    await take(fs.db, "holder");
    const t = performance.now();
    expect(await take(fs.db, "second")).toMatchObject({ acquired: false, heldBy: "holder" });
    expect(performance.now() - t).toBeLessThan(SHORT.retryPeriodMs);
  });

  it("takes over a lease whose heartbeat stopped once it lapses, within one lease", async () => {
    await take(fs.db, "killed"); // taken, never renewed: its process died
    await sleep(SHORT.retryPeriodMs * 2); // no renewal for longer than a live holder allows
    const t = performance.now();
    const next = await take(fs.db, "next");
    const waited = performance.now() - t;
    expect(next.acquired).toBe(true);
    expect((await lockRef(fs.db).get()).get("runId")).toBe("next");
    expect(waited).toBeLessThan(SHORT.durationMs + 4 * SHORT.retryPeriodMs + 1000);
  });

  it("takes over a dead lease by what it observes, whatever the clocks say (frozen clock)", async () => {
    await take(fs.db, "killed", () => T0);
    // This run's clock says the lease has a while to go, for ever: what it observes decides.
    const next = await take(fs.db, "next", () => later(SHORT.durationMs / 2));
    expect(next.acquired).toBe(true);
  });

  it("answers busy within a retry period or two while the holder's heartbeat runs", async () => {
    const holder = holderOf(await take(fs.db, "alive"));
    const heartbeat = keepLeaseAlive(fs.db, holder, () => new Date(), SHORT);
    try {
      const t = performance.now();
      const second = await take(fs.db, "second");
      expect(second).toMatchObject({ acquired: false, heldBy: "alive" });
      expect(performance.now() - t).toBeLessThan(SHORT.durationMs);
      expect(heartbeat.lost).toBe(false);
    } finally {
      heartbeat.stop();
    }
  });

  it("answers busy when the holder releases the lease while it waits (that run has finished)", async () => {
    const holder = holderOf(await take(fs.db, "finishing"));
    await sleep(SHORT.retryPeriodMs * 2); // its heartbeat looks stopped: the second run watches
    const waiting = take(fs.db, "second");
    await sleep(SHORT.retryPeriodMs);
    await releaseBackupLock(fs.db, holder);
    expect(await waiting).toMatchObject({ acquired: false, heldBy: "finishing" });
  });

  it("does not wait for a lease longer than a heartbeat lease (an older release's 15 minutes)", async () => {
    await acquireBackupLock(fs.db, {
      runId: "old",
      trigger: "schedule",
      now: new Date(),
      ttlMs: 15 * 60_000,
    });
    const t = performance.now();
    expect(await take(fs.db, "new")).toMatchObject({ acquired: false, heldBy: "old" });
    expect(performance.now() - t).toBeLessThan(1000);
  });
});

describe("the heartbeat", () => {
  it("keeps the lease past its length while it beats", async () => {
    const holder = holderOf(await take(fs.db, "long-run"));
    const heartbeat = keepLeaseAlive(fs.db, holder, () => new Date(), SHORT);
    try {
      await sleep(SHORT.durationMs * 2);
      expect(heartbeat.lost).toBe(false);
      expect(await readBackupLock(fs.db, new Date())).toMatchObject({ runId: "long-run" });
    } finally {
      heartbeat.stop();
    }
  });

  it("says the run must stop writing once it cannot renew within the renew deadline", async () => {
    const holder = holderOf(await take(fs.db, "cut-off"));
    const heartbeat = keepLeaseAlive(fs.db, holder, () => new Date(), SHORT);
    const db = fs.db as unknown as { runTransaction: Firestore["runTransaction"] };
    // Firestore stops answering the renewals (UNAVAILABLE).
    db.runTransaction = () =>
      Promise.reject(Object.assign(new Error("14 UNAVAILABLE: injected"), { code: 14 }));
    try {
      const t = performance.now();
      while (!heartbeat.lost && performance.now() - t < 5_000) await sleep(50);
      const lostAfter = performance.now() - t;
      expect(heartbeat.lost).toBe(true);
      // Not before the deadline, and well before the lease lapses for everyone else.
      expect(lostAfter).toBeGreaterThanOrEqual(SHORT.renewDeadlineMs - 100);
      expect(lostAfter).toBeLessThan(SHORT.durationMs);
    } finally {
      Reflect.deleteProperty(db, "runTransaction");
      heartbeat.stop();
    }
    // Once lost, it stays lost, even when Firestore answers again.
    await sleep(SHORT.retryPeriodMs * 2);
    expect(heartbeat.lost).toBe(true);
  });

  it("notices a takeover", async () => {
    const holder = holderOf(await take(fs.db, "old"));
    const heartbeat = keepLeaseAlive(fs.db, holder, () => new Date(), SHORT);
    try {
      await lockRef(fs.db).update({ token: "someone-else" });
      await sleep(SHORT.retryPeriodMs * 3);
      expect(heartbeat.lost).toBe(true);
    } finally {
      heartbeat.stop();
    }
  });
});

/** Until the stored lease has gone `ms` without renewal (by this process's clock). */
async function untilUnrenewedFor(db: Firestore, ms: number): Promise<void> {
  const renewedAt = (await lockRef(db).get()).get("renewedAt") as Timestamp;
  await sleep(Math.max(0, renewedAt.toMillis() + ms + 100 - Date.now()));
}

describe("a run and its lease", () => {
  let stack: Stack;
  afterEach(() => stack.close());

  it("a second delivery of a task (same run id) is busy, not a second run at once", async () => {
    stack = await startStack("lease-dup", { latencyMs: 300 });
    const first = await beginBackup(stack.deps(), { trigger: "manual", runId: "task-1" });
    const second = await beginBackup(stack.deps(), { trigger: "manual", runId: "task-1" });
    expect(first.busy).toBe(false);
    expect(second).toMatchObject({ busy: true, heldBy: "task-1" });
    if (first.busy || !second.busy) throw new Error("unreachable");
    // A task's duplicate delivery is not retried: the first delivery is doing the work.
    expect(shouldRetry(second.result)).toBe(false);
    expect((await first.completion).status).toBe("completed");
    expect((await listBackupRuns(stack.db, 5)).map((r) => r.runId)).toEqual(["task-1"]);
  });

  it("busy is retryable for the scheduled trigger only", async () => {
    stack = await startStack("lease-busy", { latencyMs: 300 });
    const holder = await beginBackup(stack.deps(), { trigger: "manual" });
    if (holder.busy) throw new Error("the lease was taken");
    const scheduled = await runBackup(stack.deps(), { trigger: "schedule" });
    const manual = await runBackup(stack.deps(), { trigger: "manual" });
    await holder.completion;
    expect(scheduled).toMatchObject({ status: "busy", error: { code: "busy", retryable: true } });
    expect(shouldRetry(scheduled)).toBe(true); // Cloud Scheduler runs it again later
    expect(manual).toMatchObject({ status: "busy", error: { code: "busy", retryable: false } });
    expect(shouldRetry(manual)).toBe(false);
  });

  it("stops writing (lock_lost) when the heartbeat cannot renew within the renew deadline", async () => {
    stack = await startStack("lease-lost");
    // Short enough to wait out, long enough for a whole run's renewals on a loaded machine.
    const timing = leaseTiming(4_500);
    const db = stack.db as unknown as { runTransaction: Firestore["runTransaction"] };
    let blocked = false;
    try {
      const result = await runBackup(
        stack.deps({
          lockTtlMs: timing.durationMs,
          writeChunkSize: 10,
          hooks: {
            afterWriteChunk: async ({ chunk }) => {
              if (chunk !== 1) return;
              // Firestore stops answering the lease's renewals for longer than the deadline.
              blocked = true;
              db.runTransaction = () =>
                Promise.reject(Object.assign(new Error("14 UNAVAILABLE: injected"), { code: 14 }));
              await sleep(timing.renewDeadlineMs + 2 * timing.retryPeriodMs);
            },
          },
        }),
        { trigger: "schedule" },
      );
      expect(blocked).toBe(true);
      expect(result).toMatchObject({ status: "failed", error: { code: "lock_lost" } });
      // Chunks flushed side by side before the renewals stopped; none started after the loss.
      const total = RESOURCE_NAMES.reduce((s, r) => s + stack.sandbox.data[r].size, 0);
      expect(result.written).toBeGreaterThanOrEqual(10);
      expect(result.written).toBeLessThanOrEqual(total);
    } finally {
      Reflect.deleteProperty(db, "runTransaction");
    }
    // The next run finds the lease unrenewed, waits for it to lapse and converges.
    const next = await runBackup(stack.deps({ lockTtlMs: timing.durationMs }), {
      trigger: "schedule",
    });
    expect(next.status).toBe("completed");
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  });

  /**
   * A CLI run killed by SIGKILL mid-sync (as OOM or a function's timeout kill a run) leaves its
   * lease. The next run, started at once, sees that nobody renews it, waits for it to lapse
   * (at most 15 s after the last renewal) and completes: seconds, not the old 15 minutes.
   */
  it("after a run is killed mid-sync, the next run takes over within one lease and completes", async () => {
    stack = await startStack("lease-killed", {
      seed: { members: 1_000, companies: 40, opportunities: 70 },
    });
    const env = baseEnv({
      ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
      GCLOUD_PROJECT: stack.fs.projectId,
    });
    let killedAt = 0;
    const killed = await spawnCli(["run", "--json"], env, (entry, child) => {
      if (entry.event === "backup_progress" && entry.phase === "sync" && entry.chunk === 1) {
        killedAt = performance.now();
        child.kill("SIGKILL");
      }
    }).done;
    expect(killed.signal).toBe("SIGKILL");
    const expiresAt = (await lockRef(stack.db).get()).get("expiresAt") as Timestamp;
    expect(expiresAt.toMillis()).toBeLessThanOrEqual(Date.now() + LEASE_DURATION_MS);
    expect(await readBackupMetadata(stack.db)).toBeNull(); // killed: nothing recorded
    // Within 3 s of the last renewal the lease still looks live (busy at once); then it is watched.
    await untilUnrenewedFor(stack.db, 1.5 * RETRY_PERIOD_MS);

    const next = await spawnCli(["run", "--json"], env).done;
    const afterKillMs = performance.now() - killedAt;
    expect(next.code).toBe(0);
    expect(next.result?.status).toBe("completed");
    expect(next.entries.map((e) => e.event)).toContain("backup_lock_taken_over");
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
    // One lease (15 s) plus a run and two process starts; the old lease blocked for 15 minutes.
    expect(afterKillMs).toBeLessThan(60_000);
  }, 120_000);
});
