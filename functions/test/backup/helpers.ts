import type { Firestore } from "firebase-admin/firestore";
import {
  loadBackupConfig,
  loadOfficeRndConfig,
  type BackupConfig,
  type OfficeRndConfig,
} from "../../src/config";
import { createOfficeRndClient, type OfficeRndClient } from "../../src/officernd/client";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";
import type { OfficeRndRecord } from "../../src/officernd/schemas";
import { recordDocument, recordRef, syncInfo } from "../../src/mirror/record-document";
import {
  awkwardMembers,
  startSandbox,
  type Sandbox,
  type SandboxOptions,
  type SandboxRecord,
} from "../../dev/sandbox";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import type { BackupDeps } from "../../src/backup/run";

/** The sandbox's records as the client hands them out (validated by the resource's schema). */
export function asRecord(resource: ResourceName, record: SandboxRecord): OfficeRndRecord {
  return RESOURCES[resource].schema.parse(record);
}

export type DepsOverrides = Omit<Partial<BackupDeps>, "config"> & {
  config?: Partial<BackupConfig>;
};

export interface Stack {
  sandbox: Sandbox;
  fs: TestFirestore;
  db: Firestore;
  clients: OfficeRndClient[];
  /** A fresh OfficeRnD client on the sandbox (one per run, like production). */
  reader(): OfficeRndClient;
  /** The same, with configuration overrides (a wrong org slug, …). */
  readerFor(config: Partial<OfficeRndConfig>): OfficeRndClient;
  deps(overrides?: DepsOverrides): BackupDeps;
  close(): Promise<void>;
}

/** A real sandbox over HTTP and a real Firestore (emulator) project of its own. */
export async function startStack(label: string, options: SandboxOptions = {}): Promise<Stack> {
  const sandbox = await startSandbox({
    tokenRequestsPerMinute: null,
    readsPerMinute: null,
    ...options,
  });
  const fs = createTestFirestore(label);
  const clients: OfficeRndClient[] = [];
  const officeRnd = loadOfficeRndConfig(sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }));
  const reader = (overrides: Partial<OfficeRndConfig> = {}) => {
    const client = createOfficeRndClient(
      { ...officeRnd, ...overrides },
      {
        maxAttempts: 2,
        baseDelayMs: 10,
        maxDelayMs: 50,
        timeoutMs: 5_000,
      },
    );
    clients.push(client);
    return client;
  };
  return {
    sandbox,
    fs,
    db: fs.db,
    clients,
    reader: () => reader(),
    readerFor: reader,
    deps(overrides = {}) {
      const { config, ...rest } = overrides;
      return {
        db: fs.db,
        reader: reader(),
        config: { ...loadBackupConfig({}), ...config },
        ...rest,
      };
    },
    async close() {
      for (const client of clients) client.close();
      await sandbox.close();
      await fs.close();
    },
  };
}

/** Writes documents for these records as a previous backup would have (BulkWriter). */
export async function seedFirestore(
  db: Firestore,
  dataset: Partial<Record<ResourceName, readonly SandboxRecord[]>>,
  at: Date = new Date("2026-11-01T00:00:00Z"),
): Promise<void> {
  const writer = db.bulkWriter({ throttling: false });
  for (const resource of RESOURCE_NAMES) {
    for (const record of dataset[resource] ?? []) {
      void writer.set(
        recordRef(db, resource, record._id),
        recordDocument(asRecord(resource, record), syncInfo("backup", at)),
      );
    }
  }
  await writer.close();
}

export interface DocState {
  data: Record<string, unknown>;
  updateTime: string;
}

/** Every document of a mirrored collection: id -> data and update time. */
export async function readCollection(
  db: Firestore,
  resource: ResourceName,
): Promise<Map<string, DocState>> {
  const snap = await db.collection(RESOURCES[resource].collection).get();
  return new Map(
    snap.docs.map((d) => [
      d.id,
      { data: d.data(), updateTime: `${d.updateTime.seconds}.${d.updateTime.nanoseconds}` },
    ]),
  );
}

export async function readAll(db: Firestore): Promise<Record<ResourceName, Map<string, DocState>>> {
  const entries = await Promise.all(
    RESOURCE_NAMES.map(async (r) => [r, await readCollection(db, r)] as const),
  );
  return Object.fromEntries(entries) as Record<ResourceName, Map<string, DocState>>;
}

/** Document data without `_sync`. */
export function content(data: Record<string, unknown>): Record<string, unknown> {
  const { _sync: _ignored, ...rest } = data;
  return rest;
}

/**
 * Firestore equals the sandbox: every record has a live document with exactly its content, and
 * every other document is marked removed (or absent). Returns a list of differences.
 */
export async function differences(db: Firestore, sandbox: Sandbox): Promise<string[]> {
  const out: string[] = [];
  const docs = await readAll(db);
  for (const resource of RESOURCE_NAMES) {
    const records = sandbox.data[resource].all();
    const seen = new Set<string>();
    for (const raw of records) {
      seen.add(raw._id);
      const doc = docs[resource].get(raw._id);
      const sync = doc?.data._sync as { removedAt?: unknown } | undefined;
      if (!doc) out.push(`${resource}/${raw._id}: missing`);
      else if (sync?.removedAt !== null) out.push(`${resource}/${raw._id}: marked removed`);
      else if (JSON.stringify(sortKeys(content(doc.data))) !== JSON.stringify(sortKeys(raw)))
        out.push(`${resource}/${raw._id}: content differs`);
    }
    for (const [id, doc] of docs[resource]) {
      if (seen.has(id)) continue;
      const sync = doc.data._sync as { removedAt?: unknown } | undefined;
      if (sync?.removedAt == null) out.push(`${resource}/${id}: orphan not marked removed`);
    }
  }
  return out;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Update times of every document, to prove a run wrote nothing. */
export async function updateTimes(db: Firestore): Promise<Map<string, string>> {
  const docs = await readAll(db);
  const out = new Map<string, string>();
  for (const resource of RESOURCE_NAMES) {
    for (const [id, doc] of docs[resource]) out.set(`${resource}/${id}`, doc.updateTime);
  }
  return out;
}

/**
 * Adds a member without createdAt to the sandbox (dev/sandbox/seed-awkward.ts) and mirrors every
 * member as a previous backup would have; returns its id.
 */
export async function addUndatedMember(stack: Stack): Promise<string> {
  const template = stack.sandbox.data.members.all()[0];
  if (template === undefined) throw new Error("the sandbox has no member to copy");
  const { withoutCreatedAt } = awkwardMembers(template, { withoutCreatedAt: 1 });
  stack.sandbox.data.members.add(...withoutCreatedAt);
  await seedFirestore(stack.db, { members: stack.sandbox.data.members.all() });
  const undated = withoutCreatedAt[0];
  if (undated === undefined) throw new Error("no member without createdAt was made");
  return undated._id;
}
