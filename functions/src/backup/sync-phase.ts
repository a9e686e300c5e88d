import { logs } from "../logs";
import { RESOURCE_NAMES } from "../officernd/resources";
import { within } from "../mirror/deadline";
import { recordConflicts } from "./conflicts";
import { renewBackupLock, LOCK_TTL_MS, type LeaseHeartbeat } from "./lock";
import { addNote, type SyncPlan } from "./plan";
import {
  describeError,
  firestoreProblem,
  lockLostProblem,
  LockLostError,
  type BackupError,
} from "./problems";
import { applyRecordWrites, type WriteOutcome } from "../mirror/bulk-writes";
import { firestoreTimeout, type BackupDeps } from "./run-deps";

/**
 * Phase 3 of a run, sync: the plan's writes, in chunks, while the run still holds its lease.
 * Every write is conditional on the version the read saw (./record-writer.ts), so a document a
 * webhook changed meanwhile is left as it is (a conflict, compared again next run). What the
 * writes did goes into the plan's per-resource stats; what went wrong comes back as problems.
 */

export interface SyncResult {
  written: number;
  conflicts: number;
  problems: BackupError[];
}

const NOTHING: SyncResult = { written: 0, conflicts: 0, problems: [] };

export async function syncPlan(
  deps: BackupDeps,
  run: { runId: string; now: () => Date; lease: LeaseHeartbeat },
  plan: SyncPlan,
): Promise<SyncResult> {
  const { runId } = run;
  if (plan.readFailed) {
    logs.backupProgress({ runId, phase: "sync_skipped", reason: "a read failed; nothing written" });
    return NOTHING;
  }
  const deferred = Object.values(plan.deferred).reduce((sum, ids) => sum + ids.length, 0);
  const remembered = await rememberConflicts(deps, run, plan);
  if (plan.writes.length === 0) {
    if (deferred === 0)
      logs.backupProgress({ runId, phase: "in_sync", reason: "no document differs" });
    return { ...NOTHING, conflicts: deferred, problems: remembered };
  }
  // The lease must cover the sync: renewed now, and checked after every chunk.
  const renewed = await within(
    // This attempt's own lease (its token), not any attempt of the same run id.
    renewBackupLock(deps.db, run.lease.holder, run.now(), deps.lockTtlMs ?? LOCK_TTL_MS),
    firestoreTimeout(deps),
  ).catch((e: unknown) => e);
  if (renewed !== true) {
    return {
      ...NOTHING,
      conflicts: deferred,
      problems: [
        ...remembered,
        renewed === false
          ? lockLostProblem(runId)
          : firestoreProblem("firestore_write", "could not renew the lock before syncing", renewed),
      ],
    };
  }
  logs.backupProgress({ runId, phase: "sync", total: plan.writes.length });
  const outcome = await applyRecordWrites(deps.db, plan.writes, {
    source: "backup",
    now: run.now(),
    chunkSize: deps.writeChunkSize,
    chunkTimeoutMs: firestoreTimeout(deps),
    bulkWriter: deps.bulkWriter,
    onChunk: async (progress) => {
      logs.backupProgress({ runId, phase: "sync", ...progress });
      if (run.lease.lost) throw new LockLostError(runId);
      await deps.hooks?.afterWriteChunk?.(progress);
    },
  });
  const problems = [...remembered, ...outcomeProblems(outcome, plan)];
  if (outcome.conflicts.length > 0) {
    logs.backupProgress({
      runId,
      phase: "conflicts",
      conflicts: outcome.conflicts.length,
      reason: "documents changed during the run were left as they are",
    });
  }
  return { written: outcome.written, conflicts: outcome.conflicts.length + deferred, problems };
}

/**
 * Keeps the ids this run left alone (./conflicts.ts), so the next run repairs what it finds in
 * conflict again. Not being able to is a problem of the run, not a reason to stop it.
 */
async function rememberConflicts(
  deps: BackupDeps,
  run: { runId: string; now: () => Date },
  plan: SyncPlan,
): Promise<BackupError[]> {
  try {
    await recordConflicts(
      deps.db,
      { runId: run.runId, now: run.now() },
      plan.deferred,
      firestoreTimeout(deps),
    );
    return [];
  } catch (error) {
    return [firestoreProblem("firestore_write", "could not record this run's conflicts", error)];
  }
}

/** Counts per resource into the plan's stats; unstorable records, failures and stops as problems. */
function outcomeProblems(outcome: WriteOutcome, plan: SyncPlan): BackupError[] {
  const problems: BackupError[] = [];
  for (const name of RESOURCE_NAMES) {
    const counts = outcome.byResource[name];
    const stats = plan.resources[name];
    stats.written = counts.written;
    stats.removed = counts.removed;
    stats.conflicts += counts.conflicts;
    stats.unstorable = counts.unstorable;
    const unstorable = outcome.unstorable.filter((u) => u.resource === name);
    if (unstorable.length === 0) continue;
    const sample = unstorable
      .slice(0, 3)
      .map((u) => `${u.id} (${u.reason})`)
      .join(", ");
    const message = `${name}: ${unstorable.length} record(s) Firestore cannot store were not written: ${sample}`;
    addNote(stats, message);
    problems.push({ code: "unstorable_record", message, retryable: false, resource: name });
  }
  if (outcome.failed.length > 0) {
    const first = outcome.failed[0];
    problems.push({
      code: "firestore_write",
      message:
        `${outcome.failed.length} write(s) failed (first: ${first?.resource} ${first?.id}: ` +
        `${first?.reason}); ${outcome.notAttempted} not attempted`,
      retryable: true,
      resource: first?.resource ?? null,
    });
  }
  const stopped = outcome.stoppedBy;
  if (stopped instanceof LockLostError) {
    problems.push({
      code: "lock_lost",
      message: stopped.message,
      retryable: false,
      resource: null,
    });
  } else if (stopped !== null) {
    problems.push({
      code: "firestore_write",
      message: `sync stopped after ${outcome.written} write(s), ${outcome.notAttempted} not attempted: ${describeError(stopped)}`,
      retryable: true,
      resource: null,
    });
  }
  return problems;
}
