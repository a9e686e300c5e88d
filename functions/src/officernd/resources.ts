import { z } from "zod";
import { companySchema, memberSchema, opportunitySchema } from "./schemas";

/**
 * The resources the backup mirrors, as data. Adding locations, events or bookings later is one
 * entry here (path, collection, scope, schema, what its listing accepts): client, diff, writer
 * and status iterate this list. Facts and sources: docs/officernd-api.md.
 */

/** Fields a list endpoint may filter with `[$gt|$gte|$lt|$lte]`. */
export type RangeFilterField = "createdAt" | "modifiedAt" | "start" | "end";

export interface ResourceDefinition {
  /** Name in the product's words and in the status response (`members`, …). */
  readonly name: string;
  /** Path segment under /organizations/{slug}/. */
  readonly path: string;
  /** Firestore collection that mirrors it (document id = OfficeRnD `_id`). */
  readonly collection: string;
  /** Narrowest OAuth scope that reads it. */
  readonly scope: string;
  /** Record schema (loose: unknown fields kept). */
  readonly schema: z.ZodType<{ _id: string; [key: string]: unknown }>;
  /**
   * Range filters the list endpoint accepts. OfficeRnD refuses any other query parameter with a
   * 400 ("property X should not exist"), so the client sends nothing that is not listed here.
   * Members and companies take createdAt/modifiedAt (v2 reference + live); memberships refuse
   * them (live); locations take none; events take start/end; opportunities and bookings are not
   * verified, so none is assumed until a test against the live API pins one.
   */
  readonly rangeFilters: readonly RangeFilterField[];
  /** `GET /{path}/count` answers `{"total": N}` (members, opportunities, …; not companies). */
  readonly count: boolean;
  /**
   * The record field that orders versions of one record, or null when records carry none
   * (locations and events have no createdAt/modifiedAt; live).
   */
  readonly versionField: "modifiedAt" | null;
  /** OfficeRnD sends webhook events for it (no `opportunity.*` event exists). */
  readonly webhookEvents: boolean;
}

export const RESOURCES = {
  members: {
    name: "members",
    path: "members",
    collection: "officeRndMembers",
    scope: "flex.community.members.read",
    schema: memberSchema,
    rangeFilters: ["createdAt", "modifiedAt"],
    count: true,
    versionField: "modifiedAt",
    webhookEvents: true,
  },
  opportunities: {
    name: "opportunities",
    path: "opportunities",
    collection: "officeRndOpportunities",
    scope: "flex.community.opportunities.read",
    schema: opportunitySchema,
    rangeFilters: [],
    count: true,
    versionField: "modifiedAt",
    webhookEvents: false,
  },
  companies: {
    name: "companies",
    path: "companies",
    collection: "officeRndCompanies",
    scope: "flex.community.companies.read",
    schema: companySchema,
    rangeFilters: ["createdAt", "modifiedAt"],
    count: false,
    versionField: "modifiedAt",
    webhookEvents: true,
  },
} as const satisfies Record<string, ResourceDefinition>;

export type ResourceName = keyof typeof RESOURCES;

/** In the order of the design document's response (members, opportunities, companies). */
export const RESOURCE_NAMES = Object.keys(RESOURCES) as ResourceName[];

export function resourceDefinition(name: ResourceName): ResourceDefinition {
  return RESOURCES[name];
}

/** Space-separated scopes for the token request: read scopes of every registered resource. */
export function readScopes(names: readonly ResourceName[] = RESOURCE_NAMES): string {
  return names.map((n) => RESOURCES[n].scope).join(" ");
}

/** Whether the resource's listing accepts a range filter on `field`. */
export function acceptsRangeFilter(name: ResourceName, field: RangeFilterField): boolean {
  return RESOURCES[name].rangeFilters.some((f) => f === field);
}

/** The record's version time (ms) by the resource's version field; null when it has none. */
export function recordVersion(
  name: ResourceName,
  record: Readonly<Record<string, unknown>>,
): number | null {
  const field = RESOURCES[name].versionField;
  if (field === null) return null;
  const value = record[field];
  if (typeof value !== "string") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** One value per registered resource, in registry order. */
export function perResource<T>(make: (name: ResourceName) => T): Record<ResourceName, T> {
  return Object.fromEntries(RESOURCE_NAMES.map((n) => [n, make(n)])) as Record<ResourceName, T>;
}

/** A zod object with one `schema` per registered resource (strict: unknown keys refused). */
export function perResourceSchema<T extends z.ZodType>(
  schema: T,
  options: { strict?: boolean } = {},
) {
  const shape = perResource(() => schema);
  return options.strict ? z.strictObject(shape) : z.object(shape);
}
