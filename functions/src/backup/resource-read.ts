import type { ResourceName } from "../officernd/resources";
import type { FirestoreIndex } from "./firestore-index";
import { describeError } from "./problems";
import type { ResourceDiff } from "./reconcile";
import type { BackupDeps } from "./run-deps";
import { TimeBudgetError } from "./time-budget";

/**
 * What reading one resource found, for the in-memory plan (./plan.ts) of an incremental run (a
 * few changed records: ./incremental-read.ts), and the listing's completeness check that full and
 * incremental runs share.
 */

export interface ResourceRead {
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

/**
 * The listing's completeness check before anything is removed: OfficeRnD's own total
 * (`GET /{resource}/count`, docs/officernd-api.md) against what the listing returned. Counted
 * after the listing, so records removed meanwhile only make the listing look longer (harmless);
 * a shorter listing means records may be missing from it. Null when complete or not countable.
 */
export async function verifyListing(
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
    // The budget, or the run's own failure elsewhere, stopped it: the check is still to be made
    // (by the attempt that goes on), not a reason to hold removals back for good.
    if (error instanceof TimeBudgetError || signal.aborted) throw error;
    return `could not check the listing with OfficeRnD's /count (${describeError(error)})`;
  }
  if (total === null || total <= listed) return null;
  return `OfficeRnD's /count says ${total} but the listing returned ${listed}`;
}
