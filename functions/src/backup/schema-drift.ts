import type { ResourceName } from "../officernd/resources";
import type { FieldDrift, RunMode, SchemaFieldsDoc } from "./documents";
import type { ObservedFields } from "./field-observer";

/**
 * Schema drift, per type: the top-level fields that appeared in, or disappeared from, its records
 * since the previous run. A type's field set is the union of the top-level keys of the records
 * one listing returned (./field-observer.ts). Pure: the stored sets come in, the drift and the
 * sets to store go out (./run-state.ts reads and writes them).
 *
 * - The first run that lists a type sets its baseline: no drift is reported.
 * - A full run lists every record: a field none has any more has disappeared, and the stored set
 *   becomes the run's.
 * - An incremental run lists only changed records: it can tell a field appeared, never that one
 *   disappeared; the fields it saw are added to the stored set (so the next full run does not
 *   report them again).
 * - A listing cut short, or one that returned no record, leaves the type's set as it was.
 */

export interface FieldSetUpdate {
  resource: ResourceName;
  fields: string[];
  /** Null on a baseline, and when nothing changed. */
  drift: FieldDrift | null;
}

export function compareFieldSets(
  previous: SchemaFieldsDoc["resources"],
  observed: ObservedFields,
  mode: RunMode,
): FieldSetUpdate[] {
  const updates: FieldSetUpdate[] = [];
  for (const resource of observed.complete) {
    const seen = observed.fields.get(resource);
    if (seen === undefined || (observed.records.get(resource) ?? 0) === 0) continue;
    const before = previous[resource]?.fields;
    if (before === undefined) {
      updates.push({ resource, fields: [...seen].sort(), drift: null });
      continue;
    }
    const known = new Set(before);
    const added = [...seen].filter((f) => !known.has(f)).sort();
    const removed = mode === "full" ? before.filter((f) => !seen.has(f)).sort() : [];
    if (added.length === 0 && removed.length === 0) continue;
    const fields = mode === "full" ? [...seen].sort() : [...before, ...added].sort();
    updates.push({ resource, fields, drift: { added, removed } });
  }
  return updates;
}

/** The run's drift, for its result, history and summary: only types whose fields changed. */
export function driftOf(
  updates: readonly FieldSetUpdate[],
): Partial<Record<ResourceName, FieldDrift>> {
  const out: Partial<Record<ResourceName, FieldDrift>> = {};
  for (const update of updates) if (update.drift !== null) out[update.resource] = update.drift;
  return out;
}
