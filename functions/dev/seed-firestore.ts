import type { Firestore } from "firebase-admin/firestore";
import { recordDocument, recordRef, syncInfo } from "../src/mirror/record-document";
import { RESOURCE_NAMES, type ResourceName } from "../src/officernd/resources";
import type { SandboxDataset, SandboxRecord } from "./sandbox";

/**
 * Fills the Firestore mirror from OfficeRnD's records (the sandbox's dataset), written through
 * the product's own record writer, with a known drift: the situation lost webhooks leave behind.
 */

export interface DriftOptions {
  /** Records left out of Firestore, per resource (webhooks `*.created` lost). */
  missing?: number;
  /** Records stored with stale content, per resource (`*.updated` lost). */
  changed?: number;
  /** Documents for records OfficeRnD no longer has, per resource (`*.removed` lost). */
  orphaned?: number;
}

export type DriftReport = Record<
  ResourceName,
  { missing: string[]; changed: string[]; orphaned: string[] }
>;

/** A 24-hex id that no seeded record uses (seeded ids are unlikely to start with "ffff"). */
function orphanId(resource: ResourceName, i: number): string {
  const tag = RESOURCE_NAMES.indexOf(resource).toString(16);
  return `ffff${tag}${i.toString(16).padStart(19, "0")}`;
}

export async function seedFirestoreMirror(
  db: Firestore,
  dataset: SandboxDataset,
  drift: DriftOptions = {},
  now: Date = new Date(),
): Promise<DriftReport> {
  const writer = db.bulkWriter();
  const report = {} as DriftReport;
  const sync = syncInfo("backup", now);
  for (const resource of RESOURCE_NAMES) {
    const records: SandboxRecord[] = dataset[resource] ?? [];
    // At most a fifth of a small collection drifts (3 locations cannot lose 3 records and keep
    // 1 orphan: the removal guard would rightly stop that run).
    const cap = (n: number | undefined, of: number) => Math.min(n ?? 0, Math.floor(of / 5));
    const want = {
      missing: cap(drift.missing, records.length),
      changed: cap(drift.changed, records.length),
    };
    const orphanCount = cap(drift.orphaned, records.length - want.missing);
    // Spread the drift across the collection, deterministically.
    const step = Math.max(
      1,
      Math.floor(records.length / Math.max(1, want.missing + want.changed + 1)),
    );
    const missing = new Set<string>();
    const changed = new Set<string>();
    for (let i = step - 1; i < records.length; i += step) {
      const id = records[i]?._id;
      if (!id) continue;
      if (missing.size < want.missing) missing.add(id);
      else if (changed.size < want.changed) changed.add(id);
      else break;
    }
    for (const record of records) {
      if (missing.has(record._id)) continue;
      const stored = changed.has(record._id)
        ? {
            ...record,
            name: `${typeof record.name === "string" ? record.name : ""} (stale copy)`,
            modifiedAt: "2020-01-01T00:00:00.000Z",
          }
        : record;
      void writer.set(recordRef(db, resource, record._id), recordDocument(stored, sync));
    }
    const orphaned: string[] = [];
    for (let i = 0; i < orphanCount; i++) {
      const id = orphanId(resource, i);
      orphaned.push(id);
      void writer.set(
        recordRef(db, resource, id),
        recordDocument(
          {
            _id: id,
            name: `Removed in OfficeRnD #${i + 1}`,
            createdAt: "2021-06-01T09:00:00.000Z",
          },
          sync,
        ),
      );
    }
    report[resource] = { missing: [...missing], changed: [...changed], orphaned };
  }
  await writer.close();
  return report;
}
