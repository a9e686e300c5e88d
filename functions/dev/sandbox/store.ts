import {
  SANDBOX_RESOURCES,
  type SandboxRecord,
  type SandboxResource,
  type SandboxDataset,
} from "./seed";

/**
 * OfficeRnD's side of the sandbox: one mutable, in-memory collection per resource, always served
 * in `_id` order. Tests change it between (or during) runs to drift OfficeRnD from Firestore.
 */
export class ResourceStore {
  private readonly byId = new Map<string, SandboxRecord>();
  private sorted: SandboxRecord[] | null = [];

  constructor(records: readonly SandboxRecord[] = []) {
    this.set(records);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Every record, ordered by `_id` (the array is shared: do not mutate it). */
  all(): readonly SandboxRecord[] {
    if (this.sorted === null) {
      this.sorted = [...this.byId.values()].sort((a, b) =>
        a._id < b._id ? -1 : a._id > b._id ? 1 : 0,
      );
    }
    return this.sorted;
  }

  ids(): string[] {
    return this.all().map((r) => r._id);
  }

  get(id: string): SandboxRecord | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Replaces the whole collection. */
  set(records: readonly SandboxRecord[]): void {
    this.byId.clear();
    for (const record of records) this.byId.set(record._id, record);
    this.sorted = null;
  }

  /** Inserts or replaces records by `_id`. */
  add(...records: SandboxRecord[]): void {
    for (const record of records) this.byId.set(record._id, record);
    this.sorted = null;
  }

  /** Shallow-merges `patch` into a record; bumps `modifiedAt` unless the patch sets it. */
  update(id: string, patch: Partial<SandboxRecord>, now: Date = new Date()): SandboxRecord {
    const current = this.byId.get(id);
    if (current === undefined) throw new Error(`sandbox: no record ${id}`);
    const next: SandboxRecord = { ...current, modifiedAt: now.toISOString() };
    for (const [key, value] of Object.entries(patch)) {
      if (value !== undefined) next[key] = value;
    }
    next._id = id;
    this.byId.set(id, next);
    this.sorted = null;
    return next;
  }

  remove(...ids: string[]): number {
    let removed = 0;
    for (const id of ids) if (this.byId.delete(id)) removed += 1;
    if (removed > 0) this.sorted = null;
    return removed;
  }

  clear(): void {
    this.byId.clear();
    this.sorted = null;
  }
}

export type SandboxData = Record<SandboxResource, ResourceStore> & {
  /** Replaces every collection (missing resources become empty). */
  load(dataset: Partial<SandboxDataset>): void;
  /** A copy of every collection, ordered by `_id`. */
  snapshot(): SandboxDataset;
  counts(): Record<SandboxResource, number>;
};

export function createSandboxData(dataset: Partial<SandboxDataset> = {}): SandboxData {
  const stores = Object.fromEntries(
    SANDBOX_RESOURCES.map((name) => [name, new ResourceStore(dataset[name])]),
  ) as Record<SandboxResource, ResourceStore>;
  const each = <T>(make: (store: ResourceStore) => T) =>
    Object.fromEntries(SANDBOX_RESOURCES.map((name) => [name, make(stores[name])])) as Record<
      SandboxResource,
      T
    >;
  return {
    ...stores,
    load(next) {
      for (const name of SANDBOX_RESOURCES) stores[name].set(next[name] ?? []);
    },
    snapshot: () => each((store) => [...store.all()]),
    counts: () => each((store) => store.size),
  };
}
