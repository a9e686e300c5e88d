import type { ResourceName } from "../officernd/resources";
import type { ListOptions, OfficeRndReader, ResourcePage } from "../officernd/types";

/**
 * The top-level fields of each type's records as a run's listings hand them out, for schema
 * drift (./schema-drift.ts). A reader wrapped around the run's reader: the read phases need not
 * know. A type's field set counts only when its listing ran to its end (a listing cut short
 * would make fields look gone).
 */

export interface ObservedFields {
  /** Per type: the union of the top-level keys of the records listed. */
  readonly fields: ReadonlyMap<ResourceName, ReadonlySet<string>>;
  /** Types whose listing ran to its last page in this run. */
  readonly complete: ReadonlySet<ResourceName>;
  /** Records seen per type (an empty listing says nothing about fields). */
  readonly records: ReadonlyMap<ResourceName, number>;
}

export interface FieldObserver {
  reader: OfficeRndReader;
  observed: ObservedFields;
}

export function observeFields(inner: OfficeRndReader): FieldObserver {
  const fields = new Map<ResourceName, Set<string>>();
  const complete = new Set<ResourceName>();
  const records = new Map<ResourceName, number>();
  async function* pages(resource: ResourceName, options?: ListOptions) {
    const seen = fields.get(resource) ?? new Set<string>();
    fields.set(resource, seen);
    for await (const page of inner.pages(resource, options)) {
      note(seen, page);
      records.set(resource, (records.get(resource) ?? 0) + page.records.length);
      yield page;
    }
    // Reached only when the listing ended by itself (not on a throw, nor a consumer's break).
    complete.add(resource);
  }
  const reader: OfficeRndReader = {
    pages,
    stats: () => inner.stats(),
    ...(inner.count ? { count: inner.count.bind(inner) } : {}),
    ...(inner.exists ? { exists: inner.exists.bind(inner) } : {}),
  };
  return { reader, observed: { fields, complete, records } };
}

function note(seen: Set<string>, page: ResourcePage): void {
  for (const record of page.records) for (const key of Object.keys(record)) seen.add(key);
}
