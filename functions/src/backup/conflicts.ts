import { Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { logs } from "../logs";
import type { ResourceName } from "../officernd/resources";
import { METADATA_COLLECTION } from "../mirror/collections";
import { within } from "../mirror/deadline";
import { CONFLICTS_DOC, conflictsDocSchema, MAX_CONFLICT_IDS } from "./documents";

/**
 * The ids each resource's latest complete run left alone as conflicts (./reconcile.ts
 * DeferredDifference), so that the next run repairs what it finds in conflict again. One small
 * document: at most MAX_CONFLICT_IDS ids per resource.
 */

export type ConflictIds = Partial<Record<ResourceName, readonly string[]>>;

function conflictsRef(db: Firestore): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(CONFLICTS_DOC);
}

export interface PreviousConflicts {
  ids: Map<ResourceName, ReadonlySet<string>>;
  /** Firestore's own time of this read (ms): "now" on the clock that stamps document writes. */
  readTime: number;
}

/** The previous run's conflicts; none when there are none or the document is unreadable. */
export async function readPreviousConflicts(
  db: Firestore,
  timeoutMs: number,
): Promise<PreviousConflicts> {
  const out = new Map<ResourceName, ReadonlySet<string>>();
  const snapshot = await within(conflictsRef(db).get(), timeoutMs);
  const previous = { ids: out, readTime: snapshot.readTime.toMillis() };
  if (!snapshot.exists) return previous;
  const parsed = conflictsDocSchema.safeParse(snapshot.data());
  if (!parsed.success) {
    logs.statusDocumentInvalid({
      path: snapshot.ref.path,
      issues: parsed.error.issues.map((i) => i.message).join("; "),
    });
    return previous;
  }
  for (const [resource, ids] of Object.entries(parsed.data.resources)) {
    out.set(resource as ResourceName, new Set(ids));
  }
  return previous;
}

/** Replaces the list with this run's conflicts (resources not given keep theirs). */
export async function recordConflicts(
  db: Firestore,
  run: { runId: string; now: Date },
  conflicts: ConflictIds,
  timeoutMs: number,
): Promise<void> {
  const resources = Object.fromEntries(
    Object.entries(conflicts).map(([resource, ids]) => [resource, ids.slice(0, MAX_CONFLICT_IDS)]),
  );
  await within(
    conflictsRef(db).set(
      { runId: run.runId, updatedAt: Timestamp.fromDate(run.now), resources },
      {
        mergeFields: ["runId", "updatedAt", ...Object.keys(resources).map((r) => `resources.${r}`)],
      },
    ),
    timeoutMs,
  );
}
