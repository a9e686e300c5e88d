import { z } from "zod";
import { ConfigError } from "../config";
import {
  bookingSchema,
  companySchema,
  eventSchema,
  locationSchema,
  memberSchema,
  opportunitySchema,
} from "./schemas";

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
  /**
   * Filters OfficeRnD's reference suggests but no one has verified against the live API
   * (opportunities and bookings carry `modifiedAt`, docs/officernd-api.md: "treat support for a
   * filter as a per-resource fact that a test pins and a 400 disproves"). Only the incremental
   * sync sends them; a 400 disproves them for that run, and the type falls back to the full
   * backup only (backup/incremental-read.ts).
   */
  readonly unverifiedFilters: readonly RangeFilterField[];
  /** `GET /{path}/count` answers `{"total": N}` (members, opportunities, …; not companies). */
  readonly count: boolean;
  /**
   * The record field that orders versions of one record, or null when records carry none
   * (locations and events have no createdAt/modifiedAt; live).
   */
  readonly versionField: "modifiedAt" | null;
  /**
   * Used when a record lacks its version field: a booking just created had no `modifiedAt`
   * (live), so its `createdAt` stands in.
   */
  readonly versionFallback?: "createdAt";
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
    unverifiedFilters: [],
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
    unverifiedFilters: ["modifiedAt"],
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
    unverifiedFilters: [],
    count: false,
    versionField: "modifiedAt",
    webhookEvents: true,
  },
  // The design's next data types, after its first three (the status response keeps that order).
  locations: {
    name: "locations",
    path: "locations",
    collection: "officeRndLocations",
    scope: "flex.space.locations.read",
    schema: locationSchema,
    rangeFilters: [],
    unverifiedFilters: [],
    count: false,
    versionField: null,
    webhookEvents: false,
  },
  events: {
    name: "events",
    path: "events",
    collection: "officeRndEvents",
    scope: "flex.collaboration.events.read",
    schema: eventSchema,
    rangeFilters: ["start", "end"],
    unverifiedFilters: [],
    count: true,
    versionField: null,
    webhookEvents: false,
  },
  bookings: {
    name: "bookings",
    path: "bookings",
    collection: "officeRndBookings",
    scope: "flex.space.bookings.read",
    schema: bookingSchema,
    rangeFilters: [],
    unverifiedFilters: ["modifiedAt"],
    count: true,
    versionField: "modifiedAt",
    versionFallback: "createdAt",
    webhookEvents: true,
  },
} as const satisfies Record<string, ResourceDefinition>;

export type ResourceName = keyof typeof RESOURCES;

/**
 * In the order of the design document's response (members, opportunities, companies), then the
 * design's next data types (locations, events, bookings).
 */
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

/** Whether `field` is one of the resource's unverified filters (only the incremental sync tries it). */
export function triesRangeFilter(name: ResourceName, field: RangeFilterField): boolean {
  return RESOURCES[name].unverifiedFilters.some((f) => f === field);
}

/**
 * How the incremental sync can list a type's records modified since a time (docs/officernd-api.md):
 * - "accepted": records carry `modifiedAt` and the listing takes a `modifiedAt` range (members,
 *   companies: v2 reference and live);
 * - "unverified": records carry `modifiedAt`, the filter is not verified (opportunities,
 *   bookings): tried, and a 400 sends the type back to the full backup only;
 * - "no_modified_at": records carry no `modifiedAt` (locations, events: live);
 * - "no_filter": records carry `modifiedAt` but the listing takes no such filter.
 */
export type ModifiedSinceSupport = "accepted" | "unverified" | "no_modified_at" | "no_filter";

export function modifiedSinceSupport(name: ResourceName): ModifiedSinceSupport {
  const definition: ResourceDefinition = RESOURCES[name];
  if (definition.versionField !== "modifiedAt") return "no_modified_at";
  if (acceptsRangeFilter(name, "modifiedAt")) return "accepted";
  return triesRangeFilter(name, "modifiedAt") ? "unverified" : "no_filter";
}

/** The record's version time (ms) by the resource's version field; null when it has none. */
export function recordVersion(
  name: ResourceName,
  record: Readonly<Record<string, unknown>>,
): number | null {
  const definition: ResourceDefinition = RESOURCES[name];
  const field = definition.versionField;
  if (field === null) return null;
  const fallback = definition.versionFallback;
  const value = record[field] ?? (fallback === undefined ? undefined : record[fallback]);
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

/**
 * The data types a deployment mirrors (BACKUP_RESOURCES): null means every registered one. An
 * unknown name is a configuration error naming the variable and the known names.
 */
export function selectResources(names: readonly string[] | null): ResourceName[] {
  if (names === null) return [...RESOURCE_NAMES];
  const known = new Set<string>(RESOURCE_NAMES);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new ConfigError(
      "BACKUP_RESOURCES",
      `must be all, or a comma list of ${RESOURCE_NAMES.join(", ")} (unknown: ${unknown.join(", ") || "none given"})`,
    );
  }
  // Registry order, whatever the order of the list.
  return RESOURCE_NAMES.filter((n) => names.includes(n));
}
