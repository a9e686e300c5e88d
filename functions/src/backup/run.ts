/**
 * The backup engine: one run = lock, read OfficeRnD and Firestore side by side, diff by `_id` and
 * content, write only the documents that differ, record metadata, history and errors, log.
 * Plain TypeScript: the scheduled function, the admin callable, the HTTP trigger and the CLI all
 * call `beginBackup` / `runBackup` with a Firestore, an OfficeRnD reader and the backup config.
 *
 * Failure semantics (a run never throws for an expected failure; it records it and returns):
 * - Any OfficeRnD read failure (after the client's own retries), a duplicate id in a listing, or a
 *   Firestore read failure: nothing is written at all (the data already in Firestore stays as it
 *   is); the run is `failed`; the other resources' reads are cancelled.
 * - Records the client rejected (failed validation) for a resource: that resource's missing and
 *   changed records are still written, but none of its documents is marked removed or deleted (a
 *   rejected record would look orphaned); the run is `failed` (`invalid_records`).
 * - Shrink guard: OfficeRnD lists nothing for a resource that has documents, or lists fewer than
 *   (1 - shrinkGuard) of Firestore's live documents: no removals for it; `failed` (`shrink_guard`).
 * - A record Firestore cannot store (e.g. an array inside an array): that record alone is not
 *   written (its document, if any, stays as it is); `failed` (`unstorable_record`).
 * - A write refused after retries, or the sync stopped midway: `failed` (`firestore_write`); every
 *   write is conditional on the version read, so the next run converges.
 * - A document changed after this run read it (a webhook): left alone, counted in `conflicts`,
 *   the run still `completed` but not `inSync`; the next run compares it again.
 * - Another run holds the lock: status `busy`, nothing written, no metadata change, logged.
 *
 * What the scheduled function does with the result (rethrow policy):
 * - `completed` or `busy`: return normally.
 * - `failed` with `error.retryable` (OfficeRnD 429/5xx/network/timeouts that outlasted the
 *   client's retries, Firestore unavailable, the sync interrupted): rethrow, so Cloud Scheduler's
 *   retry config retries the run later (retries are safe: nothing half-applied can be wrong, and
 *   a retry that finds the data in sync writes nothing).
 * - `failed` and not retryable (shrink guard, rejected or unstorable records, bad credentials or
 *   scopes, invalid responses): return normally. A retry would fail the same way; the failure is
 *   in the metadata, in /errors and in the logs, where the alerts look.
 */
import { performance } from "node:perf_hooks";
import { Timestamp, type BulkWriterOptions, type Firestore } from "firebase-admin/firestore";
import type { BackupConfig } from "../config";
import { logs } from "../logs";
import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import { OfficeRndError, type ClientStats, type OfficeRndReader } from "../officernd/types";
import {
  emptyApiStats,
  emptyResourceStats,
  type ApiStats,
  type BackupMetadata,
  type BackupTrigger,
  type ResourceStats,
} from "./documents";
import { FIRESTORE_TIMEOUT_MS, FirestoreTimeoutError, within } from "./deadline";
import { readFirestoreIndex, type FirestoreIndex } from "./firestore-index";
import { acquireBackupLock, LOCK_TTL_MS, releaseBackupLock, renewBackupLock } from "./lock";
import { newRunId, recordBackupRun, safeErrorMessage } from "./metadata";
import {
  DuplicateRecordError,
  ResourceReconciler,
  shrinkage,
  shrinkGuardTripped,
  type ResourceDiff,
} from "./reconcile";
import {
  applyRecordWrites,
  grpcCode,
  isTransientFirestoreError,
  type ChunkProgress,
  type RecordWrite,
  type WriteOutcome,
} from "./record-writer";

// ---- Public types -----------------------------------------------------------------------------

export interface BackupHooks {
  /** After each write chunk is flushed. Throwing stops the sync as a crash would (tests). */
  afterWriteChunk?: (progress: ChunkProgress) => void | Promise<void>;
}

