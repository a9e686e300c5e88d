import { createHash } from "node:crypto";
import {
  DocumentReference,
  FieldPath,
  FieldValue,
  GeoPoint,
  Timestamp,
  type BulkWriter,
  type BulkWriterOptions,
  type DocumentData,
  type Firestore,
  type Transaction,
} from "firebase-admin/firestore";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import { FIRESTORE_TIMEOUT_MS, settlesWithin } from "./deadline";
import { SYNC_FIELD, type SyncInfo, type SyncSource } from "./documents";

/**
 * The one record writer of the product, shared by the backup engine and the webhook handler:
 * - the Firestore document of an OfficeRnD record (the record as returned, plus `_sync`);
 * - the canonical content hash that every comparison uses (ignores `_sync` and key order);
 * - a check for values Firestore cannot store, so such a record fails on its own, clearly;
 * - writes: single ones (also queued inside a caller's transaction, which the webhook uses to
 *   compare `modifiedAt` and write atomically), and the backup's conditional ones, which only
 *   apply if the document is still the version the backup read (a webhook that lands during a
 *   run wins; the next run re-checks that document).
 */

// ---- Document format and content hash ---------------------------------------------------------

export function recordRef(db: Firestore, resource: ResourceName, id: string): DocumentReference {
  return db.collection(RESOURCES[resource].collection).doc(id);
}

export function syncInfo(source: SyncSource, at: Date, removed = false): SyncInfo {
  const time = Timestamp.fromDate(at);
  return { syncedAt: time, source, removedAt: removed ? time : null };
}

/** The document stored for a record: every field as OfficeRnD sent it, plus `_sync`. */
export function recordDocument(record: OfficeRndRecord, sync: SyncInfo): DocumentData {
  return { ...record, [SYNC_FIELD]: { ...sync } };
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Appends a canonical encoding of `value`: JSON with object keys sorted, and values JSON cannot
 * hold (Timestamps, references, bytes, NaN, … which a corrupted document may contain) written as
 * `!tag(...)`, which no JSON value can produce, so they never compare equal to a record.
 */
function encode(
  value: unknown,
  out: string[],
  skip: ((key: string, value: unknown) => boolean) | null,
): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "string":
      out.push(JSON.stringify(value));
      return;
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      out.push(Number.isFinite(value) ? JSON.stringify(value) : `!num(${String(value)})`);
      return;
    case "object":
      break;
    default:
      out.push(`!${typeof value}`);
      return;
  }
  if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      encode(item, out, null);
    });
    out.push("]");
    return;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined && !(skip?.(k, value[k]) ?? false))
      .sort();
    out.push("{");
    keys.forEach((key, i) => {
      if (i > 0) out.push(",");
      out.push(JSON.stringify(key), ":");
      encode(value[key], out, null);
    });
    out.push("}");
    return;
  }
  if (value instanceof Timestamp) out.push(`!ts(${value.seconds},${value.nanoseconds})`);
  else if (value instanceof GeoPoint) out.push(`!geo(${value.latitude},${value.longitude})`);
  else if (value instanceof DocumentReference) out.push(`!ref(${JSON.stringify(value.path)})`);
  else if (value instanceof Uint8Array)
    out.push(`!bytes(${Buffer.from(value).toString("base64")})`);
  else out.push(`!obj(${JSON.stringify(value.constructor?.name ?? "unknown")})`);
}

/**
 * Top-level fields the comparison leaves out: `_sync` (ours), and custom `properties` when there
 * are none. OfficeRnD omits `properties` entirely when a member has none (docs/officernd-api.md),
 * while other answers about the same record send `{}` (or null): all three mean the same, and
 * must not look like drift on every run.
 */
function skippedTopLevel(key: string, value: unknown): boolean {
  if (key === SYNC_FIELD) return true;
  return (
    key === "properties" &&
    (value === null ||
      (typeof value === "object" && isPlainObject(value) && Object.keys(value).length === 0))
  );
}

