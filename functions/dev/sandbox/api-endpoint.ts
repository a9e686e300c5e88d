import type { IncomingMessage, ServerResponse } from "node:http";
import {
  bound,
  decodeCursor,
  encodeCursor,
  LIST_RULES,
  parseListQuery,
  project,
  type ListQuery,
} from "./list-query";
import { apiError, html, json, MAINTENANCE_PAGE, type Reply } from "./replies";
import {
  SANDBOX_RESOURCES,
  type JsonValue,
  type SandboxRecord,
  type SandboxResource,
} from "./seed";
import { SANDBOX_SCOPES, type SandboxRequestLog, type SandboxState } from "./state";

/**
 * `GET /api/v2/organizations/{org}/{resource}[/{id}|/count]`, as OfficeRnD's live API answers
 * (Feb 2026, docs/officernd-api.md): every answer carries the read budget's rate-limit headers;
 * a bearer token with the resource's scope is required; a wrong org slug is a 500
 * "Organization not found"; lists are keyset pages by `_id` whose `cursorNext`/`cursorPrev` are
 * absent when there is no such page; a tampered cursor is a 500 and both cursors at once a 504.
 */

function withHeaders(reply: Reply | null, headers: Record<string, string>): Reply | null {
  return reply === null ? null : { ...reply, headers: { ...headers, ...reply.headers } };
}

function authorize(
  state: SandboxState,
  req: IncomingMessage,
  resource: SandboxResource,
  path: string,
) {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  const token = bearer ? state.tokens.get(bearer[1] ?? "") : undefined;
  if (token === undefined || token.expiresAt <= Date.now()) {
    return apiError(401, "Unauthorized access", path, {
      "www-authenticate": 'Bearer realm="officernd", error="invalid_token"',
    });
  }
  const scope = SANDBOX_SCOPES[resource];
  if (!token.scopes.has(scope)) {
    return apiError(403, `The access token lacks the ${scope} scope`, path);
  }
  return null;
}

export async function apiEndpoint(
  state: SandboxState,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  log: SandboxRequestLog,
): Promise<Reply | null> {
  const path = url.pathname;
  const match = /^\/api\/v2\/organizations\/([^/]+)\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
  const resource = match?.[2] as SandboxResource | undefined;
  if (
    req.method !== "GET" ||
    !match ||
    resource === undefined ||
    !SANDBOX_RESOURCES.includes(resource)
  ) {
    return apiError(404, `Cannot ${req.method ?? "GET"} ${path}`, path);
  }
  const tail = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
  const isCount = tail === "count" && LIST_RULES[resource].count;
  log.route = tail === undefined ? "list" : isCount ? "count" : "get";
  log.resource = resource;
  state.stats.reads += 1;
  state.stats.byResource[resource] += 1;

  const admission = state.readQuota.admit(Date.now());
  if (!admission.allowed) {
    state.stats.throttled += 1;
    return apiError(429, "Too Many Requests", path, admission.headers);
  }
  const reply = await answer(state, req, res, url, log, resource, tail, isCount);
  return withHeaders(reply, admission.headers);
}

async function answer(
  state: SandboxState,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  log: SandboxRequestLog,
  resource: SandboxResource,
  tail: string | undefined,
  isCount: boolean,
): Promise<Reply | null> {
  const path = url.pathname;
  const denied = authorize(state, req, resource, path);
  if (denied) return denied;
  const slug = /^\/api\/v2\/organizations\/([^/]+)\//.exec(path)?.[1] ?? "";
  if (decodeURIComponent(slug) !== state.orgSlug) {
    return apiError(500, "Organization not found", path);
  }
  const store = state.data[resource];
  if (tail !== undefined && !isCount) {
    const record = store.get(tail);
    return record ? json(200, record) : apiError(404, `No ${resource} record ${tail}`, path);
  }
  const parsed = parseListQuery(resource, url.searchParams);
  if ("errors" in parsed) {
    state.stats.refusedParams += 1;
    return apiError(400, parsed.errors, path);
  }
  const records = parsed.filter === null ? store.all() : store.all().filter(parsed.filter);
  if (isCount) return json(200, { total: records.length });
  return listPage(state, res, log, resource, parsed, records, path);
}

