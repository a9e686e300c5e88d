import type { FaultController, FaultKind } from "./faults";
import type { ReadLimitSettings, ReadQuota, SlidingWindow } from "./rate-windows";
import type { SandboxResource } from "./seed";
import type { SandboxData } from "./store";

/** The sandbox's shared state and types: what its endpoints read and update. */

/** Read scope per resource, as OfficeRnD names them. */
export const SANDBOX_SCOPES: Record<SandboxResource, string> = {
  members: "flex.community.members.read",
  companies: "flex.community.companies.read",
  opportunities: "flex.community.opportunities.read",
  locations: "flex.space.locations.read",
  events: "flex.collaboration.events.read",
  bookings: "flex.space.bookings.read",
};

/** What the sandbox application is granted by default: the read scopes, nothing that writes. */
export const DEFAULT_GRANTED_SCOPES: readonly string[] = Object.values(SANDBOX_SCOPES);

/** Runtime-adjustable behaviour (see `Sandbox.configure`). */
export interface SandboxSettings extends ReadLimitSettings {
  /** `expires_in` of issued tokens. OfficeRnD: 3599. */
  tokenTtlSeconds: number;
  /** Token endpoint budget per sliding minute (OfficeRnD: about 5); null = unlimited. */
  tokenRequestsPerMinute: number | null;
  /** Added to every request before it is handled. */
  latencyMs: number;
  /** Scopes the application may ask for. */
  grantedScopes: string[];
}

export type SandboxRoute = "token" | "list" | "get" | "count" | "other";

export interface SandboxRequestLog {
  /** Epoch ms when the request arrived and when its response closed. */
  at: number;
  end: number;
  method: string;
  path: string;
  /** The query string as received (without `?`). */
  query: string;
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
  /** API requests (lists, counts and single records). */
  reads: number;
  byResource: Record<SandboxResource, number>;
  byStatus: Record<string, number>;
  /** 429s served by the API (read budget, daily quota and faults). */
  throttled: number;
  /** 429s served by the token endpoint. */
  tokenThrottled: number;
  /** 400s served for refused query parameters. */
  refusedParams: number;
  faultsServed: number;
  inFlight: number;
  maxInFlight: number;
  /** One entry per request, oldest first (bounded by `logLimit`). */
  log: SandboxRequestLog[];
}

export function freshStats(): SandboxStats {
  return {
    requests: 0,
    tokenRequests: 0,
    tokensIssued: 0,
    reads: 0,
    byResource: {
      members: 0,
      companies: 0,
      opportunities: 0,
      locations: 0,
      events: 0,
      bookings: 0,
    },
    byStatus: {},
    throttled: 0,
    tokenThrottled: 0,
    refusedParams: 0,
    faultsServed: 0,
    inFlight: 0,
    maxInFlight: 0,
    log: [],
  };
}

export interface IssuedToken {
  expiresAt: number;
  scopes: ReadonlySet<string>;
}

/** Everything an endpoint of one sandbox instance shares. */
export interface SandboxState {
  readonly orgSlug: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly settings: SandboxSettings;
  readonly data: SandboxData;
  readonly faults: FaultController;
  readonly stats: SandboxStats;
  readonly tokens: Map<string, IssuedToken>;
  readonly everIssued: string[];
  readonly tokenWindow: SlidingWindow;
  readonly readQuota: ReadQuota;
  /** A timer the sandbox clears when it closes. */
  sleep(ms: number): Promise<void>;
}