/** The canonical form of a record or record document (see `skippedTopLevel`). */
export function canonicalRecord(data: Readonly<Record<string, unknown>>): string {
  const out: string[] = [];
  encode(data, out, skippedTopLevel);
  return out.join("");
}

/**
 * Content hash of a record or of its Firestore document: equal exactly when the content is equal,
 * whatever the key order and whatever `_sync` holds. 256-bit SHA, base64url (43 characters).
 */
export function recordHash(data: Readonly<Record<string, unknown>>): string {
  return createHash("sha256").update(canonicalRecord(data)).digest("base64url");
}

export function sameRecordContent(
  a: Readonly<Record<string, unknown>>,
  b: Readonly<Record<string, unknown>>,
): boolean {
  return canonicalRecord(a) === canonicalRecord(b);
}

// ---- What Firestore cannot store ----------------------------------------------------------------

/** Firestore's limits (firebase.google.com/docs/firestore/quotas). */
const MAX_DOCUMENT_BYTES = 1_048_576;
const MAX_DEPTH = 20;
const MAX_FIELD_NAME_BYTES = 1_500;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** `_sync` as stored: a map of two timestamps and a short string (storage-size rules). */
const SYNC_FIELD_BYTES = SYNC_FIELD.length + 1 + ("syncedAt".length + 1 + 8) * 2 + 16;

export class UnstorableRecordError extends Error {
  constructor(
    readonly resource: ResourceName,
    readonly id: string,
    readonly reason: string,
  ) {
    super(`${resource} ${id}: Firestore cannot store this record: ${reason}`);
    this.name = "UnstorableRecordError";
  }
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function describePath(path: readonly (string | number)[]): string {
  return path.length === 0
    ? "(root)"
    : path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
}

class StorageProblem extends Error {}

/**
 * Returns the stored size of `value` per Firestore's storage-size rules, or throws a
 * StorageProblem for the first value Firestore would refuse (or silently alter).
 */
function measure(value: unknown, path: (string | number)[], depth: number, inArray: boolean) {
  const where = () => describePath(path);
  if (value === null) return 1;
  switch (typeof value) {
    case "string":
      if (LONE_SURROGATE.test(value))
        throw new StorageProblem(`${where()}: string is not valid UTF-16/UTF-8`);
      return utf8Bytes(value) + 1;
    case "boolean":
      return 1;
    case "number":
      return 8;
    case "object":
      break;
    default:
      throw new StorageProblem(`${where()}: ${typeof value} values cannot be stored`);
  }
  if (depth > MAX_DEPTH)
    throw new StorageProblem(`${where()}: nested deeper than ${MAX_DEPTH} levels`);
  let size = 0;
  if (Array.isArray(value)) {
    if (inArray)
      throw new StorageProblem(`${where()}: an array directly inside an array cannot be stored`);
    for (let i = 0; i < value.length; i += 1) {
      path.push(i);
      size += measure(value[i], path, depth + 1, true);
      path.pop();
    }
    return size;
  }
  if (!isPlainObject(value))
    throw new StorageProblem(`${where()}: ${value.constructor?.name} values cannot be stored`);
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined)
      throw new StorageProblem(`${where()}.${key}: undefined values cannot be stored`);
    if (key === "") throw new StorageProblem(`${where()}: empty field names cannot be stored`);
    if (/^__.*__$/.test(key))
      throw new StorageProblem(`${where()}.${key}: field names like __x__ are reserved`);
    if (LONE_SURROGATE.test(key))
      throw new StorageProblem(`${where()}: a field name is not valid UTF-16/UTF-8`);
    const keyBytes = utf8Bytes(key);
    if (keyBytes > MAX_FIELD_NAME_BYTES)
      throw new StorageProblem(`${where()}: a field name exceeds 1500 bytes`);
    path.push(key);
    size += keyBytes + 1 + measure(item, path, depth + 1, false);
    path.pop();
  }
  return size;
}

