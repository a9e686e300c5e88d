import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { apiEndpoint } from "./api-endpoint";
import { FaultController, type FaultHandle, type FaultSpec } from "./faults";
import { ReadQuota, SlidingWindow } from "./rate-windows";
import { apiError, json, oauthError, type Reply } from "./replies";
import { seedData, type SandboxDataset, type SeedOptions } from "./seed";
import {
  DEFAULT_GRANTED_SCOPES,
  freshStats,
  type IssuedToken,
  type SandboxRequestLog,
  type SandboxSettings,
  type SandboxState,
  type SandboxStats,
} from "./state";
import { createSandboxData, type SandboxData } from "./store";
import { tokenEndpoint } from "./token-endpoint";

/**
 * A local stand-in for OfficeRnD's v2 API that does what the live API does, awkward parts
 * included (docs/officernd-api.md): client-credentials token endpoint; bearer-checked keyset
 * lists whose cursor fields are absent on the last page; strict query parameters; OfficeRnD's
 * error body; rate-limit headers with a per-minute budget and a daily quota; `/count`; and
 * switchable faults. Used by tests, `npm start` and the benchmarks; plain node:http so it starts
 * in milliseconds. Endpoints live in ./token-endpoint.ts and ./api-endpoint.ts.
 */

export { SANDBOX_SCOPES, DEFAULT_GRANTED_SCOPES } from "./state";
export type { SandboxRequestLog, SandboxRoute, SandboxSettings, SandboxStats } from "./state";
export { MAX_PAGE_SIZE } from "./list-query";

/**
 * The daily read quota the sandbox assumes by default. OfficeRnD publishes no figure; the live
 * headers state it (`check` shows it), so this is a placeholder of the right order.
 */
export const DEFAULT_READS_PER_DAY = 20_000;

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
  /** Spends the rest of today's read quota: every API read answers 429 until it resets. */
  exhaustDailyQuota(): void;
  /** Every token issued so far still answers, but as expired (401). */
  expireTokens(): void;
  /** Forgets every issued token (401 for all of them). */
  revokeTokens(): void;
  /** Every token issued since start, revoked ones included (tests check none leaks into logs). */
  issuedTokens(): string[];
  close(): Promise<void>;
}

function initialSettings(options: SandboxOptions): SandboxSettings {
  const or = <T>(value: T | undefined, fallback: T): T => (value === undefined ? fallback : value);
  return {
    tokenTtlSeconds: options.tokenTtlSeconds ?? 3599,
    tokenRequestsPerMinute: or(options.tokenRequestsPerMinute, 5),
    readsPerMinute: or(options.readsPerMinute, 400),
    readsPerDay: or(options.readsPerDay, DEFAULT_READS_PER_DAY),
    resetFormat: options.resetFormat ?? "seconds",
    retryAfterOn429: options.retryAfterOn429 ?? false,
    minuteWindowMs: options.minuteWindowMs ?? 60_000,
    latencyMs: options.latencyMs ?? 0,
    grantedScopes: [...(options.grantedScopes ?? DEFAULT_GRANTED_SCOPES)],
  };
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const host = options.host ?? "127.0.0.1";
  const logLimit = options.logLimit ?? 20_000;
  const settings = initialSettings(options);
  const dataset =
    options.data ??
    (options.seed === false ? {} : seedData(options.seed === undefined ? {} : options.seed));
  const timers = new Set<NodeJS.Timeout>();
  const state: SandboxState = {
    orgSlug: options.orgSlug ?? "sandbox-org",
    clientId: options.clientId ?? "sandbox-client",
    clientSecret: options.clientSecret ?? `sandbox-secret-${randomBytes(12).toString("hex")}`,
    settings,
    data: createSandboxData(dataset),
    faults: new FaultController(),
    stats: freshStats(),
    tokens: new Map<string, IssuedToken>(),
    everIssued: [],
    tokenWindow: new SlidingWindow(),
    readQuota: new ReadQuota(settings),
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, ms);
        timer.unref();
        timers.add(timer);
      }),
  };
  const { stats } = state;

  function send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.headersSent) return;
    const body = typeof reply.body === "string" ? Buffer.from(reply.body) : reply.body;
    res.writeHead(reply.status, {
      "content-type": reply.contentType ?? "application/json; charset=utf-8",
      "content-length": String(body.length),
      // Live responses carry these (docs/officernd-api.md).
      "x-powered-by": "Express",
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
      query: url.search.slice(1),
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

    if (settings.latencyMs > 0) await state.sleep(settings.latencyMs);
    let reply: Reply | null;
    if (url.pathname === "/oauth/token") {
      reply =
        req.method === "POST"
          ? await tokenEndpoint(state, req, log)
          : oauthError(405, "invalid_request", "Use POST");
    } else if (url.pathname.startsWith("/api/v2/")) {
      reply = await apiEndpoint(state, req, res, url, log);
    } else if (url.pathname === "/" || url.pathname === "/health") {
      reply = json(200, { ok: true, sandbox: "officernd", orgSlug: state.orgSlug });
    } else {
      reply = apiError(404, `Cannot ${req.method ?? "GET"} ${url.pathname}`, url.pathname);
    }
    if (reply) send(res, reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : "error";
      send(res, apiError(500, message, req.url ?? "/"));
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
    orgSlug: state.orgSlug,
    clientId: state.clientId,
    clientSecret: state.clientSecret,
    data: state.data,
    faults: state.faults,
    stats,
    settings,
    env(extra = {}) {
      return {
        OFFICERND_ORG_SLUG: state.orgSlug,
        OFFICERND_CLIENT_ID: state.clientId,
        OFFICERND_CLIENT_SECRET: state.clientSecret,
        OFFICERND_API_URL: apiUrl,
        OFFICERND_TOKEN_URL: tokenUrl,
        ...extra,
      };
    },
    setFault: (spec) => state.faults.setFault(spec),
    clearFaults: () => state.faults.clearFaults(),
    configure(next) {
      const { readsPerMinute, readsPerDay, tokenRequestsPerMinute, grantedScopes, ...rest } = next;
      Object.assign(
        settings,
        Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
      );
      if (grantedScopes !== undefined) settings.grantedScopes = [...grantedScopes];
      if (readsPerMinute !== undefined || readsPerDay !== undefined || rest.minuteWindowMs) {
        if (readsPerMinute !== undefined) settings.readsPerMinute = readsPerMinute;
        if (readsPerDay !== undefined) settings.readsPerDay = readsPerDay;
        state.readQuota.clear();
      }
      if (tokenRequestsPerMinute !== undefined) {
        settings.tokenRequestsPerMinute = tokenRequestsPerMinute;
        state.tokenWindow.clear();
      }
    },
    resetStats() {
      const inFlight = stats.inFlight;
      Object.assign(stats, freshStats(), { inFlight, maxInFlight: inFlight });
    },
    exhaustDailyQuota() {
      state.readQuota.exhaustDay(Date.now());
    },
    expireTokens() {
      for (const token of state.tokens.values()) token.expiresAt = 0;
    },
    revokeTokens() {
      state.tokens.clear();
    },
    issuedTokens() {
      return [...state.everIssued];
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
