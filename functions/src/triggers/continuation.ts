import { createHash } from "node:crypto";
import { getFunctions } from "firebase-admin/functions";
import { z } from "zod";
import { BACKUP_TRIGGERS } from "../backup/documents";
import type { BackupRunResult } from "../backup/run";
import { defaultApp } from "../firebase";
import { logs } from "../logs";
import { BACKUP_TASK_FUNCTION } from "../wiring";

/**
 * Hand-over between the attempts of one long full run. An attempt that reaches its time budget
 * saves a checkpoint and ends `continuing` (backup/full-run.ts); the function that ran it enqueues
 * a task on the `officeRndBackupTask` queue, whose function resumes the run from the checkpoint
 * (same run id), and so on until the run ends. Cloud Tasks runs each task at least once; its id is
 * derived from the run and the continuation number, so the same hand-over cannot be enqueued twice
 * (Cloud Tasks refuses a task id used within about an hour: `functions/task-already-exists`,
 * firebase-admin TaskOptions.id), and a duplicate delivery finds the lease held or the run over.
 */

/** The longest a task-queue function may run (Cloud Tasks' dispatch deadline is 30 minutes). */
export const TASK_TIMEOUT_SECONDS = 1_800;

export const backupTaskSchema = z.object({
  runId: z.string().regex(/^[0-9A-Za-z-]{1,64}$/),
  trigger: z.enum(BACKUP_TRIGGERS),
  /** Set on a continuation: the run to go on with (nothing is done if it has ended). */
  continues: z.boolean().default(false),
  continuation: z.number().int().min(0).default(0),
});
export type BackupTask = z.input<typeof backupTaskSchema>;

export type EnqueueTask = (task: BackupTask, id: string) => Promise<void>;

/** Production: the task queue of the officeRndBackupTask function. */
export const enqueueOnTaskQueue: EnqueueTask = async (task, id) => {
  await getFunctions(defaultApp())
    .taskQueue<BackupTask>(BACKUP_TASK_FUNCTION)
    .enqueue(task, { id, dispatchDeadlineSeconds: TASK_TIMEOUT_SECONDS });
};

/** A task id spread evenly over the key space (Cloud Tasks asks for hashed ids). */
export function continuationTaskId(runId: string, continuation: number): string {
  return createHash("sha256").update(`${runId}/${continuation}`).digest("hex").slice(0, 40);
}

/** When the run goes on, enqueues its continuation. True when one was enqueued (or existed). */
export async function handOver(result: BackupRunResult, enqueue: EnqueueTask): Promise<boolean> {
  if (result.status !== "continuing") return false;
  const continuation = result.continuations + 1;
  const task: BackupTask = {
    runId: result.runId,
    trigger: result.trigger,
    continues: true,
    continuation,
  };
  try {
    await enqueue(task, continuationTaskId(result.runId, continuation));
  } catch (error) {
    if (!alreadyExists(error)) throw error;
  }
  logs.backupProgress({ runId: result.runId, phase: "handed_over", continuation });
  return true;
}

function alreadyExists(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    "code" in error &&
    error.code === "functions/task-already-exists"
  );
}