/** Why Firestore cannot store this record's document, or null when it can. */
export function findUnstorable(resource: ResourceName, record: OfficeRndRecord): string | null {
  if (Object.prototype.hasOwnProperty.call(record, SYNC_FIELD)) {
    return `field ${SYNC_FIELD} is reserved for sync metadata`;
  }
  try {
    const nameBytes = utf8Bytes(RESOURCES[resource].collection) + 1 + utf8Bytes(record._id) + 1;
    const size = nameBytes + 16 + measure(record, [], 0, false) + SYNC_FIELD_BYTES + 32;
    if (size > MAX_DOCUMENT_BYTES) {
      return `the document would be ${size} bytes (Firestore's limit is ${MAX_DOCUMENT_BYTES})`;
    }
    return null;
  } catch (problem) {
    if (problem instanceof StorageProblem) return problem.message;
    throw problem;
  }
}

// ---- One record, unconditionally (tools, tests): the transaction variants below, committed alone -

export interface WriteContext {
  source: SyncSource;
  now: Date;
}

/** Creates or replaces a record's document. Throws UnstorableRecordError before writing anything. */
export async function writeRecord(
  db: Firestore,
  resource: ResourceName,
  record: OfficeRndRecord,
  context: WriteContext,
): Promise<void> {
  await db.runTransaction((tx) => {
    writeRecordIn(tx, db, resource, record, context);
    return Promise.resolve();
  });
}

/** Marks a record removed in OfficeRnD (content kept). False when there is no such document. */
export async function markRecordRemoved(
  db: Firestore,
  resource: ResourceName,
  id: string,
  context: WriteContext,
): Promise<boolean> {
  return db.runTransaction(async (tx) => {
    const snapshot = await tx.get(recordRef(db, resource, id));
    if (!snapshot.exists) return false;
    markRecordRemovedIn(tx, db, resource, id, context);
    return true;
  });
}

// ---- Writes inside a caller's transaction (the webhook's check-then-write) ----------------------
// The same documents as above; the caller reads the current document in the same transaction and
// decides (e.g. by `modifiedAt`) whether to write, so the check and the write are one atomic step.

/** Queues a create-or-replace in `tx`. Throws UnstorableRecordError before queuing anything. */
export function writeRecordIn(
  tx: Transaction,
  db: Firestore,
  resource: ResourceName,
  record: OfficeRndRecord,
  context: WriteContext,
): void {
  const problem = findUnstorable(resource, record);
  if (problem !== null) throw new UnstorableRecordError(resource, record._id, problem);
  tx.set(
    recordRef(db, resource, record._id),
    recordDocument(record, syncInfo(context.source, context.now)),
  );
}

/** Queues marking an existing document removed (content kept); the transaction read it. */
export function markRecordRemovedIn(
  tx: Transaction,
  db: Firestore,
  resource: ResourceName,
  id: string,
  context: WriteContext,
): void {
  tx.update(
    recordRef(db, resource, id),
    new FieldPath(SYNC_FIELD),
    syncInfo(context.source, context.now, true),
  );
}

export function deleteRecordIn(
  tx: Transaction,
  db: Firestore,
  resource: ResourceName,
  id: string,
): void {
  tx.delete(recordRef(db, resource, id));
}

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

const GRPC_UNKNOWN = 2;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_FAILED_PRECONDITION = 9;
const GRPC_ABORTED = 10;
const GRPC_INTERNAL = 13;
const GRPC_UNAVAILABLE = 14;

const TRANSIENT_GRPC = new Set([
  GRPC_UNKNOWN,
  GRPC_DEADLINE_EXCEEDED,
  GRPC_RESOURCE_EXHAUSTED,
  GRPC_ABORTED,
  GRPC_INTERNAL,
  GRPC_UNAVAILABLE,
]);
const CONFLICT_GRPC = new Set([GRPC_NOT_FOUND, GRPC_ALREADY_EXISTS, GRPC_FAILED_PRECONDITION]);