export interface BackupDeps {
  db: Firestore;
  /** One reader per run: its stats() are reported (as a difference, so sharing one works too). */
  reader: OfficeRndReader;
  config: BackupConfig;
  /** The run's clock (lock, timestamps); durations use a monotonic clock. */
  now?: () => Date;
  /** Lease length; renewed every third of it while the run lasts (default 15 minutes). */
  lockTtlMs?: number;
  /** Writes per chunk (default 500). */
  writeChunkSize?: number;
  /** Documents per Firestore query when indexing a collection (default 1000). */
  indexPageSize?: number;
  /**
   * Longest wait for one Firestore step: a lock transaction, a page of the index, a chunk of
   * writes, recording the run (default 60 s). Past it the step fails as `DEADLINE_EXCEEDED`, so
   * a Firestore outage ends the run in bounded time instead of at the function's timeout.
   */
  firestoreTimeoutMs?: number;
  bulkWriter?: BulkWriterOptions;
  hooks?: BackupHooks;
}

export interface BackupOptions {
  trigger: BackupTrigger;
  /** Default: newRunId(start time), which sorts by time. */
  runId?: string;
}

export type BackupErrorCode =
  | OfficeRndError["code"]
  | "busy"
  | "firestore_read"
  | "firestore_write"
  | "firestore_unavailable"
  | "lock_lost"
  | "shrink_guard"
  | "incomplete_listing"
  | "invalid_records"
  | "unstorable_record"
  | "metadata_write"
  | "config_error"
  | "internal";

export interface BackupError {
  code: BackupErrorCode;
  /** Every problem of the run, most important first, one line, no secrets. */
  message: string;
  /** A later attempt may succeed: the scheduled function rethrows so Cloud Scheduler retries. */
  retryable: boolean;
  resource: ResourceName | null;
}

export interface BackupRunResult {
  runId: string;
  trigger: BackupTrigger;
  status: "completed" | "failed" | "busy";
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  resources: Record<ResourceName, ResourceStats>;
  /** Total missing records across resources (the seed's `missingRecords`). */
  missingRecords: number;
  /** Record documents written (created, replaced, marked removed, deleted). */
  written: number;
  /** Firestore equalled OfficeRnD for every resource when the run ended. */
  inSync: boolean;
  /** OfficeRnD requests of this run. */
  api: ApiStats;
  error: BackupError | null;
  /** When busy: the run holding the lock. */
  heldBy: { runId: string; trigger: BackupTrigger; expiresAt: Date } | null;
}

export type BackupStart =
  | {
      busy: true;
      runId: string;
      heldBy: string;
      heldByTrigger: BackupTrigger;
      expiresAt: Date;
      result: BackupRunResult;
    }
  | { busy: false; runId: string; completion: Promise<BackupRunResult> };

// ---- Problems ---------------------------------------------------------------------------------

interface Problem {
  code: BackupErrorCode;
  message: string;
  retryable: boolean;
  resource: ResourceName | null;
}

/** Most important first: what the metadata's `errorCode` and the /errors document carry. */
const PRIORITY: readonly BackupErrorCode[] = [
  "config_error",
  "internal",
  "firestore_unavailable",
  "firestore_read",
  "auth",
  "org_not_found",
  "forbidden",
  "quota_exhausted",
  "not_found",
  "bad_request",
  "throttled",
  "server",
  "network",
  "timeout",
  "invalid_response",
  "pagination",
  "duplicate_id",
  "lock_lost",
  "firestore_write",
  "metadata_write",
  "unstorable_record",
  "invalid_records",
  "incomplete_listing",
  "shrink_guard",
  "busy",
];

function combine(problems: readonly Problem[]): BackupError | null {
  if (problems.length === 0) return null;
  const sorted = [...problems].sort((a, b) => PRIORITY.indexOf(a.code) - PRIORITY.indexOf(b.code));
  const first = sorted[0] as Problem;
  return {
    code: first.code,
    message: safeErrorMessage(sorted.map((p) => p.message).join("; ")),
    retryable: first.retryable,
    resource: first.resource,
  };
}

function describe(error: unknown): string {
  return safeErrorMessage(error instanceof Error ? error.message : String(error));
}

function apiProblem(resource: ResourceName, error: unknown): Problem {
  if (error instanceof OfficeRndError) {
    return {
      code: error.code,
      message: `${resource}: OfficeRnD read failed (${error.code}): ${describe(error)}`,
      retryable: error.retryable,
      resource,
    };
  }
  if (error instanceof DuplicateRecordError) {
    return { code: "duplicate_id", message: describe(error), retryable: false, resource };
  }
  return {
    code: "internal",
    message: `${resource}: OfficeRnD read failed unexpectedly: ${describe(error)}`,
    retryable: false,
    resource,
  };
}

