import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FaultController, type FaultHandle, type FaultKind, type FaultSpec } from "./faults";
import {
  SANDBOX_RESOURCES,
  seedData,
  type JsonValue,
  type SandboxDataset,
  type SandboxRecord,
  type SandboxResource,
  type SeedOptions,
} from "./seed";
import { createSandboxData, type SandboxData } from "./store";

/**
 * A local stand-in for OfficeRnD's v2 API as documented (docs/officernd-api.md in the design):
 * client-credentials token endpoint, bearer-checked cursor-paginated lists, a sliding-window read
 * budget answering 429 + Retry-After, and switchable faults. Used by tests, `npm start` and the
 * benchmark; plain node:http so it starts in milliseconds and has no dependencies.
 */

/** Read scope per resource, as OfficeRnD names them. */
export const SANDBOX_SCOPES: Record<SandboxResource, string> = {
  members: "flex.community.members.read",
  companies: "flex.community.companies.read",
  opportunities: "flex.community.opportunities.read",
};

/** What the sandbox application is granted by default: the read scopes, nothing that writes. */
export const DEFAULT_GRANTED_SCOPES: readonly string[] = [
  ...Object.values(SANDBOX_SCOPES),
  "flex.space.locations.read",
  "flex.space.bookings.read",
  "flex.collaboration.events.read",
];

export const MAX_PAGE_SIZE = 50;

/** Runtime-adjustable behaviour (see `Sandbox.configure`). */
export interface SandboxSettings {
  /** `expires_in` of issued tokens. OfficeRnD: 3599. */
  tokenTtlSeconds: number;
  /** Token endpoint budget per sliding minute (OfficeRnD: about 5); null = unlimited. */
  tokenRequestsPerMinute: number | null;
  /** API read budget per sliding minute (OfficeRnD: about 400); null = unlimited. */
  readsPerMinute: number | null;
  /** Added to every request before it is handled. */
  latencyMs: number;
  /** Scopes the application may ask for. */
  grantedScopes: string[];
}

export interface SandboxOptions extends Partial<SandboxSettings> {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  orgSlug?: string;
  clientId?: string;
  /** Default: random per sandbox (so tests can prove it never leaks). */
  clientSecret?: string;
  /** Exact records to serve; when absent, `seed` generates them. */
  data?: Partial<SandboxDataset>;
  /** Generated data (sizes and PRNG seed); `false` starts empty. Default: small seeded data. */
  seed?: SeedOptions | false;
  /** How many request log entries `stats.log` keeps (oldest dropped). Default 20,000. */
  logLimit?: number;
}

export type SandboxRoute = "token" | "list" | "get" | "other";

export interface SandboxRequestLog {
  /** Epoch ms when the request arrived and when its response closed. */
  at: number;
  end: number;
  method: string;
  path: string;
  route: SandboxRoute;
  resource: SandboxResource | null;
  /** 1-based page of a list request. */
  page: number | null;
  /** 0 when the connection closed without an answer. */
  status: number;
  fault: FaultKind | null;
}

export interface SandboxStats {
  requests: number;
  tokenRequests: number;
  tokensIssued: number;
  /** API requests (lists and single records). */
  reads: number;
  byResource: Record<SandboxResource, number>;
  byStatus: Record<string, number>;
  /** 429s served by the API (read budget and faults). */
  throttled: number;
  /** 429s served by the token endpoint. */
  tokenThrottled: number;
  faultsServed: number;
  inFlight: number;
  maxInFlight: number;
  /** One entry per request, oldest first (bounded by `logLimit`). */
  log: SandboxRequestLog[];
}

export interface SandboxEnv {
  OFFICERND_ORG_SLUG: string;
  OFFICERND_CLIENT_ID: string;
  OFFICERND_CLIENT_SECRET: string;
  OFFICERND_API_URL: string;
  OFFICERND_TOKEN_URL: string;
  [key: string]: string;
}

