import type { SandboxResource } from "./seed";

/**
 * Switchable misbehaviour of the sandbox, so tests can show the client survives what the real
 * API and its infrastructure do. Faults stack; the first active one that matches a request wins.
 */
export type ApiFaultKind =
  | "5xx" // status (default 503) with a JSON error body
  | "429" // 429 with Retry-After (seconds or an HTTP date)
  | "4xx" // status (default 400) with OfficeRnD's { message }
  | "401" // 401 although the token is valid (revoked server side)
  | "slow" // waits delayMs (default 2000), then answers normally
  | "hang" // never answers (until the client gives up or the sandbox closes)
  | "reset" // destroys the connection without an answer
  | "html" // 200 with an HTML maintenance page
  | "truncated" // 200 with the JSON cut in half (Content-Length matches the cut body)
  | "wrong-envelope" // 200 with JSON that is not { results, cursorNext, … }
  | "bad-record" // `count` records (default 1) on the page lose their `_id`
  | "repeat-cursor" // cursorNext echoes the request's cursor (pages after the first)
  | "tampered-cursor" // cursorNext is not a cursor OfficeRnD can read (the next page is a 500)
  | "unordered" // the page's records come in descending `_id` order
  | "cut-short" // the page has no cursorNext although more records follow (a silent short listing)
  | "duplicate"; // the page repeats a record of the previous page

export type TokenFaultKind = "token-429" | "token-5xx" | "token-slow" | "token-hang" | "token-html";

export type FaultKind = ApiFaultKind | TokenFaultKind;

export interface FaultSpec {
  kind: FaultKind;
  /** Only requests for this resource (API faults). Default: any. */
  resource?: SandboxResource;
  /** Only this 1-based page (derived from the request's cursor and $limit). Default: any. */
  page?: number;
  /** Serve at most this many times, then the fault retires. Default: until cleared. */
  times?: number;
  /** Serve on 1 in N matching requests (the Nth, 2Nth, …). Default: every one. */
  every?: number;
  /** Let the first N matching requests through untouched. */
  after?: number;
  /** 429s: Retry-After value, seconds (number) or an HTTP date (string); null: none. Default 1. */
  retryAfter?: number | string | null;
  /** slow / token-slow: delay before answering. Default 2000 ms. */
  delayMs?: number;
  /** 5xx / 4xx: the status to send. */
  status?: number;
  /** 4xx / 5xx: OfficeRnD's error message. */
  message?: string;
  /** bad-record: how many records lose their `_id`. Default 1. */
  count?: number;
}

export interface FaultHandle {
  readonly id: number;
  readonly spec: Readonly<FaultSpec>;
  /** How many requests this fault has been served to. */
  served(): number;
  remove(): void;
}

interface ActiveFault {
  id: number;
  spec: FaultSpec;
  matched: number;
  served: number;
}

const TOKEN_KINDS: ReadonlySet<FaultKind> = new Set<FaultKind>([
  "token-429",
  "token-5xx",
  "token-slow",
  "token-hang",
  "token-html",
]);

export function isTokenFault(kind: FaultKind): kind is TokenFaultKind {
  return TOKEN_KINDS.has(kind);
}

export class FaultController {
  private faults: ActiveFault[] = [];
  private nextId = 1;
  private servedTotal = 0;

  setFault(spec: FaultSpec): FaultHandle {
    for (const key of ["times", "every", "after"] as const) {
      const value = spec[key];
      if (value !== undefined && (!Number.isInteger(value) || value < (key === "after" ? 0 : 1))) {
        throw new Error(`sandbox fault ${spec.kind}: ${key} must be a positive whole number`);
      }
    }
    const fault: ActiveFault = { id: this.nextId++, spec: { ...spec }, matched: 0, served: 0 };
    this.faults.push(fault);
    return {
      id: fault.id,
      spec: fault.spec,
      served: () => fault.served,
      remove: () => {
        this.faults = this.faults.filter((f) => f !== fault);
      },
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Active faults (copies of their specs). */
  list(): FaultSpec[] {
    return this.faults.map((f) => ({ ...f.spec }));
  }

  /** Faults served since the sandbox started. */
  totalServed(): number {
    return this.servedTotal;
  }

  /** The fault to apply to this request, if any (and counts it). */
  take(
    target: "api" | "token",
    resource: SandboxResource | null,
    page: number | null,
    applies: (spec: FaultSpec) => boolean = () => true,
  ): FaultSpec | null {
    for (const fault of this.faults) {
      const { spec } = fault;
      if (isTokenFault(spec.kind) !== (target === "token")) continue;
      if (!applies(spec)) continue;
      if (spec.resource !== undefined && spec.resource !== resource) continue;
      if (spec.page !== undefined && spec.page !== page) continue;
      fault.matched += 1;
      const position = fault.matched - (spec.after ?? 0);
      if (position <= 0) continue;
      if (spec.every !== undefined && position % spec.every !== 0) continue;
      fault.served += 1;
      this.servedTotal += 1;
      if (spec.times !== undefined && fault.served >= spec.times) {
        this.faults = this.faults.filter((f) => f !== fault);
      }
      return spec;
    }
    return null;
  }
}
