import type { z } from "zod";
import { companySchema, memberSchema, opportunitySchema } from "./schemas";

/**
 * The resources the backup mirrors, as data. Adding locations, events or bookings later is one
 * entry here (path, collection, scope, schema): client, diff, writer and status iterate this list.
 */
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
}

export const RESOURCES = {
  members: {
    name: "members",
    path: "members",
    collection: "officeRndMembers",
    scope: "flex.community.members.read",
    schema: memberSchema,
  },
  opportunities: {
    name: "opportunities",
    path: "opportunities",
    collection: "officeRndOpportunities",
    scope: "flex.community.opportunities.read",
    schema: opportunitySchema,
  },
  companies: {
    name: "companies",
    path: "companies",
    collection: "officeRndCompanies",
    scope: "flex.community.companies.read",
    schema: companySchema,
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