/** The gRPC status code of a Firestore error, or null. */
export function grpcCode(error: unknown): number | null {
  if (typeof error !== "object" || error === null || !("code" in error)) return null;
  const code = error.code;
  return typeof code === "number" ? code : null;
}

/** Whether a Firestore error may go away on a later attempt (unknown errors: yes). */
export function isTransientFirestoreError(error: unknown): boolean {
  const code = grpcCode(error);
  return code === null || TRANSIENT_GRPC.has(code);
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
  await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.updateTime?.isEqual(version)) {
      throw Object.assign(new Error(`${ref.path} changed since it was read`), {
        code: GRPC_FAILED_PRECONDITION,
      });
    }
    tx.set(ref, doc);
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
 * Applies the backup's writes with a BulkWriter (batches far below the 500-writes limit, retries
 * of transient errors with backoff, one write's failure never failing another), chunk by chunk.
 * Every write is conditional on the version that was read, so re-running after a crash or a
 * partial failure is safe and converges. Records Firestore cannot store are refused up front.
 */
export async function applyRecordWrites(
  db: Firestore,
  writes: readonly RecordWrite[],
  options: ApplyWritesOptions,
): Promise<WriteOutcome> {
  const chunkSize = Math.max(1, options.chunkSize ?? 500);
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const outcome: WriteOutcome = {
    written: 0,
    byResource: emptyCounts(),
    conflicts: [],
    unstorable: [],
    failed: [],
    notAttempted: 0,
    stoppedBy: null,
  };
  const issue = (write: RecordWrite, reason: string): WriteIssue => ({
    resource: write.resource,
    id: writeId(write),
    op: write.op,
    reason,
  });

  const storable: RecordWrite[] = [];
  for (const write of writes) {
    const problem =
      write.op === "create" || write.op === "replace"
        ? findUnstorable(write.resource, write.record)
        : null;
    if (problem === null) {
      storable.push(write);
    } else {
      outcome.unstorable.push(issue(write, problem));
      outcome.byResource[write.resource].unstorable += 1;
    }
  }
  if (storable.length === 0) return outcome;

  const chunkTimeoutMs = options.chunkTimeoutMs ?? FIRESTORE_TIMEOUT_MS;
  let stalled = false;
  const writer = db.bulkWriter(options.bulkWriter);
  writer.onWriteError((error) => {
    const code = error.code as number;
    return TRANSIENT_GRPC.has(code) && error.failedAttempts < maxAttempts;
  });
  const chunks = Math.ceil(storable.length / chunkSize);
  try {
    for (let chunk = 0; chunk < chunks; chunk += 1) {
      const slice = storable.slice(chunk * chunkSize, (chunk + 1) * chunkSize);
      // null once written, the error once refused, NO_ANSWER while Firestore has not answered.
      const results: unknown[] = slice.map(() => NO_ANSWER);
      const pending = slice.map((write, i) => {
        let result: Promise<unknown>;
        try {
          result = enqueue(writer, db, write, options);
        } catch (error) {
          // The SDK validates data before sending; findUnstorable should have caught it.
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
      slice.forEach((write, i) => {
        const result = results[i];
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
        } else if (code !== null && CONFLICT_GRPC.has(code)) {
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
      const done = Math.min(storable.length, (chunk + 1) * chunkSize);
      if (outcome.failed.length > 0) {
        // Firestore keeps refusing writes after retries: stop here, the next run resumes.
        outcome.notAttempted = storable.length - done;
        break;
      }
      try {
        await options.onChunk?.({
          chunk: chunk + 1,
          chunks,
          done,
          total: storable.length,
          written: outcome.written,
        });
      } catch (error) {
        outcome.stoppedBy = error;
        outcome.notAttempted = storable.length - done;
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
