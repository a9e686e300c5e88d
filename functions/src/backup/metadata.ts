import { randomBytes } from "node:crypto";
import {
  Timestamp,
  type CollectionReference,
  type DocumentReference,
  type Firestore,
  type QueryDocumentSnapshot,
} from "firebase-admin/firestore";
import {
  backupMetadataSchema,
  ERRORS_COLLECTION,
  errorDocSchema,
  INCREMENTAL_STATE_DOC,
  METADATA_DOC,
  RUNS_SUBCOLLECTION,
  type BackupMetadata,
  type ErrorDoc,
  type RunMode,
} from "./documents";
import { METADATA_COLLECTION } from "../mirror/collections";

/**
 * What a run leaves behind:
 * - /officeRndMetadata/backup-metadata: the latest run (the seed's fields, then ours);
 * - /officeRndMetadata/backup-metadata/runs/{runId}: one history document per run, same shape;
 * - /errors/officeRndDataBackup-{runId}: when the run failed (no secrets, no payloads).
 * An incremental run leaves backup-metadata alone (it stays the last full backup, which the
 * 48-hour alert means): its history document goes to /officeRndMetadata/incremental-state/runs/
 * and its error to /errors/officeRndIncrementalSync-{runId}.
 * Run ids sort by start time (readable in the console); the history is read by `startedAt`.
 */

export const BACKUP_FUNCTION_NAME = "officeRndDataBackup";
export const INCREMENTAL_FUNCTION_NAME = "officeRndIncrementalSync";

/** The function whose runs are of this mode (the /errors document names it). */
export function functionNameOf(mode: RunMode): string {
  return mode === "full" ? BACKUP_FUNCTION_NAME : INCREMENTAL_FUNCTION_NAME;
}

export function metadataRef(db: Firestore): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(METADATA_DOC);
}

/** The history of the full runs (default) or of the incremental ones. */
export function runsRef(db: Firestore, mode: RunMode = "full"): CollectionReference {
  const parent =
    mode === "full"
      ? metadataRef(db)
      : db.collection(METADATA_COLLECTION).doc(INCREMENTAL_STATE_DOC);
  return parent.collection(RUNS_SUBCOLLECTION);
}

/** `20261125T105812345Z-9f3a1c`: UTC start time to the millisecond, then 24 random bits. */
export function newRunId(startedAt: Date): string {
  const time = startedAt.toISOString().replace(/[-:.]/g, "");
  return `${time}-${randomBytes(3).toString("hex")}`;
}

const SECRET_PATTERNS: readonly RegExp[] = [
  /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi,
  /((?:access_token|client_secret|token|secret|password|authorization)["']?\s*[:=]\s*["']?)[^\s"'&,;]+/gi,
];

/** The longest error message stored or logged (./metadata's documents, the run's summary). */
export const ERROR_MESSAGE_CHARS = 500;

/**
 * An error message fit for /errors, the metadata and logs: one line, at most `max` characters
 * (ERROR_MESSAGE_CHARS), and anything shaped like a credential replaced (messages of our own
 * never carry one; this guards messages from libraries).
 */
export function safeErrorMessage(message: string, max = ERROR_MESSAGE_CHARS): string {
  let text = message.replace(/\s+/g, " ").trim();
  for (const pattern of SECRET_PATTERNS) text = text.replace(pattern, "$1[redacted]");
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/** A stored backup document that does not match its schema. */
export class InvalidBackupDocumentError extends Error {
  constructor(
    readonly path: string,
    readonly issues: string,
  ) {
    super(`${path} does not match its schema: ${issues}`);
    this.name = "InvalidBackupDocumentError";
  }
}

function parseMetadata(path: string, data: unknown): BackupMetadata {
  const parsed = backupMetadataSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
  throw new InvalidBackupDocumentError(path, issues);
}

export interface RunRecord {
  /** The run as the metadata and history documents store it (lastCompletedAt is filled here). */
  run: Omit<BackupMetadata, "lastCompletedAt">;
  /** The /errors document when the run failed. */
  failure: Omit<ErrorDoc, "functionName" | "runId" | "time" | "trigger"> | null;
}

/**
 * Writes the run's metadata, history and (when failed) error documents in one transaction. The
 * latest-run document is only replaced by a run that started later than the one it holds, and
 * `lastCompletedAt` carries over across failed runs. An incremental run writes its history and
 * error documents only (its `lastCompletedAt` is its own end when it completed).
 */
export async function recordBackupRun(db: Firestore, record: RunRecord): Promise<BackupMetadata> {
  const { run, failure } = record;
  if (run.mode === "incremental") {
    const lastCompletedAt = run.status === "completed" ? run.finishedAt : null;
    const full: BackupMetadata = backupMetadataSchema.parse({ ...run, lastCompletedAt });
    const batch = db.batch();
    batch.set(runsRef(db, "incremental").doc(run.runId), full);
    if (failure !== null) batch.set(errorRef(db, run.runId, "incremental"), errorDoc(run, failure));
    await batch.commit();
    return full;
  }
  if (run.status === "continuing") {
    // An attempt that handed over: the run's history entry says how far it is; the metadata
    // keeps describing the last run that ended, and there is no failure to file.
    const entry: BackupMetadata = backupMetadataSchema.parse({ ...run, lastCompletedAt: null });
    await runsRef(db).doc(run.runId).set(entry);
    return entry;
  }
  const latestRef = metadataRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(latestRef);
    const previous = snap.exists ? backupMetadataSchema.safeParse(snap.data()) : null;
    const previousData = previous?.success ? previous.data : null;
    // A malformed latest document still yields its lastCompletedAt when that field is intact.
    const previousCompleted =
      previousData?.lastCompletedAt ??
      (snap.get("lastCompletedAt") instanceof Timestamp
        ? (snap.get("lastCompletedAt") as Timestamp)
        : null);
    const lastCompletedAt = run.status === "completed" ? run.finishedAt : previousCompleted;
    const full: BackupMetadata = backupMetadataSchema.parse({ ...run, lastCompletedAt });
    // The same run again (a resumed run that failed, then ended) replaces its own record.
    const newer =
      previousData === null ||
      previousData.runId === run.runId ||
      previousData.startedAt.toMillis() <= run.startedAt.toMillis();
    if (newer) tx.set(latestRef, full);
    tx.set(runsRef(db).doc(run.runId), full);
    if (failure !== null) tx.set(errorRef(db, run.runId), errorDoc(run, failure));
    return full;
  });
}

