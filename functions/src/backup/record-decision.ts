import { recordVersion, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import type { RecordWrite } from "../mirror/bulk-writes";
import { recordHash } from "../mirror/record-hash";
import type { IndexEntry } from "./firestore-index";

/**
 * What the backup does with one record OfficeRnD listed, given its stored document (pure; the
 * full run's merge and the in-memory diff both decide here):
 * - missing: no document, or one marked removed: created (or replaced);
 * - changed: content differs, or the document's `_sync` is malformed: replaced, conditional on
 *   the version read, unless OfficeRnD's record is older (by its version field, `modifiedAt`)
 *   than the stored one: then a webhook landed between this run's API read and its Firestore
 *   read, and the difference is deferred (compared again next run; found again then, repaired);
 * - unchanged: nothing to write.
 */
export type RecordDecision =
  | { kind: "missing"; write: RecordWrite }
  | { kind: "changed"; write: RecordWrite }
  | { kind: "deferred"; write: null }
  | { kind: "unchanged"; write: null };

export function decideRecord(
  resource: ResourceName,
  record: OfficeRndRecord,
  existing: IndexEntry | null,
  /** The previous run deferred this id too: repair it from OfficeRnD now. */
  repairs: boolean,
): RecordDecision {
  if (existing === null) return { kind: "missing", write: { op: "create", resource, record } };
  const replace: RecordWrite = { op: "replace", resource, record, base: existing };
  if (existing.removed) return { kind: "missing", write: replace };
  if (existing.syncValid && existing.hash === recordHash(record)) {
    return { kind: "unchanged", write: null };
  }
  const incoming = recordVersion(resource, record);
  const older = incoming !== null && existing.version !== null && incoming < existing.version;
  if (older && !repairs) return { kind: "deferred", write: null };
  return { kind: "changed", write: replace };
}