function firestoreProblem(
  code: "firestore_read" | "firestore_write" | "firestore_unavailable" | "metadata_write",
  what: string,
  error: unknown,
  resource: ResourceName | null = null,
): Problem {
  const grpc = grpcCode(error);
  return {
    code,
    message: `${what}: ${describe(error)}${grpc === null ? "" : ` (gRPC ${grpc})`}`,
    retryable: isTransientFirestoreError(error),
    resource,
  };
}

// ---- Helpers ----------------------------------------------------------------------------------

function perResource<T>(make: (name: ResourceName) => T): Record<ResourceName, T> {
  return Object.fromEntries(RESOURCE_NAMES.map((n) => [n, make(n)])) as Record<ResourceName, T>;
}

function apiDelta(before: ClientStats, after: ClientStats): ApiStats {
  type Counter = "requests" | "tokenRequests" | "retries" | "throttled" | "waitMs";
  const d = (k: Counter) => Math.max(0, Math.round(after[k] - before[k]));
  const budget = after.budget;
  return {
    requests: d("requests"),
    tokenRequests: d("tokenRequests"),
    retries: d("retries"),
    throttled: d("throttled"),
    waitMs: d("waitMs"),
    // What this run used of OfficeRnD's read budget, and what its last answer said was left.
    budget:
      budget === undefined
        ? null
        : { ...budget, used: Math.max(0, budget.used - (before.budget?.used ?? 0)) },
  };
}

function addNote(stats: ResourceStats, note: string): void {
  stats.error = stats.error === null ? note : `${stats.error}; ${note}`;
}

function firestoreTimeout(deps: Pick<BackupDeps, "firestoreTimeoutMs">): number {
  return deps.firestoreTimeoutMs ?? FIRESTORE_TIMEOUT_MS;
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}

// ---- Reading ----------------------------------------------------------------------------------

interface ResourceRead {
  resource: ResourceName;
  index: FirestoreIndex | null;
  indexError: unknown;
  /** Set when both sides were read completely. */
  diff: ResourceDiff | null;
  apiError: unknown;
  /** Cancelled because another part of the run failed. */
  cancelled: boolean;
  received: number;
  rejected: number;
  /** Why the listing could not be shown complete by OfficeRnD's `/count`; null when it was. */
  unverified: string | null;
}

const PROGRESS_EVERY_PAGES = 20;

/**
 * The listing's completeness check before anything is removed: OfficeRnD's own total
 * (`GET /{resource}/count`, docs/officernd-api.md) against what the listing returned. Counted
 * after the listing, so records removed meanwhile only make the listing look longer (harmless);
 * a shorter listing means records may be missing from it. Null when complete or not countable.
 */
async function verifyListing(
  deps: BackupDeps,
  resource: ResourceName,
  listed: number,
  signal: AbortSignal,
): Promise<string | null> {
  if (deps.reader.count === undefined) return null;
  let total: number | null;
  try {
    total = await deps.reader.count(resource, { signal });
  } catch (error) {
    return `could not check the listing with OfficeRnD's /count (${describe(error)})`;
  }
  if (total === null || total <= listed) return null;
  return `OfficeRnD's /count says ${total} but the listing returned ${listed}`;
}