/**
 * A run given up before it ended (`run --fresh`, or too many hand-overs: ./run-resume.ts): its
 * history entry, `continuing` since its last hand-over, says it failed and why, so no list shows
 * it as going on for ever. Nothing else is recorded: the metadata keeps the last run that ended,
 * and the run that replaces it reports on the data.
 */
export async function recordAbandoned(db: Firestore, runId: string, reason: string): Promise<void> {
  const ref = runsRef(db).doc(runId);
  await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (snap.get("status") !== "continuing") return;
    tx.update(ref, {
      status: "failed",
      error: safeErrorMessage(`abandoned: ${reason}`),
      errorCode: "abandoned",
      errorRetryable: false,
    });
  });
}

function errorDoc(run: RunRecord["run"], failure: NonNullable<RunRecord["failure"]>): ErrorDoc {
  return errorDocSchema.parse({
    functionName: functionNameOf(run.mode),
    runId: run.runId,
    message: safeErrorMessage(failure.message),
    code: failure.code,
    time: run.finishedAt,
    trigger: run.trigger,
    resource: failure.resource,
  });
}

/** The latest run's metadata; null before the first run. Throws InvalidBackupDocumentError. */
export async function readBackupMetadata(db: Firestore): Promise<BackupMetadata | null> {
  const snap = await metadataRef(db).get();
  return snap.exists ? parseMetadata(snap.ref.path, snap.data()) : null;
}

export interface BackupRuns {
  /** Newest first. */
  runs: BackupMetadata[];
  /** History documents that did not match the schema (skipped, so one cannot hide the rest). */
  invalid: InvalidBackupDocumentError[];
}

/** The newest `limit` history documents, newest first; malformed ones are skipped. */
export async function listBackupRuns(db: Firestore, limit: number): Promise<BackupMetadata[]> {
  return (await readBackupRuns(db, limit)).runs;
}

/**
 * Like listBackupRuns, and also says which documents were skipped. `modes`: whose history (default
 * the full runs'); with both, the two histories merged, newest first.
 */
export async function readBackupRuns(
  db: Firestore,
  limit: number,
  modes: readonly RunMode[] = ["full"],
): Promise<BackupRuns> {
  const n = Math.max(1, Math.floor(limit));
  // Newest first by start time (single-field index; run ids sort the same way).
  const snaps = await Promise.all(
    modes.map((mode) => runsRef(db, mode).orderBy("startedAt", "desc").limit(n).get()),
  );
  const docs = snaps
    .flatMap((snap) => snap.docs)
    .sort((a, b) => startMillis(b) - startMillis(a))
    .slice(0, n);
  const out: BackupRuns = { runs: [], invalid: [] };
  for (const doc of docs) {
    try {
      out.runs.push(parseMetadata(doc.ref.path, doc.data()));
    } catch (error) {
      if (!(error instanceof InvalidBackupDocumentError)) throw error;
      out.invalid.push(error);
    }
  }
  return out;
}

function startMillis(doc: QueryDocumentSnapshot): number {
  const started: unknown = doc.get("startedAt");
  return started instanceof Timestamp ? started.toMillis() : 0;
}

export function errorRef(db: Firestore, runId: string, mode: RunMode = "full"): DocumentReference {
  return db.collection(ERRORS_COLLECTION).doc(`${functionNameOf(mode)}-${runId}`);
}

/** The /errors document of a failed run; null when there is none (or it is malformed). */
export async function readBackupError(
  db: Firestore,
  runId: string,
  mode: RunMode = "full",
): Promise<ErrorDoc | null> {
  const snap = await errorRef(db, runId, mode).get();
  const parsed = errorDocSchema.safeParse(snap.data());
  return snap.exists && parsed.success ? parsed.data : null;
}