export interface Sandbox {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  readonly url: string;
  /** `${url}/api/v2`: the value of OFFICERND_API_URL. */
  readonly apiUrl: string;
  /** `${url}/oauth/token`: the value of OFFICERND_TOKEN_URL. */
  readonly tokenUrl: string;
  readonly port: number;
  readonly orgSlug: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** OfficeRnD's records, mutable while the sandbox runs. */
  readonly data: SandboxData;
  readonly faults: FaultController;
  /** Live counters; `resetStats()` zeroes them. */
  readonly stats: SandboxStats;
  readonly settings: Readonly<SandboxSettings>;
  /** The OFFICERND_* variables that point the product at this sandbox. */
  env(extra?: Record<string, string>): SandboxEnv;
  setFault(spec: FaultSpec): FaultHandle;
  clearFaults(): void;
  configure(settings: Partial<SandboxSettings>): void;
  resetStats(): void;
  /** Every token issued so far still answers, but as expired (401). */
  expireTokens(): void;
  /** Forgets every issued token (401 for all of them). */
  revokeTokens(): void;
  /** Every token issued since start, revoked ones included (tests check none leaks into logs). */
  issuedTokens(): string[];
  close(): Promise<void>;
}

interface IssuedToken {
  expiresAt: number;
  scopes: ReadonlySet<string>;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  contentType?: string;
}

/** Counts events in a sliding window (OfficeRnD's limits are "per minute"; we assume sliding). */
class SlidingWindow {
  private readonly times: number[] = [];
  constructor(private readonly windowMs = 60_000) {}
  private prune(now: number): void {
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] ?? 0) <= now - this.windowMs) drop += 1;
    if (drop > 0) this.times.splice(0, drop);
  }
  full(now: number, limit: number | null): boolean {
    if (limit === null) return false;
    this.prune(now);
    return this.times.length >= limit;
  }
  add(now: number): void {
    this.times.push(now);
  }
  /** Whole seconds until the oldest event leaves the window. */
  retryAfterSeconds(now: number): number {
    const oldest = this.times[0] ?? now;
    return Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000));
  }
  clear(): void {
    this.times.length = 0;
  }
}

function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return {
    status,
    body: JSON.stringify(body),
    contentType: "application/json; charset=utf-8",
    headers,
  };
}

function apiError(
  status: number,
  error: string,
  message: string,
  headers?: Record<string, string>,
): Reply {
  return json(status, { statusCode: status, error, message }, headers);
}

function oauthError(status: number, error: string, description: string): Reply {
  return json(status, { error, error_description: description }, { "cache-control": "no-store" });
}

