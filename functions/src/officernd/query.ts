import {
  acceptsRangeFilter,
  resourceDefinition,
  triesRangeFilter,
  type RangeFilterField,
  type ResourceName,
} from "./resources";
import { OfficeRndError } from "./types";

/**
 * URLs of OfficeRnD list and count requests, built from what the resource registry says each
 * listing accepts. OfficeRnD refuses unknown query parameters (400 "property X should not
 * exist") and `$limit` above 50 (400 "$limit must not be greater than 50"), live, Feb 2026
 * (docs/officernd-api.md): a request this module cannot build correctly is never sent.
 */

/** OfficeRnD's maximum page size; a larger `$limit` is a 400. */
export const PAGE_SIZE = 50;

export const RANGE_OPERATORS = ["$gt", "$gte", "$lt", "$lte"] as const;
export type RangeOperator = (typeof RANGE_OPERATORS)[number];

export interface RangeFilter {
  field: RangeFilterField;
  op: RangeOperator;
  /** ISO 8601 time. */
  value: string;
}

export interface ListQuery {
  /** Opaque `cursorNext` of the previous page. */
  cursor?: string | null;
  filters?: readonly RangeFilter[];
}

interface OrgConfig {
  apiUrl: string;
  orgSlug: string;
}

function orgBase(config: OrgConfig): string {
  return `${config.apiUrl.replace(/\/+$/, "")}/organizations/${encodeURIComponent(config.orgSlug)}`;
}

/**
 * A filter the resource does not accept is a bug of the caller: refused before any request. An
 * unverified one (the registry's `unverifiedFilters`) is sent: the incremental sync tries it and
 * takes OfficeRnD's 400 as the answer.
 */
function checkFilter(resource: ResourceName, filter: RangeFilter): void {
  if (!acceptsRangeFilter(resource, filter.field) && !triesRangeFilter(resource, filter.field)) {
    throw new OfficeRndError(
      "bad_request",
      `OfficeRnD ${resource} does not accept a ${filter.field} filter (resource registry); not sent`,
      { resource },
    );
  }
  if (Number.isNaN(Date.parse(filter.value))) {
    throw new OfficeRndError(
      "bad_request",
      `${filter.field}[${filter.op}] must be an ISO 8601 time, got "${filter.value}"`,
      { resource },
    );
  }
}

/** The query parameters of one list request: `$limit=50`, the cursor, accepted filters only. */
function listParams(resource: ResourceName, query: ListQuery = {}): URLSearchParams {
  const params = new URLSearchParams({ $limit: String(PAGE_SIZE) });
  if (query.cursor != null) params.set("$cursorNext", query.cursor);
  for (const filter of query.filters ?? []) {
    checkFilter(resource, filter);
    params.set(`${filter.field}[${filter.op}]`, filter.value);
  }
  return params;
}

/** URL of one page of a resource's list. The client and `check` share it. */
export function resourcePageUrl(
  config: OrgConfig,
  resource: ResourceName,
  query: ListQuery = {},
): string {
  const params = listParams(resource, query);
  return `${orgBase(config)}/${resourceDefinition(resource).path}?${params.toString()}`;
}

/** URL of `GET /{resource}/count`; null for resources that have no count endpoint. */
/** URL of one record (`GET /{resource}/{id}`, docs/officernd-api.md). */
export function resourceRecordUrl(config: OrgConfig, resource: ResourceName, id: string): string {
  return `${orgBase(config)}/${resourceDefinition(resource).path}/${encodeURIComponent(id)}`;
}

export function resourceCountUrl(config: OrgConfig, resource: ResourceName): string | null {
  const definition = resourceDefinition(resource);
  return definition.count ? `${orgBase(config)}/${definition.path}/count` : null;
}
