import {
  FieldPath,
  FieldValue,
  type BulkWriter,
  type BulkWriterOptions,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type Timestamp,
} from "firebase-admin/firestore";
import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import { FIRESTORE_TIMEOUT_MS, settlesWithin, within } from "./deadline";
import {
  GRPC_FAILED_PRECONDITION,
  GRPC_INVALID_ARGUMENT,
  grpcCode,
  isAmbiguousCode,
  isConflictCode,
  isRetryableCode,
} from "./firestore-errors";
import { recordDocument, recordRef, SYNC_FIELD, syncInfo } from "./record-document";
import { recordHash } from "./record-hash";
import type { WriteContext } from "./record-writes";
import { chunkWrites, MAX_CHUNK_BYTES, sizeWrites } from "./write-chunks";

/**
 * The backup's writes: conditional on the version the run read (a webhook that lands during a
 * run wins; the next run compares that document again), in chunks through a BulkWriter.
 */

// ---- Backup writes (conditional, in bulk) --------------------------------------------------------

/** The version of an existing document the backup read; its writes apply only to that version. */
export interface DocumentBase {
  updateTime: Timestamp;
  /** Top-level field names of the stored document (so a replace removes stray fields). */
  fields: readonly string[];
}

export type RecordWrite =
  /** The document did not exist when read: created only if it still does not. */
  | { op: "create"; resource: ResourceName; record: OfficeRndRecord }
  /** The document is replaced by the record (content and `_sync`), if unchanged since read. */
  | { op: "replace"; resource: ResourceName; record: OfficeRndRecord; base: DocumentBase }
  | { op: "markRemoved"; resource: ResourceName; id: string; base: DocumentBase }
  | { op: "delete"; resource: ResourceName; id: string; base: DocumentBase };

export function writeId(write: RecordWrite): string {
  return write.op === "create" || write.op === "replace" ? write.record._id : write.id;
}

export interface WriteIssue {
  resource: ResourceName;
  id: string;
  op: RecordWrite["op"];
  reason: string;
}

export interface ResourceWriteCounts {
  written: number;
  removed: number;
  conflicts: number;
  unstorable: number;
  failed: number;
}

export interface WriteOutcome {
  written: number;
  byResource: Record<ResourceName, ResourceWriteCounts>;
  /** The document changed after it was read (a webhook, another writer): left as it is. */
  conflicts: WriteIssue[];
  unstorable: WriteIssue[];
  /** Firestore refused the write (after retries) for another reason. */
  failed: WriteIssue[];
  /** Writes not attempted because an earlier chunk failed or `onChunk` stopped the sync. */
  notAttempted: number;
  /** What `onChunk` threw, when it stopped the sync; null otherwise. */
  stoppedBy: unknown;
  /**
   * Writes counted as written although their last attempt met a conflict: an earlier attempt,
   * failed ambiguously, had been applied (the document holds what they wrote).
   */
  confirmedAfterRetry: number;
}

export interface ChunkProgress {
  chunk: number;
  chunks: number;
  done: number;
  total: number;
  written: number;
}

export interface ApplyWritesOptions extends WriteContext {
  /** Writes per chunk; each chunk is flushed before the next starts (default 500). */
  chunkSize?: number;
  /** Estimated request bytes per chunk (default MAX_CHUNK_BYTES, 8 MiB). */
  maxChunkBytes?: number;
  /**
   * Called after each chunk is flushed. Throwing stops the sync: the remaining writes are not
   * attempted and the error is returned as `stoppedBy` (the engine stops when it lost its lock;
   * tests kill a run mid-sync this way).
   */
  onChunk?: (progress: ChunkProgress) => void | Promise<void>;
  bulkWriter?: BulkWriterOptions;
  /** Attempts per write for transient Firestore errors (default 4). */
  maxAttempts?: number;
  /**
   * Longest wait for one chunk (default 60 s, see ./deadline.ts). Past it the sync stops as after
   * a failed chunk: the writes still unanswered are reported failed (not confirmed) and the rest
   * are not attempted, so the run can end, record and free its lock while Firestore is down.
   */
  chunkTimeoutMs?: number;
}

const NO_ANSWER = Symbol("no answer");

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function emptyCounts(): Record<ResourceName, ResourceWriteCounts> {
  return Object.fromEntries(
    RESOURCE_NAMES.map((n) => [
      n,
      { written: 0, removed: 0, conflicts: 0, unstorable: 0, failed: 0 },
    ]),
  ) as Record<ResourceName, ResourceWriteCounts>;
}

