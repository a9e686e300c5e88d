import { Timestamp, type DocumentData, type Firestore } from "firebase-admin/firestore";
import type { SandboxDataset } from "../../dev/sandbox";
import { seedFirestoreMirror, type DriftOptions } from "../../dev/seed-firestore";
import { syncInfoSchema } from "../../src/mirror/record-document";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";

/**
 * The content every case starts from and the "nothing lost" audit: Firestore seeded from
 * OfficeRnD's records with the drift lost webhooks leave, captured document by document, and
 * compared after the case with what it was and with OfficeRnD's records.
 */

/** The drift seeded into Firestore (per resource): lost created, updated and removed webhooks. */
export const DRIFT: DriftOptions = { missing: 2, changed: 2, orphaned: 2 };

export const SEEDED_AT = new Date("2026-11-01T00:00:00Z");

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value instanceof Timestamp) return { timestamp: value.toMillis() };
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(object)
        .sort()
        .map((k) => [k, sortKeys(object[k])]),
    );
  }
  return value;
}

/** Canonical JSON of a record or of a document's content (without `_sync`), written here on purpose (not the product's hash). */
export function canonical(data: Readonly<Record<string, unknown>>): string {
  const { _sync: _ignored, ...content } = data;
  return JSON.stringify(sortKeys(content));
}

interface KnownDoc {
  canon: string;
  removed: boolean;
}

/** Firestore as it was before the fault (every document), and OfficeRnD's records. */
export interface KnownContent {
  docs: Record<ResourceName, Map<string, KnownDoc>>;
  truth: Record<ResourceName, Map<string, string>>;
  /** Documents that already equalled OfficeRnD (the "good" ones). */
  good: number;
  total: number;
}

function removedAt(data: DocumentData): unknown {
  const sync = data._sync as { removedAt?: unknown } | undefined;
  return sync?.removedAt ?? null;
}

export async function captureKnown(db: Firestore, truth: SandboxDataset): Promise<KnownContent> {
  const known: KnownContent = {
    docs: {} as KnownContent["docs"],
    truth: {} as KnownContent["truth"],
    good: 0,
    total: 0,
  };
  for (const resource of RESOURCE_NAMES) {
    known.truth[resource] = new Map(truth[resource].map((r) => [r._id, canonical(r)]));
    const snap = await db.collection(RESOURCES[resource].collection).get();
    const docs = new Map<string, KnownDoc>();
    for (const doc of snap.docs) {
      const canon = canonical(doc.data());
      docs.set(doc.id, { canon, removed: removedAt(doc.data()) !== null });
      if (known.truth[resource].get(doc.id) === canon) known.good += 1;
    }
    known.docs[resource] = docs;
    known.total += docs.size;
  }
  return known;
}

/** Seeds Firestore from OfficeRnD's records with the suite's drift and captures it as known. */
export async function seedKnownContent(
  db: Firestore,
  truth: SandboxDataset,
  drift: DriftOptions = DRIFT,
): Promise<KnownContent> {
  await seedFirestoreMirror(db, truth, drift, SEEDED_AT);
  return captureKnown(db, truth);
}

/**
 * Every way a document could have been lost or damaged, compared with the known content: deleted
 * while OfficeRnD has the record;
 * `_sync` blanked; content that is neither what it was nor OfficeRnD's record; marked removed while
 * OfficeRnD still has the record; a new document that is not an OfficeRnD record.
 */
export async function auditDocuments(db: Firestore, known: KnownContent): Promise<string[]> {
  const problems: string[] = [];
  for (const resource of RESOURCE_NAMES) {
    const snap = await db.collection(RESOURCES[resource].collection).get();
    const current = new Map(snap.docs.map((d) => [d.id, d.data()]));
    const truth = known.truth[resource];
    for (const [id, before] of known.docs[resource]) {
      const data = current.get(id);
      const where = `${resource}/${id}`;
      if (data === undefined) {
        // Deleting what OfficeRnD does not have is the delete policy at work, not a loss.
        if (truth.has(id)) problems.push(`${where}: deleted`);
        continue;
      }
      if (!syncInfoSchema.safeParse(data._sync).success) problems.push(`${where}: _sync blanked`);
      const canon = canonical(data);
      if (canon !== before.canon && canon !== truth.get(id)) {
        problems.push(`${where}: overwritten with content OfficeRnD never had`);
      }
      if (removedAt(data) !== null && !before.removed && truth.has(id)) {
        problems.push(`${where}: marked removed although OfficeRnD has it`);
      }
    }
    for (const [id, data] of current) {
      if (known.docs[resource].has(id)) continue;
      if (canonical(data) !== truth.get(id)) {
        problems.push(`${resource}/${id}: created with content OfficeRnD never had`);
      }
    }
  }
  return problems;
}

/** `resource/id` of every document not marked removed. */
export async function liveDocuments(db: Firestore): Promise<Set<string>> {
  const live = new Set<string>();
  for (const resource of RESOURCE_NAMES) {
    const snap = await db.collection(RESOURCES[resource].collection).get();
    for (const doc of snap.docs) {
      if (removedAt(doc.data()) === null) live.add(`${resource}/${doc.id}`);
    }
  }
  return live;
}

/** Update times of every record document (a run that must write nothing leaves them all). */
export async function recordVersions(db: Firestore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const resource of RESOURCE_NAMES) {
    const snap = await db.collection(RESOURCES[resource].collection).get();
    for (const doc of snap.docs) out.set(`${resource}/${doc.id}`, doc.updateTime.toMillis());
  }
  return out;
}

/** Ids of documents that equalled OfficeRnD before the fault (so damage to them would show). */
export function goodIds(known: KnownContent, resource: ResourceName): string[] {
  return [...known.docs[resource]]
    .filter(([id, doc]) => known.truth[resource].get(id) === doc.canon)
    .map(([id]) => id);
}