async function readResource(
  deps: BackupDeps,
  runId: string,
  resource: ResourceName,
  controller: AbortController,
): Promise<ResourceRead> {
  const started = performance.now();
  const reconciler = new ResourceReconciler(resource, deps.config.orphanPolicy);
  const read: ResourceRead = {
    resource,
    index: null,
    indexError: null,
    diff: null,
    apiError: null,
    cancelled: false,
    received: 0,
    rejected: 0,
    unverified: null,
  };
  const indexDone = readFirestoreIndex(deps.db, resource, {
    pageSize: deps.indexPageSize,
    pageTimeoutMs: firestoreTimeout(deps),
  }).then(
    (index) => {
      read.index = index;
      reconciler.setFirestoreIndex(index);
    },
    (error: unknown) => {
      read.indexError = error;
      controller.abort();
    },
  );
  const signal = controller.signal;
  let pages = 0;
  try {
    for await (const page of deps.reader.pages(resource, { signal })) {
      if (signal.aborted) {
        read.cancelled = true;
        break;
      }
      reconciler.addPage(page);
      read.rejected += page.rejected.length;
      pages += 1;
      if (pages % PROGRESS_EVERY_PAGES === 0) {
        logs.backupProgress({
          runId,
          phase: "reading",
          resource,
          pages,
          records: reconciler.received,
        });
      }
    }
  } catch (error) {
    if (signal.aborted && !(error instanceof DuplicateRecordError)) read.cancelled = true;
    else {
      read.apiError = error;
      controller.abort();
    }
  }
  read.received = reconciler.received;
  if (read.apiError === null && !read.cancelled) {
    read.unverified = await verifyListing(deps, resource, read.received + read.rejected, signal);
  }
  await indexDone;
  if (read.apiError === null && !read.cancelled && read.index !== null) {
    read.diff = reconciler.finish();
  }
  logs.backupProgress({
    runId,
    phase: "read",
    resource,
    api: read.apiError === null && !read.cancelled ? read.received : null,
    firestore: read.index?.live ?? null,
    firestoreRemoved: read.index?.removed ?? null,
    pages,
    rejected: read.rejected,
    durationMs: Math.round(performance.now() - started),
    ...(read.diff
      ? {
          missing: read.diff.missing.length,
          changed: read.diff.changed.length,
          orphaned: read.diff.orphaned.length,
        }
      : {}),
  });
  return read;
}

// ---- The run ----------------------------------------------------------------------------------

interface RunContext {
  deps: BackupDeps;
  runId: string;
  trigger: BackupTrigger;
  now: () => Date;
  startedAt: Date;
  started: number;
  statsBefore: ClientStats;
}

function finishResult(
  ctx: RunContext,
  resources: Record<ResourceName, ResourceStats>,
  problems: Problem[],
  extra: { written: number; conflicts: number },
): BackupRunResult {
  const error = combine(problems);
  const missingRecords = RESOURCE_NAMES.reduce((sum, n) => sum + resources[n].missing, 0);
  return {
    runId: ctx.runId,
    trigger: ctx.trigger,
    status: error === null ? "completed" : "failed",
    startedAt: ctx.startedAt,
    finishedAt: ctx.now(),
    durationMs: Math.max(0, Math.round(performance.now() - ctx.started)),
    resources,
    missingRecords,
    written: extra.written,
    inSync: error === null && extra.conflicts === 0,
    api: apiDelta(ctx.statsBefore, ctx.deps.reader.stats()),
    error,
    heldBy: null,
  };
}

function planWrites(
  diff: ResourceDiff,
  unverified: string | null,
  stats: ResourceStats,
  config: BackupConfig,
  problems: Problem[],
): RecordWrite[] {
  const { resource } = diff;
  const writes: RecordWrite[] = [];
  for (const { record, existing } of [...diff.missing, ...diff.changed]) {
    writes.push(
      existing === null
        ? { op: "create", resource, record }
        : { op: "replace", resource, record, base: existing },
    );
  }
  const guarded = shrinkGuardTripped(diff, config.shrinkGuard);
  if (guarded) {
    stats.guarded = true;
    const why =
      diff.api === 0
        ? `OfficeRnD listed no ${resource} while Firestore has ${diff.firestore}`
        : `OfficeRnD listed ${diff.api} ${resource} against ${diff.firestore} in Firestore ` +
          `(shrank ${pct(shrinkage(diff))}, more than the ${pct(config.shrinkGuard)} guard)`;
    const message = `${resource}: shrink guard: ${why}; ${diff.orphaned.length} removal(s) held back`;
    addNote(stats, message);
    problems.push({ code: "shrink_guard", message, retryable: false, resource });
  }
  if (diff.rejected > 0) {
    const message =
      `${resource}: ${diff.rejected} record(s) failed validation and were not stored; ` +
      `${diff.orphaned.length} removal(s) held back`;
    addNote(stats, message);
    problems.push({ code: "invalid_records", message, retryable: false, resource });
  }
  if (unverified !== null) {
    const message = `${resource}: ${unverified}; ${diff.orphaned.length} removal(s) held back`;
    addNote(stats, message);
    problems.push({ code: "incomplete_listing", message, retryable: true, resource });
  }
  if (!guarded && diff.rejected === 0 && unverified === null) {
    for (const { id, existing } of diff.orphaned) {
      writes.push(
        config.orphanPolicy === "delete"
          ? { op: "delete", resource, id, base: existing }
          : { op: "markRemoved", resource, id, base: existing },
      );
    }
  }
  return writes;
}