/** Replaces a document if it is still at `version`; else fails with FAILED_PRECONDITION. */
async function replaceInTransaction(
  db: Firestore,
  ref: DocumentReference,
  doc: DocumentData,
  version: Timestamp,
): Promise<void> {
  let attempt = 0;
  await db.runTransaction(async (tx) => {
    attempt += 1;
    const snap = await tx.get(ref);
    if (snap.updateTime?.isEqual(version)) {
      tx.set(ref, doc);
      return;
    }
    // The SDK retries a transaction whose commit failed, ambiguously too (DEADLINE_EXCEEDED,
    // UNKNOWN): a retry that finds what we write found its own earlier commit.
    if (attempt > 1 && snap.exists && recordHash(snap.data() ?? {}) === recordHash(doc)) return;
    throw Object.assign(new Error(`${ref.path} changed since it was read`), {
      code: GRPC_FAILED_PRECONDITION,
    });
  });
}

function enqueue(
  writer: BulkWriter,
  db: Firestore,
  write: RecordWrite,
  context: WriteContext,
): Promise<unknown> {
  const ref = recordRef(db, write.resource, writeId(write));
  switch (write.op) {
    case "create":
      return writer.create(
        ref,
        recordDocument(write.record, syncInfo(context.source, context.now)),
      );
    case "replace": {
      // update() with one FieldPath per top-level field replaces each field whole (no dotted-path
      // surprises) and, unlike set(), accepts a last-update-time precondition.
      const doc = recordDocument(write.record, syncInfo(context.source, context.now));
      if ([...Object.keys(doc), ...write.base.fields].some((f) => f in Object.prototype)) {
        // The SDK cannot build an update of a field named like an Object.prototype member
        // (`constructor`, `toString`, …): it fails the whole batch. Such a rare document is
        // replaced in a transaction instead, under the same condition.
        return replaceInTransaction(db, ref, doc, write.base.updateTime);
      }
      const args: unknown[] = [];
      for (const [key, value] of Object.entries(doc)) args.push(new FieldPath(key), value);
      for (const stray of write.base.fields) {
        if (!Object.hasOwn(doc, stray)) args.push(new FieldPath(stray), FieldValue.delete());
      }
      const [first, firstValue, ...rest] = args;
      return writer.update(ref, first as FieldPath, firstValue, ...rest, {
        lastUpdateTime: write.base.updateTime,
      });
    }
    case "markRemoved":
      return writer.update(
        ref,
        new FieldPath(SYNC_FIELD),
        syncInfo(context.source, context.now, true),
        { lastUpdateTime: write.base.updateTime },
      );
    case "delete":
      return writer.delete(ref, { lastUpdateTime: write.base.updateTime });
  }
}

/**
 * Whether a write that ended as a conflict had in fact been applied by an earlier attempt whose
 * answer was lost: the document now holds what we wrote (by content hash), is marked removed, or
 * is gone, as the write would have left it.
 */
function alreadyApplied(write: RecordWrite, snap: DocumentSnapshot): boolean {
  switch (write.op) {
    case "create":
    case "replace":
      return snap.exists && recordHash(snap.data() ?? {}) === recordHash(write.record);
    case "markRemoved":
      return snap.exists && snap.get(new FieldPath(SYNC_FIELD, "removedAt")) != null;
    case "delete":
      return !snap.exists;
  }
}

/**
 * Applies the backup's writes with a BulkWriter (batches far below the 500-writes limit, retries
 * of transient errors with backoff, one write's failure never failing another), chunk by chunk,
 * each chunk capped in writes and in request bytes. Every write is conditional on the version
 * that was read, so re-running after a crash or a partial failure is safe and converges. Records
 * Firestore cannot store are refused up front. A write retried after an ambiguous failure
 * (DEADLINE_EXCEEDED, UNKNOWN: its first attempt may have been applied) that then meets a
 * conflict is re-read: if the document holds what we wrote, it counts as written.
 */
