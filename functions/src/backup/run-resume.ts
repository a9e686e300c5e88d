import { Timestamp } from "firebase-admin/firestore";
import { logs } from "../logs";
import type { ResourceName } from "../officernd/resources";
import { within } from "../mirror/deadline";
import {
  clearCheckpoint,
  loadCheckpoint,
  MAX_CONTINUATIONS,
  saveAdopted,
  saveCheckpoint,
  type Checkpoint,
  type SavedRun,
} from "./checkpoint";
import { recordAbandoned } from "./metadata";
import { describeError } from "./problems";
import { emptyProgress, type ResourceProgress } from "./progress";
import { firestoreTimeout, type BackupDeps } from "./run-deps";

/**
 * Which run a full-run attempt is, by its checkpoint (./checkpoint.ts): a new run; the run it goes
 * on with (a continuation, a crash, the next CLI `run`); or a new run starting from a failed
 * run's positions. And what becomes of the checkpoint when an attempt ends or is cut off.
 */

export interface RunStart {
  runId: string;
  trigger: Checkpoint["trigger"];
  startedAt: Date;
  now: () => Date;
}

function now(ctx: RunStart): Timestamp {
  return Timestamp.fromDate(ctx.now());
}

/** The saved run to go on with, or a new one (whose checkpoint is saved now). */
export async function startOrResume(
  deps: BackupDeps,
  ctx: RunStart,
  names: readonly ResourceName[],
  listingStartedAt: number,
  options: { fresh: boolean },
): Promise<Omit<SavedRun, "ranges"> & { ranges: RangeProgress }> {
  const timeout = firestoreTimeout(deps);
  const saved = await loadCheckpoint(deps.db, timeout);
  if (saved !== null) {
    const { checkpoint } = saved;
    const abandon = options.fresh || checkpoint.continuations >= MAX_CONTINUATIONS;
    if (!abandon && checkpoint.endedFailed) {
      // A run that failed on something passing (OfficeRnD's 5xx, its daily quota): this run goes
      // on from its position under its own id; the failed run keeps its record. The listing start
      // stays the first one (documents written since are not removed).
      const adopted: Checkpoint = {
        ...checkpoint,
        runId: ctx.runId,
        trigger: ctx.trigger,
        startedAt: Timestamp.fromDate(ctx.startedAt),
        continuations: 0,
        endedFailed: false,
        updatedAt: now(ctx),
      };
      const { progress, ranges } = startedOver(consistent(saved));
      // Header and positions at once: positions left under the old id would be ignored.
      await saveAdopted(deps.db, adopted, progress, rangeMaps(ranges), timeout);
      logs.backupProgress({ runId: ctx.runId, phase: "resumed", after: checkpoint.runId });
      return { checkpoint: adopted, progress, ranges };
    }
    // Every resource listed, checked and settled: the run ended (a crash before its checkpoint
    // was cleared); resuming it would read nothing and skip today's backup.
    const done = names.every((n) => {
      const p = saved.progress.get(n);
      return p !== undefined && p.listed && p.counted && p.settled;
    });
    if (!abandon && !done) {
      logs.backupProgress({
        runId: checkpoint.runId,
        phase: "resumed",
        continuation: checkpoint.continuations,
        attemptRunId: ctx.runId,
      });
      return { checkpoint, ...consistent(saved) };
    }
    const reason = options.fresh
      ? "a fresh run was asked for"
      : done
        ? "it had ended"
        : `continued ${checkpoint.continuations} times without ending`;
    logs.backupProgress({ runId: checkpoint.runId, phase: "abandoned", reason });
    // Its history entry stops saying `continuing` (best effort: the new run goes ahead anyway).
    if (!done && !checkpoint.endedFailed) {
      await within(recordAbandoned(deps.db, checkpoint.runId, reason), timeout).catch(
        (error: unknown) => {
          logs.backupProgress({
            runId: checkpoint.runId,
            phase: "abandoned",
            reason: `its history entry could not be updated: ${describeError(error)}`,
          });
        },
      );
    }
    await clearCheckpoint(deps.db, timeout);
  }
  const checkpoint: Checkpoint = {
    runId: ctx.runId,
    trigger: ctx.trigger,
    startedAt: Timestamp.fromDate(ctx.startedAt),
    listingStartedAt,
    continuations: 0,
    resources: [...names],
    endedFailed: false,
    updatedAt: now(ctx),
  };
  await saveCheckpoint(deps.db, checkpoint, timeout);
  return { checkpoint, progress: new Map(), ranges: new Map() };
}