class LockLostError extends Error {
  constructor(runId: string) {
    super(`run ${runId} lost its lock (lease expired and taken over): sync stopped`);
    this.name = "LockLostError";
  }
}

async function execute(ctx: RunContext): Promise<BackupRunResult> {
  const { deps, runId } = ctx;
  const { db, config } = deps;
  const ttl = deps.lockTtlMs ?? LOCK_TTL_MS;
  const problems: Problem[] = [];
  const resources = perResource(() => emptyResourceStats());
  let lockLost = false;
  const heartbeat = setInterval(
    () => {
      renewBackupLock(db, runId, ctx.now(), ttl).then(
        (held) => {
          if (!held) lockLost = true;
        },
        () => undefined, // transient: the next beat tries again
      );
    },
    Math.max(1000, Math.floor(ttl / 3)),
  );
  heartbeat.unref();
  try {
    // 1. Read OfficeRnD and Firestore, all resources side by side.
    const controller = new AbortController();
    const reads = await Promise.all(
      RESOURCE_NAMES.map((resource) => readResource(deps, runId, resource, controller)),
    );

    // 2. Per-resource figures, and whether anything may be written.
    let readFailed = false;
    for (const read of reads) {
      const stats = resources[read.resource];
      stats.firestore = read.index?.live ?? 0;
      stats.rejected = read.rejected;
      if (read.indexError !== null) {
        readFailed = true;
        const p = firestoreProblem(
          "firestore_read",
          `${read.resource}: Firestore read failed`,
          read.indexError,
          read.resource,
        );
        problems.push(p);
        addNote(stats, p.message);
      }
      if (read.apiError !== null) {
        readFailed = true;
        const p = apiProblem(read.resource, read.apiError);
        problems.push(p);
        addNote(stats, p.message);
      } else if (read.cancelled) {
        readFailed = true;
        addNote(stats, `${read.resource}: not read completely (the run failed elsewhere)`);
      } else {
        stats.api = read.received;
      }
      if (read.diff !== null) {
        stats.missing = read.diff.missing.length;
        stats.changed = read.diff.changed.length;
        stats.orphaned = read.diff.orphaned.length;
      }
    }

    // 3. Sync: only when every read completed; only documents that differ.
    const writes: RecordWrite[] = [];
    if (!readFailed) {
      for (const read of reads) {
        if (read.diff)
          writes.push(
            ...planWrites(read.diff, read.unverified, resources[read.resource], config, problems),
          );
      }
    } else {
      logs.backupProgress({
        runId,
        phase: "sync_skipped",
        reason: "a read failed; nothing written",
      });
    }
    let outcome: WriteOutcome | null = null;
    if (writes.length > 0) {
      const renewed = await within(
        renewBackupLock(db, runId, ctx.now(), ttl),
        firestoreTimeout(deps),
      ).catch((e: unknown) => e);
      if (renewed !== true) {
        problems.push(
          renewed === false
            ? {
                code: "lock_lost",
                message: new LockLostError(runId).message,
                retryable: false,
                resource: null,
              }
            : firestoreProblem(
                "firestore_write",
                "could not renew the lock before syncing",
                renewed,
              ),
        );
      } else {
        logs.backupProgress({ runId, phase: "sync", total: writes.length });
        outcome = await applyRecordWrites(db, writes, {
          source: "backup",
          now: ctx.now(),
          chunkSize: deps.writeChunkSize,
          chunkTimeoutMs: firestoreTimeout(deps),
          bulkWriter: deps.bulkWriter,
          onChunk: async (progress) => {
            logs.backupProgress({ runId, phase: "sync", ...progress });
            if (lockLost) throw new LockLostError(runId);
            await deps.hooks?.afterWriteChunk?.(progress);
          },
        });
      }
    } else if (!readFailed) {
      logs.backupProgress({ runId, phase: "in_sync", reason: "no document differs" });
    }

    // 4. What the writes did.
    if (outcome !== null) {
      for (const name of RESOURCE_NAMES) {
        const counts = outcome.byResource[name];
        const stats = resources[name];
        stats.written = counts.written;
        stats.removed = counts.removed;
        stats.conflicts = counts.conflicts;
        stats.unstorable = counts.unstorable;
      }
      for (const name of RESOURCE_NAMES) {
        const unstorable = outcome.unstorable.filter((u) => u.resource === name);
        if (unstorable.length === 0) continue;
        const sample = unstorable
          .slice(0, 3)
          .map((u) => `${u.id} (${u.reason})`)
          .join(", ");
        const message = `${name}: ${unstorable.length} record(s) Firestore cannot store were not written: ${sample}`;
        addNote(resources[name], message);
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
      if (outcome.stoppedBy !== null) {
        const stopped = outcome.stoppedBy;
        problems.push(
          stopped instanceof LockLostError
            ? { code: "lock_lost", message: stopped.message, retryable: false, resource: null }
            : {
                code: "firestore_write",
                message: `sync stopped after ${outcome.written} write(s), ${outcome.notAttempted} not attempted: ${describe(stopped)}`,
                retryable: true,
                resource: null,
              },
        );
      }
      if (outcome.conflicts.length > 0) {
        logs.backupProgress({
          runId,
          phase: "conflicts",
          conflicts: outcome.conflicts.length,
          reason: "documents changed during the run were left as they are",
        });
      }
    }
    return finishResult(ctx, resources, problems, {
      written: outcome?.written ?? 0,
      conflicts: outcome?.conflicts.length ?? 0,
    });
  } catch (error) {
    problems.push({
      code: "internal",
      message: `backup failed unexpectedly: ${describe(error)}`,
      retryable: false,
      resource: null,
    });
    return finishResult(ctx, resources, problems, { written: 0, conflicts: 0 });
  } finally {
    clearInterval(heartbeat);
  }
}

function toMetadata(result: BackupRunResult): Omit<BackupMetadata, "lastCompletedAt"> {
  const status = result.status === "completed" ? "completed" : "failed";
  return {
    lastBackup: Timestamp.fromDate(result.startedAt),
    firestoreMembers: result.resources.members.firestore,
    apiMembers: result.resources.members.api,
    missingRecords: result.missingRecords,
    status,
    error: result.error?.message ?? null,
    updatedAt: Timestamp.fromDate(result.finishedAt),
    runId: result.runId,
    trigger: result.trigger,
    startedAt: Timestamp.fromDate(result.startedAt),
    finishedAt: Timestamp.fromDate(result.finishedAt),
    durationMs: result.durationMs,
    errorCode: result.error?.code ?? null,
    inSync: result.inSync,
    resources: result.resources,
    written: result.written,
    errorRetryable: result.error?.retryable ?? false,
    api: result.api,
  };
}

/** Metadata, history, /errors, then the summary log entry. Never throws. */
async function record(
  ctx: { deps: Pick<BackupDeps, "db" | "firestoreTimeoutMs"> },
  result: BackupRunResult,
): Promise<BackupRunResult> {
  let final = result;
  try {
    await within(
      recordBackupRun(ctx.deps.db, {
        run: toMetadata(result),
        failure: result.error && {
          code: result.error.code,
          message: result.error.message,
          resource: result.error.resource,
        },
      }),
      firestoreTimeout(ctx.deps),
    );
  } catch (error) {
    const problem = firestoreProblem("metadata_write", "could not record the run", error);
    const message = result.error ? `${result.error.message}; ${problem.message}` : problem.message;
    final = {
      ...result,
      status: "failed",
      inSync: false,
      error: {
        code: result.error?.code ?? problem.code,
        message: safeErrorMessage(message),
        retryable: result.error?.retryable ?? problem.retryable,
        resource: result.error?.resource ?? null,
      },
    };
  }
  const status = final.status === "completed" ? "completed" : "failed";
  logs.backupSummary({
    runId: final.runId,
    trigger: final.trigger,
    status,
    durationMs: final.durationMs,
    missingRecords: final.missingRecords,
    written: final.written,
    inSync: final.inSync,
    resources: final.resources,
    api: final.api,
    error: final.error?.message ?? null,
    errorCode: final.error?.code ?? null,
    retryable: final.error?.retryable ?? false,
  });
  if (final.error) {
    logs.backupFailed({ runId: final.runId, code: final.error.code, error: final.error.message });
  }
  return final;
}

/**
 * Takes the lock and starts a run. Busy: `{busy: true, heldBy, expiresAt}` (nothing else done;
 * logged). Otherwise `{busy: false, runId, completion}`: completion resolves with the result and
 * never rejects (an HTTP route can answer 202 with the run id, or 409 when busy).
 */
export async function beginBackup(deps: BackupDeps, options: BackupOptions): Promise<BackupStart> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const ctx: RunContext = {
    deps,
    runId: options.runId ?? newRunId(startedAt),
    trigger: options.trigger,
    now,
    startedAt,
    started: performance.now(),
    statsBefore: deps.reader.stats(),
  };
  const { runId } = ctx;
  let attempt: Awaited<ReturnType<typeof acquireBackupLock>>;
  const acquiring = acquireBackupLock(deps.db, {
    runId,
    trigger: options.trigger,
    now: startedAt,
    ttlMs: deps.lockTtlMs,
  });
  try {
    attempt = await within(acquiring, firestoreTimeout(deps));
  } catch (error) {
    if (error instanceof FirestoreTimeoutError) {
      // Should Firestore answer after all, give the lease back: no run will hold it.
      acquiring
        .then((late) => (late.acquired ? releaseBackupLock(deps.db, runId) : false))
        .catch(() => false);
    }
    // Firestore is unreachable: there is no run to protect, and the record will likely fail too.
    const problem = firestoreProblem(
      "firestore_unavailable",
      "could not take the backup lock",
      error,
    );
    const failed = finishResult(
      ctx,
      perResource(() => emptyResourceStats()),
      [problem],
      {
        written: 0,
        conflicts: 0,
      },
    );
    return { busy: false, runId, completion: record(ctx, failed) };
  }
  if (!attempt.acquired) {
    logs.backupLockBusy({
      runId,
      heldBy: attempt.heldBy,
      expiresAt: attempt.expiresAt.toISOString(),
    });
    const result: BackupRunResult = {
      ...finishResult(
        ctx,
        perResource(() => emptyResourceStats()),
        [],
        { written: 0, conflicts: 0 },
      ),
      status: "busy",
      inSync: false,
      error: {
        code: "busy",
        message: `run ${attempt.heldBy} (${attempt.trigger}) is in progress; its lock expires at ${attempt.expiresAt.toISOString()}`,
        retryable: false,
        resource: null,
      },
      heldBy: { runId: attempt.heldBy, trigger: attempt.trigger, expiresAt: attempt.expiresAt },
    };
    return {
      busy: true,
      runId,
      heldBy: attempt.heldBy,
      heldByTrigger: attempt.trigger,
      expiresAt: attempt.expiresAt,
      result,
    };
  }
  logs.backupStarted({ runId, trigger: options.trigger });
  const completion = (async () => {
    try {
      return await record(ctx, await execute(ctx));
    } finally {
      // Bounded: when Firestore is down the lease stays until it expires.
      await within(releaseBackupLock(deps.db, runId), firestoreTimeout(deps)).catch(() => false);
    }
  })();
  return { busy: false, runId, completion };
}