export async function applyRecordWrites(
  db: Firestore,
  writes: readonly RecordWrite[],
  options: ApplyWritesOptions,
): Promise<WriteOutcome> {
  const chunkSize = Math.max(1, options.chunkSize ?? 500);
  const maxChunkBytes = Math.max(1, options.maxChunkBytes ?? MAX_CHUNK_BYTES);
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const outcome: WriteOutcome = {
    written: 0,
    byResource: emptyCounts(),
    conflicts: [],
    unstorable: [],
    failed: [],
    notAttempted: 0,
    stoppedBy: null,
    confirmedAfterRetry: 0,
  };
  const issue = (write: RecordWrite, reason: string): WriteIssue => ({
    resource: write.resource,
    id: writeId(write),
    op: write.op,
    reason,
  });

  const { storable, unstorable } = sizeWrites(writes);
  for (const { write, reason } of unstorable) {
    outcome.unstorable.push(issue(write, reason));
    outcome.byResource[write.resource].unstorable += 1;
  }
  if (storable.length === 0) return outcome;

  const chunkTimeoutMs = options.chunkTimeoutMs ?? FIRESTORE_TIMEOUT_MS;
  let stalled = false;
  // Documents whose write failed ambiguously at least once: a later conflict is checked.
  const ambiguous = new Set<string>();
  const writer = db.bulkWriter(options.bulkWriter);
  writer.onWriteError((error) => {
    const code = error.code as number;
    if (isAmbiguousCode(code)) ambiguous.add(error.documentRef.path);
    return isRetryableCode(code) && error.failedAttempts < maxAttempts;
  });
  const chunks = chunkWrites(storable, chunkSize, maxChunkBytes);
  const total = storable.length;
  let done = 0;
  try {
    for (let chunk = 0; chunk < chunks.length; chunk += 1) {
      const slice = chunks[chunk] ?? [];
      // null once written, the error once refused, NO_ANSWER while Firestore has not answered.
      const results: unknown[] = slice.map(() => NO_ANSWER);
      const pending = slice.map((write, i) => {
        let result: Promise<unknown>;
        try {
          result = enqueue(writer, db, write, options);
        } catch (error) {
          // The SDK validates data before sending; sizeWrites() should have caught it.
          result = Promise.reject(Object.assign(new Error(errorText(error)), { code: 3 }));
        }
        return result.then(
          () => {
            results[i] = null;
          },
          (error: unknown) => {
            results[i] = error ?? new Error("write failed");
          },
        );
      });
      const answered = writer.flush().then(() => Promise.all(pending));
      stalled = !(await settlesWithin(answered, chunkTimeoutMs));
      const applied = stalled
        ? new Set<number>()
        : await confirmApplied(db, slice, results, ambiguous, chunkTimeoutMs);
      outcome.confirmedAfterRetry += applied.size;
      slice.forEach((write, i) => {
        const result = applied.has(i) ? null : results[i];
        const counts = outcome.byResource[write.resource];
        if (result === NO_ANSWER) {
          outcome.failed.push(issue(write, `no answer from Firestore within ${chunkTimeoutMs} ms`));
          counts.failed += 1;
          return;
        }
        const error = result ?? null;
        const code = error === null ? null : grpcCode(error);
        if (error === null) {
          outcome.written += 1;
          counts.written += 1;
          if (write.op === "markRemoved" || write.op === "delete") counts.removed += 1;
        } else if (isConflictCode(code)) {
          outcome.conflicts.push(issue(write, errorText(error)));
          counts.conflicts += 1;
        } else if (code === GRPC_INVALID_ARGUMENT) {
          outcome.unstorable.push(issue(write, errorText(error)));
          counts.unstorable += 1;
        } else {
          outcome.failed.push(issue(write, errorText(error)));
          counts.failed += 1;
        }
      });
      done += slice.length;
      if (outcome.failed.length > 0) {
        // Firestore keeps refusing writes after retries: stop here, the next run resumes.
        outcome.notAttempted = total - done;
        break;
      }
      try {
        await options.onChunk?.({
          chunk: chunk + 1,
          chunks: chunks.length,
          done,
          total,
          written: outcome.written,
        });
      } catch (error) {
        outcome.stoppedBy = error;
        outcome.notAttempted = total - done;
        break;
      }
    }
  } finally {
    // After a stall, close() would wait for the unanswered writes as long as the client retries.
    if (stalled) void writer.close().catch(() => undefined);
    else await writer.close().catch(() => undefined);
  }
  return outcome;
}

/**
 * The writes of a chunk that ended as conflicts after an ambiguous failure but whose document
 * holds what they wrote (their indexes). A read that fails leaves them conflicts: compared again
 * next run.
 */
async function confirmApplied(
  db: Firestore,
  slice: readonly RecordWrite[],
  results: readonly unknown[],
  ambiguous: ReadonlySet<string>,
  timeoutMs: number,
): Promise<Set<number>> {
  const suspects = slice.flatMap((write, i) => {
    const ref = recordRef(db, write.resource, writeId(write));
    return isConflictCode(grpcCode(results[i])) && ambiguous.has(ref.path) ? [{ i, ref }] : [];
  });
  if (suspects.length === 0) return new Set();
  const snaps = await within(db.getAll(...suspects.map((s) => s.ref)), timeoutMs).catch(() => null);
  if (snaps === null) return new Set();
  return new Set(
    suspects
      .filter((s, k) => alreadyApplied(slice[s.i] as RecordWrite, snaps[k] as DocumentSnapshot))
      .map((s) => s.i),
  );
}
