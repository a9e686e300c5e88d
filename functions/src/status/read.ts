import type { Firestore } from "firebase-admin/firestore";
import { type BackupMetadata, type RunMode } from "../backup/documents";
import { SYNC_FIELD } from "../mirror/record-document";
import { readBackupRuns } from "../backup/metadata";
import { logs } from "../logs";

/**
 * What the status reads besides the engine's own readers (../backup/metadata.ts, ../backup/lock.ts).
 * Nothing here writes.
 */

/**
 * The newest `limit` run history documents, newest first: the full runs' (what the metrics
 * describe), or also the incremental runs' (`modes`). Documents that do not match the
 * schema are skipped (one bad entry must not hide the rest) and logged.
 */
export async function listValidRuns(
  db: Firestore,
  limit: number,
  modes: readonly RunMode[] = ["full"],
): Promise<BackupMetadata[]> {
  const { runs, invalid } = await readBackupRuns(db, limit, modes);
  for (const problem of invalid) {
    logs.statusDocumentInvalid({ path: problem.path, issues: problem.issues });
  }
  return runs;
}

/**
 * Active mirrored records of one collection, by count aggregations only (no document reads):
 * all documents minus those whose `_sync.removedAt` is set (gone from OfficeRnD, kept as marked).
 * Documents without the field (not written by this product) count as active.
 */
export async function countActiveRecords(db: Firestore, collection: string): Promise<number> {
  const ref = db.collection(collection);
  const [all, removed] = await Promise.all([
    ref.count().get(),
    ref.where(`${SYNC_FIELD}.removedAt`, "!=", null).count().get(),
  ]);
  return Math.max(0, all.data().count - removed.data().count);
}
