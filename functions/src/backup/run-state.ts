import {
  Timestamp,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
} from "firebase-admin/firestore";
import type { z } from "zod";
import { logs } from "../logs";
import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import { METADATA_COLLECTION } from "../mirror/collections";
import { within } from "../mirror/deadline";
import {
  INCREMENTAL_STATE_DOC,
  incrementalStateDocSchema,
  SCHEMA_FIELDS_DOC,
  schemaFieldsDocSchema,
  type FieldDrift,
  type RunMode,
  type SchemaFieldsDoc,
} from "./documents";
import type { ObservedFields } from "./field-observer";
import type { SyncPlan } from "./plan";
import { firestoreProblem, type BackupError, type BackupErrorCode } from "./problems";
import { compareFieldSets, driftOf } from "./schema-drift";

/**
 * What a run carries over to the next one, besides its metadata and history:
 * - /officeRndMetadata/incremental-state: per type, the high-water mark (the listing start of the
 *   latest run, full or incremental, that brought every change before it into Firestore); the
 *   incremental sync reads records modified since it, less an overlap;
 * - /officeRndMetadata/schema-fields: per type, the top-level fields its records had (schema
 *   drift, ./schema-drift.ts).
 * Read once when a run starts (under its lease), written once after its sync.
 */

export interface RunState {
  highWaterMarks: ReadonlyMap<ResourceName, Date>;
  fields: SchemaFieldsDoc["resources"];
}

function stateRef(db: Firestore, doc: string): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(doc);
}

export function incrementalStateRef(db: Firestore): DocumentReference {
  return stateRef(db, INCREMENTAL_STATE_DOC);
}

export function schemaFieldsRef(db: Firestore): DocumentReference {
  return stateRef(db, SCHEMA_FIELDS_DOC);
}

/** Both documents; a malformed one reads as empty (and is logged): the next run rewrites it. */
export async function readRunState(db: Firestore, timeoutMs: number): Promise<RunState> {
  const [marks, fields] = await within(
    db.getAll(incrementalStateRef(db), schemaFieldsRef(db)),
    timeoutMs,
  );
  const parse = <T>(snapshot: DocumentSnapshot | undefined, schema: z.ZodType<T>): T | null => {
    if (snapshot === undefined || !snapshot.exists) return null;
    const parsed = schema.safeParse(snapshot.data());
    if (parsed.success) return parsed.data;
    logs.statusDocumentInvalid({ path: snapshot.ref.path, issues: parsed.error.message });
    return null;
  };
  const state = parse(marks, incrementalStateDocSchema);
  const highWaterMarks = new Map<ResourceName, Date>();
  for (const name of RESOURCE_NAMES) {
    const mark = state?.resources[name];
    if (mark) highWaterMarks.set(name, mark.highWaterMark.toDate());
  }
  return { highWaterMarks, fields: parse(fields, schemaFieldsDocSchema)?.resources ?? {} };
}

/**
 * Problems that still leave every storable record the run listed written (they concern removals,
 * or records that cannot be stored at all): a type's high-water mark may still advance.
 */
const TOLERATED: ReadonlySet<BackupErrorCode> = new Set<BackupErrorCode>([
  "shrink_guard",
  "incomplete_listing",
  "invalid_records",
  "unstorable_record",
]);

/**
 * The types whose high-water mark this run moves to its start: each one listed completely, with
 * nothing failed that could have kept one of its changes out of Firestore.
 */
export function advancedTypes(plan: SyncPlan, problems: readonly BackupError[]): ResourceName[] {
  if (plan.readFailed) return [];
  if (problems.some((p) => !TOLERATED.has(p.code))) return [];
  return RESOURCE_NAMES.filter((n) => plan.resources[n].api !== null);
}

export interface RunStateOutcome {
  /** Types whose top-level fields changed since the previous run. */
  schemaDrift: Partial<Record<ResourceName, FieldDrift>>;
  problems: BackupError[];
}

/**
 * Writes what the next run needs: the advanced high-water marks and the field sets. Nothing when
 * neither changed. A failure is the run's problem (`metadata_write`): the next incremental run
 * then reads from an older mark (more records, nothing missed) and the drift is told again.
 */
export async function recordRunState(
  db: Firestore,
  run: { runId: string; mode: RunMode; startedAt: Date; now: Date; timeoutMs: number },
  input: {
    previous: RunState;
    observed: ObservedFields;
    plan: SyncPlan;
    problems: readonly BackupError[];
  },
): Promise<RunStateOutcome> {
  const updates = compareFieldSets(input.previous.fields, input.observed, run.mode);
  const schemaDrift = driftOf(updates);
  const advanced = advancedTypes(input.plan, input.problems);
  const now = Timestamp.fromDate(run.now);
  const batch = db.batch();
  if (advanced.length > 0) {
    const mark = { highWaterMark: Timestamp.fromDate(run.startedAt), runId: run.runId };
    const resources = Object.fromEntries(advanced.map((n) => [n, { ...mark, mode: run.mode }]));
    batch.set(
      incrementalStateRef(db),
      { resources },
      { mergeFields: advanced.map((n) => `resources.${n}`) },
    );
  }
  if (updates.length > 0) {
    const resources = Object.fromEntries(
      updates.map((u) => [
        u.resource,
        {
          fields: u.fields,
          updatedAt: now,
          runId: run.runId,
          lastChange:
            u.drift === null
              ? (input.previous.fields[u.resource]?.lastChange ?? null)
              : { ...u.drift, at: now, runId: run.runId, mode: run.mode },
        },
      ]),
    );
    batch.set(
      schemaFieldsRef(db),
      { resources },
      { mergeFields: updates.map((u) => `resources.${u.resource}`) },
    );
  }
  if (advanced.length === 0 && updates.length === 0) return { schemaDrift, problems: [] };
  try {
    await within(batch.commit(), run.timeoutMs);
    return { schemaDrift, problems: [] };
  } catch (error) {
    const what = "could not record the high-water marks and field sets for the next run";
    return { schemaDrift, problems: [firestoreProblem("metadata_write", what, error)] };
  }
}
