import { recordVersion, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import type { RecordWrite } from "../mirror/bulk-writes";
import { recordHash } from "../mirror/record-hash";
import type { IndexEntry } from "./firestore-index";

/**
 * What the backup does with one record OfficeRnD listed, given its stored document (pure; the
 * full run's merge and the in-memory diff both decide here):
 * - missing: no document, or one marked removed: created (or replaced), unless it was marked
 *   removed after the run's listing began (a webhook's removal, ../webhooks/apply.ts): OfficeRnD
 *   may have listed the record to this run before removing it, and recreating it would undo the
 *   removal until the next run; deferred like an older record (the next run repairs it if
 *   OfficeRnD still lists it);
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
export type DeferReason = "older_than_stored" | "removed_during_listing";

export function decideRecord(
  resource: ResourceName,
  record: OfficeRndRecord,
  existing: IndexEntry | null,
  /** The previous run deferred this id too: repair it from OfficeRnD now. */
  repairs: boolean,
  /** When the run's listing began (ms, Firestore's clock less a margin); absent: no such check. */
  listingStartedAt?: number,
): RecordDecision {
  if (existing === null) return { kind: "missing", write: { op: "create", resource, record } };
  const replace: RecordWrite = { op: "replace", resource, record, base: existing };
  const incoming = recordVersion(resource, record);
  const stored = existing.version;
  if (existing.removed) {
    const removedAt = existing.removedAt;
    const duringListing =
      listingStartedAt !== undefined && removedAt !== null && removedAt > listingStartedAt;
    if (duringListing && !repairs) {
      return { kind: "deferred", write: null, reason: "removed_during_listing" };
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
