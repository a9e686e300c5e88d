import { MAX_REQUEST_BYTES, REQUEST_BYTES_WITHOUT_RECORD, storability } from "./storable";
import type { RecordWrite } from "./bulk-writes";

/**
 * How the backup's writes are grouped into requests: each chunk is flushed on its own, and its
 * estimated size in bytes is capped, so that Firestore's request limit can never make good
 * records look unstorable.
 */

/**
 * Our cap on one chunk's estimated request bytes. BulkWriter sends a flushed chunk in batches of
 * up to 20 writes, one request each, and Firestore refuses a request over 10 MiB with
 * INVALID_ARGUMENT, which would make every record of the batch look unstorable. A chunk under
 * 8 MiB keeps every batch of it under the limit, with 2 MiB for the estimate's error.
 */
export const MAX_CHUNK_BYTES = MAX_REQUEST_BYTES - 2 * 1_048_576;

/** Consecutive writes, at most `maxCount` of them and `maxBytes` together (at least one). */
export function chunkWrites(
  writes: readonly { write: RecordWrite; bytes: number }[],
  maxCount: number,
  maxBytes: number,
): RecordWrite[][] {
  const chunks: RecordWrite[][] = [];
  let current: RecordWrite[] = [];
  let bytes = 0;
  for (const item of writes) {
    if (current.length > 0 && (current.length >= maxCount || bytes + item.bytes > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item.write);
    bytes += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The writes Firestore can store, each with an upper estimate of its bytes in a request. */
export function sizeWrites(writes: readonly RecordWrite[]): {
  storable: { write: RecordWrite; bytes: number }[];
  unstorable: { write: RecordWrite; reason: string }[];
} {
  const storable: { write: RecordWrite; bytes: number }[] = [];
  const unstorable: { write: RecordWrite; reason: string }[] = [];
  for (const write of writes) {
    if (write.op !== "create" && write.op !== "replace") {
      storable.push({ write, bytes: REQUEST_BYTES_WITHOUT_RECORD });
      continue;
    }
    const checked = storability(write.resource, write.record);
    if (!checked.storable) {
      unstorable.push({ write, reason: checked.reason });
      continue;
    }
    // A replace also names each stray field of the stored document, to delete it.
    const strays = write.op === "replace" ? maskBytes(write.base.fields) : 0;
    storable.push({ write, bytes: checked.requestBytes + strays });
  }
  return { storable, unstorable };
}

function maskBytes(fields: readonly string[]): number {
  return fields.reduce((sum, field) => sum + Buffer.byteLength(field, "utf8") + 8, 0);
}