async function listPage(
  state: SandboxState,
  res: ServerResponse,
  log: SandboxRequestLog,
  resource: SandboxResource,
  query: ListQuery,
  records: readonly SandboxRecord[],
  path: string,
): Promise<Reply | null> {
  const { limit } = query;
  if (query.cursorNext !== null && query.cursorPrev !== null) {
    return apiError(504, "Gateway Timeout", path);
  }
  let start = 0;
  let end = Math.min(limit, records.length);
  try {
    if (query.cursorNext !== null) {
      start = bound(records, decodeCursor(query.cursorNext), false);
      end = Math.min(start + limit, records.length);
    } else if (query.cursorPrev !== null) {
      end = bound(records, decodeCursor(query.cursorPrev), true);
      start = Math.max(0, end - limit);
    }
  } catch (error) {
    return apiError(500, error instanceof Error ? error.message : "Internal server error", path);
  }
  const page = Math.floor(start / limit) + 1;
  log.page = page;

  const fault = state.faults.take(
    "api",
    resource,
    page,
    (spec) => spec.kind !== "repeat-cursor" || query.cursorNext !== null,
  );
  if (fault) {
    log.fault = fault.kind;
    state.stats.faultsServed += 1;
    switch (fault.kind) {
      case "5xx":
        return apiError(fault.status ?? 503, fault.message ?? "Service Unavailable", path);
      case "4xx":
        return apiError(fault.status ?? 400, fault.message ?? "Bad Request", path);
      case "401":
        return apiError(401, "Unauthorized access", path, {
          "www-authenticate": 'Bearer realm="officernd", error="invalid_token"',
        });
      case "429":
        state.stats.throttled += 1;
        return apiError(
          429,
          "Too Many Requests",
          path,
          fault.retryAfter === null ? {} : { "retry-after": String(fault.retryAfter ?? 1) },
        );
      case "hang":
        return null;
      case "reset":
        res.socket?.destroy();
        return null;
      case "html":
        return html(MAINTENANCE_PAGE);
      case "slow":
        await state.sleep(fault.delayMs ?? 2000);
        break;
      default:
        break;
    }
  }

  const slice = records.slice(start, end);
  const last = slice[slice.length - 1];
  const first = slice[0];
  let results: Record<string, JsonValue>[] = slice.map((r) => project(r, query.select));
  let cursorNext = end < records.length && last ? encodeCursor(last._id, limit) : null;
  const cursorPrev = start > 0 && first ? encodeCursor(first._id, limit) : null;

  if (fault?.kind === "bad-record") {
    const count = fault.count ?? 1;
    results = results.map((record, i) => {
      if (i >= count) return record;
      const copy: Record<string, JsonValue> = { ...record };
      delete copy._id;
      return copy;
    });
  } else if (fault?.kind === "duplicate") {
    const previous = start > 0 ? records[start - 1] : results[0];
    if (previous) {
      results =
        start > 0 ? [previous, ...results.slice(1)] : [previous, previous, ...results.slice(2)];
    }
  } else if (fault?.kind === "repeat-cursor") {
    cursorNext = query.cursorNext;
  } else if (fault?.kind === "tampered-cursor" && cursorNext !== null) {
    cursorNext = `${cursorNext.slice(0, -6)}tamper`;
  } else if (fault?.kind === "cut-short") {
    cursorNext = null;
  } else if (fault?.kind === "unordered") {
    results = [...results].reverse();
  }

  // Live: the cursor fields are absent, not null, when there is no such page.
  const envelope = {
    rangeStart: results.length > 0 ? start + 1 : 0,
    rangeEnd: results.length > 0 ? start + results.length : 0,
    results,
    ...(cursorNext === null ? {} : { cursorNext }),
    ...(cursorPrev === null ? {} : { cursorPrev }),
  };
  if (fault?.kind === "wrong-envelope") {
    return json(200, { data: results, next: cursorNext, total: records.length });
  }
  if (fault?.kind === "truncated") {
    const full = Buffer.from(JSON.stringify(envelope));
    return {
      status: 200,
      body: full.subarray(0, Math.floor(full.length / 2)),
      contentType: "application/json; charset=utf-8",
    };
  }
  return json(200, envelope);
}