const MAINTENANCE_PAGE =
  "<!DOCTYPE html><html><head><title>OfficeRnD is down for maintenance</title></head>" +
  "<body><h1>We'll be back soon</h1><p>Scheduled maintenance in progress.</p></body></html>";

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** First index whose _id is > id (or >= id when `inclusive`). */
function bound(records: readonly SandboxRecord[], id: string, inclusive: boolean): number {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const midId = records[mid]?._id ?? "";
    if (midId < id || (!inclusive && midId === id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const RANGE_OPS = ["$gt", "$gte", "$lt", "$lte"] as const;
type RangeOp = (typeof RANGE_OPS)[number];

type Predicate = (record: SandboxRecord) => boolean;

/** `modifiedAt[$gte]=…`, `createdAt[$lt]=…` and equality filters (`email=…`, `company=…`). */
function parseFilters(query: URLSearchParams): Predicate | string | null {
  const tests: Predicate[] = [];
  for (const [key, value] of query) {
    if (key.startsWith("$")) continue;
    const range = /^(createdAt|modifiedAt|startDate)\[(\$[a-z]+)\]$/.exec(key);
    if (range) {
      const field = range[1] ?? "";
      const op = range[2] as RangeOp;
      if (!RANGE_OPS.includes(op)) return `unsupported operator ${op} for ${field}`;
      const bound = Date.parse(value);
      if (Number.isNaN(bound)) return `${key} must be an ISO date`;
      tests.push((record) => {
        const raw = record[field];
        if (typeof raw !== "string") return false;
        const t = Date.parse(raw);
        if (op === "$gt") return t > bound;
        if (op === "$gte") return t >= bound;
        if (op === "$lt") return t < bound;
        return t <= bound;
      });
      continue;
    }
    if (key.includes("[") || key.includes(".")) return `unsupported filter ${key}`;
    tests.push((record) => {
      const raw = record[key];
      const primitive =
        typeof raw === "string" || typeof raw === "number" || typeof raw === "boolean";
      return primitive && String(raw) === value;
    });
  }
  if (tests.length === 0) return null;
  return (record) => tests.every((test) => test(record));
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const host = options.host ?? "127.0.0.1";
  const orgSlug = options.orgSlug ?? "sandbox-org";
  const clientId = options.clientId ?? "sandbox-client";
  const clientSecret = options.clientSecret ?? `sandbox-secret-${randomBytes(12).toString("hex")}`;
  const logLimit = options.logLimit ?? 20_000;
  const settings: SandboxSettings = {
    tokenTtlSeconds: options.tokenTtlSeconds ?? 3599,
    tokenRequestsPerMinute:
      options.tokenRequestsPerMinute === undefined ? 5 : options.tokenRequestsPerMinute,
    readsPerMinute: options.readsPerMinute === undefined ? 400 : options.readsPerMinute,
    latencyMs: options.latencyMs ?? 0,
    grantedScopes: [...(options.grantedScopes ?? DEFAULT_GRANTED_SCOPES)],
  };

  const dataset =
    options.data ??
    (options.seed === false ? {} : seedData(options.seed === undefined ? {} : options.seed));
  const data = createSandboxData(dataset);
  const faults = new FaultController();
  /** Salt of this sandbox's cursors: opaque, and a cursor from another sandbox is rejected. */
  const cursorSalt = randomBytes(4).toString("hex");
  const tokens = new Map<string, IssuedToken>();
  const everIssued: string[] = [];
  const tokenWindow = new SlidingWindow();
  const readWindow = new SlidingWindow();
  const timers = new Set<NodeJS.Timeout>();

  const freshStats = (): SandboxStats => ({
    requests: 0,
    tokenRequests: 0,
    tokensIssued: 0,
    reads: 0,
    byResource: { members: 0, companies: 0, opportunities: 0 },
    byStatus: {},
    throttled: 0,
    tokenThrottled: 0,
    faultsServed: 0,
    inFlight: 0,
    maxInFlight: 0,
    log: [],
  });
  const stats = freshStats();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      timers.add(timer);
    });

  const encodeCursor = (direction: "n" | "p", id: string) =>
    Buffer.from(JSON.stringify({ v: 1, d: direction, id, s: cursorSalt })).toString("base64url");

  const decodeCursor = (cursor: string, direction: "n" | "p"): string | null => {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
      if (typeof parsed !== "object" || parsed === null) return null;
      const { d, id, s } = parsed as Record<string, unknown>;
      if (d !== direction || s !== cursorSalt || typeof id !== "string") return null;
      return id;
    } catch {
      return null;
    }
  };

  // ---- POST /oauth/token ------------------------------------------------------------------------

  async function tokenEndpoint(
    req: IncomingMessage,
    log: SandboxRequestLog,
  ): Promise<Reply | null> {
    log.route = "token";
    stats.tokenRequests += 1;
    const now = Date.now();
    if (tokenWindow.full(now, settings.tokenRequestsPerMinute)) {
      stats.tokenThrottled += 1;
      return json(
        429,
        { error: "too_many_requests", error_description: "Token rate limit exceeded" },
        { "retry-after": String(tokenWindow.retryAfterSeconds(now)) },
      );
    }
    tokenWindow.add(now);

    const fault = faults.take("token", null, null);
    if (fault) {
      log.fault = fault.kind;
      stats.faultsServed += 1;
      switch (fault.kind) {
        case "token-429":
          stats.tokenThrottled += 1;
          return json(
            429,
            { error: "too_many_requests", error_description: "Token rate limit exceeded" },
            { "retry-after": String(fault.retryAfter ?? 1) },
          );
        case "token-5xx":
          return json(fault.status ?? 503, {
            error: "server_error",
            error_description: "Try again later",
          });
        case "token-html":
          return { status: 200, body: MAINTENANCE_PAGE, contentType: "text/html; charset=utf-8" };
        case "token-hang":
          return null;
        case "token-slow":
          await sleep(fault.delayMs ?? 2000);
          break;
        default:
          break;
      }
    }

    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    const raw = await readBody(req);
    if (contentType !== "application/x-www-form-urlencoded") {
      return oauthError(
        400,
        "invalid_request",
        "Content-Type must be application/x-www-form-urlencoded",
      );
    }
    const form = new URLSearchParams(raw);
    if (form.get("grant_type") !== "client_credentials") {
      return oauthError(400, "unsupported_grant_type", "Only client_credentials is supported");
    }
    let id = form.get("client_id");
    let secret = form.get("client_secret");
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (basic && id === null) {
      const [user, pass] = Buffer.from(basic[1] ?? "", "base64")
        .toString("utf8")
        .split(":");
      id = decodeURIComponent(user ?? "");
      secret = decodeURIComponent(pass ?? "");
    }
    if (
      id === null ||
      secret === null ||
      !safeEqual(id, clientId) ||
      !safeEqual(secret, clientSecret)
    ) {
      return oauthError(401, "invalid_client", "Client authentication failed");
    }
    const requested = (form.get("scope") ?? "").split(/\s+/).filter((s) => s !== "");
    const granted = new Set(settings.grantedScopes);
    const denied = requested.filter((s) => !granted.has(s));
    if (denied.length > 0) {
      return oauthError(
        400,
        "invalid_scope",
        `Scope not granted to this application: ${denied.join(" ")}`,
      );
    }
    const scopes = requested.length > 0 ? requested : [...granted];
    const accessToken = randomBytes(32).toString("base64url");
    tokens.set(accessToken, {
      expiresAt: Date.now() + settings.tokenTtlSeconds * 1000,
      scopes: new Set(scopes),
    });
    stats.tokensIssued += 1;
    everIssued.push(accessToken);
    return json(
      200,
      {
        access_token: accessToken,
        token_type: "Bearer",
        expires_in: settings.tokenTtlSeconds,
        scope: scopes.join(" "),
      },
      { "cache-control": "no-store" },
    );
  }

  // ---- GET /api/v2/organizations/{org}/{resource}[/{id}] -----------------------------------------

  function authorize(req: IncomingMessage, resource: SandboxResource): Reply | null {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const token = bearer ? tokens.get(bearer[1] ?? "") : undefined;
    if (token === undefined || token.expiresAt <= Date.now()) {
      return apiError(
        401,
        "Unauthorized",
        token ? "Access token expired" : "Invalid or missing access token",
        {
          "www-authenticate": 'Bearer realm="officernd", error="invalid_token"',
        },
      );
    }
    const scope = SANDBOX_SCOPES[resource];
    if (!token.scopes.has(scope)) {
      return apiError(403, "Forbidden", `The access token lacks the ${scope} scope`);
    }
    return null;
  }

  async function apiEndpoint(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    log: SandboxRequestLog,
  ): Promise<Reply | null> {
    const match = /^\/api\/v2\/organizations\/([^/]+)\/([^/]+)(?:\/([^/]+))?\/?$/.exec(
      url.pathname,
    );
    const resource = match?.[2] as SandboxResource | undefined;
    if (
      req.method !== "GET" ||
      !match ||
      resource === undefined ||
      !SANDBOX_RESOURCES.includes(resource)
    ) {
      return apiError(404, "Not Found", `Cannot ${req.method ?? "GET"} ${url.pathname}`);
    }
    const recordId = match[3];
    log.route = recordId === undefined ? "list" : "get";
    log.resource = resource;
    stats.reads += 1;
    stats.byResource[resource] += 1;

    const now = Date.now();
    if (readWindow.full(now, settings.readsPerMinute)) {
      stats.throttled += 1;
      return apiError(429, "Too Many Requests", "Rate limit exceeded", {
        "retry-after": String(readWindow.retryAfterSeconds(now)),
      });
    }
    readWindow.add(now);

    const denied = authorize(req, resource);
    if (denied) return denied;
    if (decodeURIComponent(match[1] ?? "") !== orgSlug) {
      return apiError(404, "Not Found", `Organization ${match[1]} not found`);
    }

    if (recordId !== undefined) {
      const record = data[resource].get(decodeURIComponent(recordId));
      return record
        ? json(200, record)
        : apiError(404, "Not Found", `No ${resource} record ${recordId}`);
    }

    // Query
    const query = url.searchParams;
    const limitParam = query.get("$limit");
    let limit = MAX_PAGE_SIZE;
    if (limitParam !== null) {
      const parsed = Number(limitParam);
      if (!Number.isInteger(parsed) || parsed < 1) {
        return apiError(400, "Bad Request", "$limit must be a positive integer");
      }
      limit = Math.min(parsed, MAX_PAGE_SIZE); // capped silently, as OfficeRnD does
    }
    const filter = parseFilters(query);
    if (typeof filter === "string") return apiError(400, "Bad Request", filter);
    const all = data[resource].all();
    const records = filter === null ? all : all.filter(filter);

    const nextParam = query.get("$cursorNext");
    const prevParam = query.get("$cursorPrev");
    let start = 0;
    let end = Math.min(limit, records.length);
    if (nextParam !== null) {
      const after = decodeCursor(nextParam, "n");
      if (after === null) return apiError(400, "Bad Request", "Invalid $cursorNext");
      start = bound(records, after, false);
      end = Math.min(start + limit, records.length);
    } else if (prevParam !== null) {
      const before = decodeCursor(prevParam, "p");
      if (before === null) return apiError(400, "Bad Request", "Invalid $cursorPrev");
      end = bound(records, before, true);
      start = Math.max(0, end - limit);
    }
    const page = Math.floor(start / limit) + 1;
    log.page = page;

    const fault = faults.take(
      "api",
      resource,
      page,
      (spec) => spec.kind !== "repeat-cursor" || nextParam !== null,
    );
    if (fault) {
      log.fault = fault.kind;
      stats.faultsServed += 1;
      switch (fault.kind) {
        case "5xx":
          return apiError(
            fault.status ?? 503,
            "Service Unavailable",
            fault.message ?? "Service Unavailable",
          );
        case "4xx":
          return apiError(fault.status ?? 400, "Bad Request", fault.message ?? "Bad Request");
        case "401":
          return apiError(401, "Unauthorized", "Access token revoked", {
            "www-authenticate": 'Bearer realm="officernd", error="invalid_token"',
          });
        case "429":
          stats.throttled += 1;
          return apiError(429, "Too Many Requests", "Rate limit exceeded", {
            "retry-after": String(fault.retryAfter ?? 1),
          });
        case "hang":
          return null;
        case "reset":
          res.socket?.destroy();
          return null;
        case "html":
          return { status: 200, body: MAINTENANCE_PAGE, contentType: "text/html; charset=utf-8" };
        case "slow":
          await sleep(fault.delayMs ?? 2000);
          break;
        default:
          break;
      }
    }

    const slice = records.slice(start, end);
    const last = slice[slice.length - 1];
    const first = slice[0];
    let results: Record<string, JsonValue>[] = slice;
    let cursorNext = end < records.length && last ? encodeCursor("n", last._id) : null;
    const cursorPrev = start > 0 && first ? encodeCursor("p", first._id) : null;

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
      cursorNext = nextParam;
    }

    const envelope = {
      results,
      cursorNext,
      cursorPrev,
      rangeStart: results.length > 0 ? start + 1 : 0,
      rangeEnd: start + results.length,
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

  // ---- plumbing ---------------------------------------------------------------------------------

  function send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.headersSent) return;
    const body = typeof reply.body === "string" ? Buffer.from(reply.body) : reply.body;
    res.writeHead(reply.status, {
      "content-type": reply.contentType ?? "application/json; charset=utf-8",
      "content-length": String(body.length),
      ...reply.headers,
    });
    res.end(body);
  }

  function record(log: SandboxRequestLog): void {
    stats.log.push(log);
    if (stats.log.length > logLimit) stats.log.splice(0, stats.log.length - logLimit);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandbox.invalid");
    const log: SandboxRequestLog = {
      at: Date.now(),
      end: 0,
      method: req.method ?? "GET",
      path: url.pathname,
      route: "other",
      resource: null,
      page: null,
      status: 0,
      fault: null,
    };
    stats.requests += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.on("close", () => {
      stats.inFlight -= 1;
      log.end = Date.now();
      log.status = res.headersSent ? res.statusCode : 0;
      const key = String(log.status);
      stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
      record(log);
    });

    if (settings.latencyMs > 0) await sleep(settings.latencyMs);
    let reply: Reply | null;
    if (url.pathname === "/oauth/token") {
      reply =
        req.method === "POST"
          ? await tokenEndpoint(req, log)
          : oauthError(405, "invalid_request", "Use POST");
    } else if (url.pathname.startsWith("/api/v2/")) {
      reply = await apiEndpoint(req, res, url, log);
    } else if (url.pathname === "/" || url.pathname === "/health") {
      reply = json(200, { ok: true, sandbox: "officernd", orgSlug });
    } else {
      reply = apiError(404, "Not Found", `Cannot ${req.method ?? "GET"} ${url.pathname}`);
    }
    if (reply) send(res, reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(
        res,
        apiError(500, "Internal Server Error", error instanceof Error ? error.message : "error"),
      );
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const apiUrl = `${url}/api/v2`;
  const tokenUrl = `${url}/oauth/token`;
  let closed: Promise<void> | null = null;

  return {
    url,
    apiUrl,
    tokenUrl,
    port,
    orgSlug,
    clientId,
    clientSecret,
    data,
    faults,
    stats,
    settings,
    env(extra = {}) {
      return {
        OFFICERND_ORG_SLUG: orgSlug,
        OFFICERND_CLIENT_ID: clientId,
        OFFICERND_CLIENT_SECRET: clientSecret,
        OFFICERND_API_URL: apiUrl,
        OFFICERND_TOKEN_URL: tokenUrl,
        ...extra,
      };
    },
    setFault: (spec) => faults.setFault(spec),
    clearFaults: () => faults.clearFaults(),
    configure(next) {
      if (next.tokenTtlSeconds !== undefined) settings.tokenTtlSeconds = next.tokenTtlSeconds;
      if (next.latencyMs !== undefined) settings.latencyMs = next.latencyMs;
      if (next.grantedScopes !== undefined) settings.grantedScopes = [...next.grantedScopes];
      if (next.readsPerMinute !== undefined) {
        settings.readsPerMinute = next.readsPerMinute;
        readWindow.clear();
      }
      if (next.tokenRequestsPerMinute !== undefined) {
        settings.tokenRequestsPerMinute = next.tokenRequestsPerMinute;
        tokenWindow.clear();
      }
    },
    resetStats() {
      const inFlight = stats.inFlight;
      Object.assign(stats, freshStats(), { inFlight, maxInFlight: inFlight });
    },
    expireTokens() {
      for (const token of tokens.values()) token.expiresAt = 0;
    },
    revokeTokens() {
      tokens.clear();
    },
    issuedTokens() {
      return [...everIssued];
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
