import { paginate, parsePage, type ParsedPage } from "../src/officernd/pages";
import type { RangeFilter } from "../src/officernd/query";
import { RESOURCE_NAMES, RESOURCES, type ResourceName } from "../src/officernd/resources";
import type { OfficeRndRecord } from "../src/officernd/schemas";
import type { ListOptions, OfficeRndReader, ResourcePage } from "../src/officernd/types";
import { PAGE_SIZE, type Sizes } from "./measure";

/**
 * An OfficeRnD of any size without HTTP, for the memory curve: record i of a resource is computed
 * from i alone (same input, same record), so a million records cost no memory until the engine
 * holds them. Each page goes through the client's own path: a JSON body like the API's, parsed
 * and validated by `parsePage`, paginated by `paginate` (order checks, prefetch), at zero latency.
 * Ids are 24-hex and ascend with i, as OfficeRnD's keyset pages do; createdAt and modifiedAt
 * ascend with i too, so a createdAt/modifiedAt range filter maps to a range of i. The cursor is
 * the last index served.
 */

const BASE_MS = Date.parse("2020-01-01T00:00:00Z");
const WORDS = [
  "Zoë",
  "Ångström",
  "Łukasz",
  "Siobhán",
  "渡辺",
  "Ольга",
  "Kofi",
  "🚀 Rocket",
  "Café",
];

export function syntheticId(resource: ResourceName, i: number): string {
  const prefix = (0x60 + RESOURCE_NAMES.indexOf(resource)).toString(16);
  return `${prefix}${i.toString(16).padStart(22, "0")}`;
}

const createdMs = (i: number) => BASE_MS + i * 1000;
const modifiedMs = (i: number) => createdMs(i) + 86_400_000;

/** About 600 bytes of JSON, like the sandbox's records: unicode, nulls, nested properties. */
export function syntheticRecord(resource: ResourceName, i: number): OfficeRndRecord {
  const word = (k: number) => WORDS[(i * 7 + k) % WORDS.length] ?? "x";
  return {
    _id: syntheticId(resource, i),
    name: `${word(0)} ${word(1)} ${i}`,
    email: i % 10 === 0 ? null : `person.${i}@example.com`,
    phone: i % 3 === 0 ? null : `+359 88 ${100 + (i % 900)} ${1000 + (i % 9000)}`,
    status: ["active", "former", "contact"][i % 3] ?? "active",
    location: syntheticId("locations", i % 3),
    startDate: new Date(createdMs(i)).toISOString(),
    createdAt: new Date(createdMs(i)).toISOString(),
    createdBy: syntheticId("members", 0),
    modifiedAt: new Date(modifiedMs(i)).toISOString(),
    modifiedBy: i % 5 === 0 ? null : syntheticId("members", 1),
    properties: {
      tShirtSize: ["S", "M", "L"][i % 3] ?? "M",
      newsletter: i % 2 === 0,
      tags: [word(2), word(3)],
      emergencyContact: { name: `${word(4)} ${word(5)}`, phone: `+44 20 ${1000 + (i % 9000)}` },
    },
    x_legacyCode: `LG-${String(i % 100_000).padStart(5, "0")}`,
    contacts: [{ type: "email", value: `alt.${i}@example.org`, primary: false }],
  };
}

/** The range of i a resource's filters leave: [from, to). */
function indexRange(n: number, filters: readonly RangeFilter[] = []): [number, number] {
  let from = 0;
  let to = n;
  for (const f of filters) {
    if (f.field !== "createdAt" && f.field !== "modifiedAt") {
      throw new Error(`synthetic reader: no ${f.field} filter`);
    }
    const ms = Date.parse(f.value) - (f.field === "modifiedAt" ? 86_400_000 : 0);
    const exact = (ms - BASE_MS) / 1000;
    // The first i whose time passes the filter.
    if (f.op === "$gt") from = Math.max(from, Math.floor(exact) + 1);
    else if (f.op === "$gte") from = Math.max(from, Math.ceil(exact));
    else if (f.op === "$lt") to = Math.min(to, Math.ceil(exact));
    else to = Math.min(to, Math.floor(exact) + 1);
  }
  return [Math.max(0, from), Math.max(0, Math.min(n, to))];
}

export interface SyntheticReader extends OfficeRndReader {
  count(resource: ResourceName): Promise<number | null>;
}

export function createSyntheticReader(sizes: Sizes): SyntheticReader {
  const stats = { requests: 0, tokenRequests: 0, retries: 0, throttled: 0, waitMs: 0 };
  let pagesOut = 0;
  let recordsOut = 0;

  function fetcher(resource: ResourceName, filters: readonly RangeFilter[] | undefined) {
    const [from, to] = indexRange(sizes[resource] ?? 0, filters);
    return (page: number, cursor: string | null): Promise<ParsedPage> => {
      stats.requests += 1;
      const start = cursor === null ? from : Number(cursor) + 1;
      const end = Math.min(to, start + PAGE_SIZE);
      const results: OfficeRndRecord[] = [];
      for (let i = start; i < end; i += 1) results.push(syntheticRecord(resource, i));
      const body = JSON.stringify({
        results,
        ...(end < to ? { cursorNext: String(end - 1) } : {}),
      });
      return Promise.resolve(parsePage(resource, page, body, "application/json; charset=utf-8"));
    };
  }

  return {
    async *pages(resource: ResourceName, options: ListOptions = {}) {
      const resume = (options as ListOptions & { cursor?: string | null }).cursor ?? null;
      const listing = paginate(resource, fetcher(resource, options.filters), {
        maxPages: 1_000_000,
        prefetch: true,
        signal: options.signal,
        cursor: resume,
      });
      for await (const page of listing as AsyncIterable<ResourcePage>) {
        pagesOut += 1;
        recordsOut += page.records.length;
        yield page;
      }
    },
    count(resource: ResourceName) {
      if (!RESOURCES[resource].count) return Promise.resolve(null);
      stats.requests += 1;
      return Promise.resolve(sizes[resource] ?? 0);
    },
    stats: () => ({ ...stats, pages: pagesOut, records: recordsOut }),
  };
}
