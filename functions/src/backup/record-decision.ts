import { recordVersion, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import type { RecordWrite } from "../mirror/bulk-writes";
import { recordHash } from "../mirror/record-hash";
import type { IndexEntry } from "./firestore-index";

/**
 * What the backup does with one record OfficeRnD listed, given its stored document (pure; the
 * full run's merge and the in-memory diff both decide here):
 * - missing: no document, or one marked removed: created (or replaced), unless the removal is
 *   newer than the record listed (a webhook's mark has the later of the removed record's
 *   `modifiedAt` and the removal event's time, ../webhooks/apply.ts): then a webhook's removal
 *   landed after OfficeRnD listed the record to this run, and recreating it would undo that
 *   removal; deferred like an older record (the next run repairs it if OfficeRnD still lists it);
 * - changed: content differs, or the document's `_sync` is malformed: replaced, conditional on
 *   the version read, unless OfficeRnD's record is older (by its version field, `modifiedAt`)
 *   than the stored one: then a webhook landed between this run's API read and its Firestore
 *   read, and the difference is deferred (compared again next run; found again then, repaired);
 * - unchanged: nothing to write.
 */
export type RecordDecision =
  | { kind: "missing"; write: RecordWrite }
  | { kind: "changed"; write: RecordWrite }
  | { kind: "deferred"; write: null; reason: DeferReason }
  | { kind: "unchanged"; write: null };

/** Why a listed record was left alone this run (see above). */
export type DeferReason = "older_than_stored" | "removed_after_listed";

export function decideRecord(
  resource: ResourceName,
  record: OfficeRndRecord,
  existing: IndexEntry | null,
  /** The previous run deferred this id too: repair it from OfficeRnD now. */
  repairs: boolean,
): RecordDecision {
  if (existing === null) return { kind: "missing", write: { op: "create", resource, record } };
  const replace: RecordWrite = { op: "replace", resource, record, base: existing };
  const incoming = recordVersion(resource, record);
  const stored = existing.version;
  if (existing.removed) {
    const removedLater = incoming !== null && stored !== null && incoming < stored;
    if (removedLater && !repairs) {
      return { kind: "deferred", write: null, reason: "removed_after_listed" };
    }
    return { kind: "missing", write: replace };
  }
  if (existing.syncValid && existing.hash === recordHash(record)) {
    return { kind: "unchanged", write: null };
  }
  const older = incoming !== null && stored !== null && incoming < stored;
  if (older && !repairs) return { kind: "deferred", write: null, reason: "older_than_stored" };
  return { kind: "changed", write: replace };
}