/** One run, start to end: begin + await. Busy gives a result with status `busy`. */
export async function runBackup(
  deps: BackupDeps,
  options: BackupOptions,
): Promise<BackupRunResult> {
  const start = await beginBackup(deps, options);
  return start.busy ? start.result : start.completion;
}

/**
 * A run that cannot start because a param or secret is missing or malformed: recorded like any
 * failed run (metadata, history, /errors, the summary and failure log entries) with the code
 * `config_error` and `message`, which names the variable and never holds its value. Nothing is
 * read and no lock is taken. Not retryable: a retry would read the same configuration.
 */
export async function recordConfigFailure(
  deps: Pick<BackupDeps, "db" | "now" | "firestoreTimeoutMs">,
  options: BackupOptions,
  message: string,
): Promise<BackupRunResult> {
  const startedAt = (deps.now ?? (() => new Date()))();
  return record(
    { deps },
    {
      runId: options.runId ?? newRunId(startedAt),
      trigger: options.trigger,
      status: "failed",
      startedAt,
      finishedAt: startedAt,
      durationMs: 0,
      resources: perResource(() => emptyResourceStats()),
      missingRecords: 0,
      written: 0,
      inSync: false,
      api: emptyApiStats(),
      error: {
        code: "config_error",
        message: safeErrorMessage(message),
        retryable: false,
        resource: null,
      },
      heldBy: null,
    },
  );
}

/** Whether the scheduled function should rethrow this result (see the policy at the top). */
export function shouldRetry(result: BackupRunResult): boolean {
  return result.status === "failed" && result.error !== null && result.error.retryable;
}