/** The ranges of each split type, in order (./split-listing.ts). */
export type RangeProgress = Map<ResourceName, ResourceProgress[]>;

function rangeMaps(ranges: RangeProgress): Map<ResourceName, Map<number, ResourceProgress>> {
  return new Map([...ranges].map(([name, list]) => [name, new Map(list.entries())]));
}

/**
 * A failed run's progress, as a new run's start: its positions, not its work (counts reset). A
 * resource whose removals were held back (a guard, a short listing) is read again from the
 * start: its hold is what the new run must look at afresh.
 */
function startedOver(saved: {
  progress: Map<ResourceName, ResourceProgress>;
  ranges: RangeProgress;
}): {
  progress: Map<ResourceName, ResourceProgress>;
  ranges: RangeProgress;
} {
  const { progress, ranges } = saved;
  for (const [name, p] of progress) {
    if (p.holds.length > 0 || p.unverified !== null) {
      // A split type too: planned afresh (./split-plan.ts lists a short split in one chain).
      progress.set(name, emptyProgress());
      ranges.delete(name);
      continue;
    }
    for (const q of [p, ...(ranges.get(name) ?? [])]) {
      Object.assign(q, { missing: 0, changed: 0, written: 0, removed: 0, writeConflicts: 0 });
    }
  }
  return { progress, ranges };
}

/**
 * A resource whose saved position cannot be resumed (records merged, but no cursor to go on
 * from, and the listing not ended) starts over: listing it again is only slower.
 */
function consistent(saved: SavedRun): {
  progress: Map<ResourceName, ResourceProgress>;
  ranges: RangeProgress;
} {
  const { progress } = saved;
  const resumable = (p: ResourceProgress) => p.listed || p.cursor !== null || p.lastId === null;
  const ranges: RangeProgress = new Map();
  for (const [name, p] of progress) {
    if (!resumable(p)) progress.set(name, emptyProgress());
    // A split type: each range from its own position, a range without one from its start.
    const split = progress.get(name)?.split ?? null;
    if (split === null) continue;
    const stored = saved.ranges.get(name);
    ranges.set(
      name,
      Array.from({ length: split.points.length + 1 }, (_, i) => {
        const r = stored?.get(i);
        return r !== undefined && resumable(r) ? r : emptyProgress();
      }),
    );
  }
  return { progress, ranges };
}

/**
 * What becomes of the ended run's checkpoint, once the run is recorded (a crash before keeps it
 * as it was): deleted, or marked as the starting position of the next run.
 */
export async function endCheckpoint(
  deps: BackupDeps,
  runId: string,
  after: "clear" | "seed",
): Promise<void> {
  const timeout = firestoreTimeout(deps);
  const ended =
    after === "clear"
      ? clearCheckpoint(deps.db, timeout)
      : loadCheckpoint(deps.db, timeout).then((saved) =>
          saved?.checkpoint.runId === runId
            ? saveCheckpoint(deps.db, { ...saved.checkpoint, endedFailed: true }, timeout)
            : undefined,
        );
  await ended.catch((error: unknown) => {
    logs.backupProgress({ runId, phase: "checkpoint_kept", reason: String(error) });
  });
}

/**
 * An attempt cut off at its time budget (./run.ts) hands its run over as one that stopped at the
 * budget would: the checkpoint (saved after each chunk) counts one more hand-over. Null when the
 * checkpoint is not this run's (nothing to hand over). Returns the hand-overs before this one.
 */
export async function handOverCutOff(deps: BackupDeps, runId: string): Promise<number | null> {
  const timeout = firestoreTimeout(deps);
  const saved = await loadCheckpoint(deps.db, timeout);
  if (saved === null || saved.checkpoint.runId !== runId) return null;
  const { checkpoint } = saved;
  await saveCheckpoint(
    deps.db,
    { ...checkpoint, continuations: checkpoint.continuations + 1, updatedAt: Timestamp.now() },
    timeout,
  );
  return checkpoint.continuations;
}
