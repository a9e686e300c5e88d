import type { BulkWriterOptions, Firestore } from "firebase-admin/firestore";
import { applyRecordWrites, type RecordWrite, type WriteIssue } from "../mirror/bulk-writes";
import type { ResourceProgress } from "./progress";

/**
 * A full run's writes for one resource, streamed while its listing goes on: differences are
 * buffered and written a chunk at a time while later pages are read (at most two chunks held),
 * so memory is bounded by the chunk, not by what differs, and the listing does not wait for
 * Firestore. Each write is conditional on the version read
 * (../mirror/bulk-writes.ts). Counts go into the resource's progress; the first refusal or stop
 * ends the stream (later writes are counted as not attempted, and the run fails with the reason).
 */

export interface WriteStreamOptions {
  chunkSize: number;
  chunkTimeoutMs: number;
  now: () => Date;
  bulkWriter?: BulkWriterOptions;
  /** Before each chunk: throws to stop the stream (the lease was lost). */
  beforeChunk?: () => void;
  /**
   * After each chunk is flushed, with the documents it wrote (the run numbers chunks across its
   * resources; tests stop a run mid-sync by throwing).
   */
  afterChunk?: (written: number) => void | Promise<void>;
}

export class WriteStream {
  private pending: RecordWrite[] = [];
  /** The first write Firestore refused after retries; null while none was. */
  failed: WriteIssue | null = null;
  failedCount = 0;
  /** Why the stream stopped (lease lost, a hook, a stalled chunk); null while it has not. */
  stoppedBy: unknown = null;
  notAttempted = 0;
  /** Chunks written so far (the listing saves its position every few). */
  flushes = 0;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Firestore,
    private readonly progress: ResourceProgress,
    private readonly options: WriteStreamOptions,
  ) {}

  get stopped(): boolean {
    return this.stoppedBy !== null || this.failed !== null;
  }

  /**
   * Buffers writes; when a chunk is full it is written while the listing goes on (one chunk in
   * flight: the next full chunk waits for it, so at most two chunks are held).
   */
  async add(writes: readonly RecordWrite[]): Promise<void> {
    for (const write of writes) this.pending.push(write);
    if (this.pending.length < this.options.chunkSize) return;
    await this.inFlight;
    const chunk = this.pending;
    this.pending = [];
    this.inFlight = this.write(chunk).catch((error: unknown) => {
      this.stoppedBy ??= error;
    });
  }

  /** Writes everything buffered and waits for it (or counts it not attempted once stopped). */
  async flush(): Promise<void> {
    await this.inFlight;
    const chunk = this.pending;
    this.pending = [];
    await this.write(chunk);
  }

  private async write(writes: readonly RecordWrite[]): Promise<void> {
    if (writes.length === 0) return;
    if (!this.stopped) {
      try {
        this.options.beforeChunk?.();
      } catch (error) {
        this.stoppedBy = error;
      }
    }
    if (this.stopped) {
      this.notAttempted += writes.length;
      return;
    }
    let writtenBefore = 0;
    const outcome = await applyRecordWrites(this.db, writes, {
      source: "backup",
      now: this.options.now(),
      chunkSize: this.options.chunkSize,
      chunkTimeoutMs: this.options.chunkTimeoutMs,
      bulkWriter: this.options.bulkWriter,
      onChunk: async (chunk) => {
        const written = chunk.written - writtenBefore;
        writtenBefore = chunk.written;
        await this.options.afterChunk?.(written);
      },
    });
    this.flushes += 1;
    const p = this.progress;
    for (const counts of Object.values(outcome.byResource)) {
      p.written += counts.written;
      p.removed += counts.removed;
      p.writeConflicts += counts.conflicts;
      p.unstorable += counts.unstorable;
    }
    for (const u of outcome.unstorable) {
      if (p.unstorableExamples.length < 3) p.unstorableExamples.push(`${u.id} (${u.reason})`);
    }
    this.failedCount += outcome.failed.length;
    this.failed ??= outcome.failed[0] ?? null;
    this.notAttempted += outcome.notAttempted;
    if (outcome.stoppedBy !== null) this.stoppedBy = outcome.stoppedBy;
  }
}
