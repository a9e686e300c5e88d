import type { BulkWriterOptions, Firestore } from "firebase-admin/firestore";
import type { BackupConfig } from "../config";
import type { ResourceName } from "../officernd/resources";
import type { OfficeRndReader } from "../officernd/types";
import { FIRESTORE_TIMEOUT_MS } from "../mirror/deadline";
import type { BackupTrigger, RunMode } from "./documents";
import type { ChunkProgress } from "../mirror/bulk-writes";

/** What a run needs from outside: the one Firestore, the one OfficeRnD reader, config, knobs. */

export interface BackupHooks {
  /** After each write chunk is flushed. Throwing stops the sync as a crash would (tests). */
  afterWriteChunk?: (progress: ChunkProgress) => void | Promise<void>;
}

export interface BackupDeps {
  db: Firestore;
  /** One reader per run: its stats() are reported (as a difference, so sharing one works too). */
  reader: OfficeRndReader;
  config: BackupConfig;
  /** The data types this deployment mirrors (BACKUP_RESOURCES). Default: every registered one. */
  resources?: readonly ResourceName[];
  /** The run's clock (lock, timestamps); durations use a monotonic clock. */
  now?: () => Date;
  /**
   * Lease length (default 15 s, ./lock.ts); the renew deadline and the retry period scale with it
   * in Kubernetes' proportions (10 s and 2 s for 15 s). Tests shorten it.
   */
  lockTtlMs?: number;
  /**
   * The run's time budget, from its start: past it the run stops reading and writing, records a
   * failed run (`time_budget`, retryable) and releases its lease (./time-budget.ts). The deployed
   * functions derive it from their timeoutSeconds; the CLI has none unless
   * BACKUP_TIME_BUDGET_SECONDS is set. Undefined: no budget.
   */
  timeBudgetMs?: number;
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
  /** Default `full`. `incremental`: changed records only, no removal (./incremental-read.ts). */
  mode?: RunMode;
  /** Default: newRunId(start time), which sorts by time. */
  runId?: string;
  /**
   * A full run goes on with an unfinished run's checkpoint (./checkpoint.ts) when there is one,
   * keeping that run's id; `fresh` abandons it and starts over (CLI `run --fresh`).
   */
  fresh?: boolean;
  /**
   * A continuation task's run: go on with this run's checkpoint from this hand-over, and do
   * nothing (nothing recorded) when the run has ended or another attempt (a duplicate delivery,
   * a scheduled retry) has taken it further meanwhile. Checked under the lease.
   */
  resumeOnly?: { runId: string; continuation: number };
}

/** The longest wait for one Firestore step of a run. */
export function firestoreTimeout(deps: Pick<BackupDeps, "firestoreTimeoutMs">): number {
  return deps.firestoreTimeoutMs ?? FIRESTORE_TIMEOUT_MS;
}
