import type { Agent as HttpAgent } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import axios, { type AxiosInstance } from "axios";
import { isRateHeader } from "./rate-limit";
import { abortError } from "./retry";

/**
 * The one HTTP layer of the client. Answers come back as text with any status (we parse and
 * judge them ourselves, so an HTML page or a cut-off body is seen for what it is), redirects are
 * not followed (they would carry the bearer token elsewhere), and axios errors never leave this
 * file: they hold the request config, headers and form body, i.e. the token and the secret.
 */

export interface HttpOptions {
  httpAgent?: HttpAgent;
  httpsAgent?: HttpsAgent;
  /** Largest body accepted (a page of 50 records is far below). Default 32 MiB. */
  maxBodyBytes?: number;
}

export interface HttpAnswer {
  status: number;
  contentType: string;
  retryAfter: string | null;
  /** OfficeRnD's `x-ratelimit-*` headers (lower-case names), for the read budget. */
  rateHeaders: Record<string, string>;
  body: string;
  durationMs: number;
}

export type TransportFailureKind = "timeout" | "network" | "aborted";

/** A request that got no answer; carries no request details. */
export class TransportFailure extends Error {
  constructor(
    readonly kind: TransportFailureKind,
    /** The system error code (ECONNRESET, ECONNREFUSED, …) when there is one. */
    readonly code: string | null,
  ) {
    super(kind === "network" ? `network error${code ? ` (${code})` : ""}` : kind);
    this.name = "TransportFailure";
  }
}

export function createHttp(options: HttpOptions = {}): AxiosInstance {
  return axios.create({
    responseType: "text",
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxRedirects: 0,
    maxContentLength: options.maxBodyBytes ?? 32 * 1024 * 1024,
    httpAgent: options.httpAgent,
    httpsAgent: options.httpsAgent,
    headers: { "User-Agent": "officernd-backup" },
  });
}

export interface HttpRequest {
  method: "GET" | "POST";
  url: string;
  headers?: Record<string, string>;
  data?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

function header(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  return null;
}

function rateHeaders(headers: object): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const text = header(value);
    if (text !== null && isRateHeader(name.toLowerCase())) out[name.toLowerCase()] = text;
  }
  return out;
}

/** One HTTP exchange; throws only TransportFailure or the caller's abort reason. */
export async function exchange(http: AxiosInstance, request: HttpRequest): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const started = Date.now();
  try {
    const response = await http.request<string>({
      method: request.method,
      url: request.url,
      headers: request.headers,
      data: request.data,
      signal,
    });
    const body = typeof response.data === "string" ? response.data : "";
    return {
      status: response.status,
      contentType: header(response.headers["content-type"]) ?? "",
      retryAfter: header(response.headers["retry-after"]),
      rateHeaders: rateHeaders(response.headers),
      body,
      durationMs: Date.now() - started,
    };
  } catch (error: unknown) {
    // Deliberately not chained as `cause`: an AxiosError carries the request headers and body.
    if (request.signal?.aborted) throw abortError(request.signal);
    if (timeout.aborted) throw new TransportFailure("timeout", null);
    const code = axios.isAxiosError(error) && typeof error.code === "string" ? error.code : null;
    if (code === "ECONNABORTED" || code === "ETIMEDOUT")
      throw new TransportFailure("timeout", code);
    throw new TransportFailure("network", code);
  }
}

/** Printable, bounded excerpt for error messages. */
export function excerpt(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** OfficeRnD's own explanation from an error body ({message}, OAuth {error_description}, …). */
export function errorDetail(body: string, contentType: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object") {
      const o = parsed as Record<string, unknown>;
      // OfficeRnD's `message` may be an array (NestJS validation: one entry per refused field).
      const message = Array.isArray(o.message)
        ? o.message.filter((m): m is string => typeof m === "string").join("; ")
        : o.message;
      const parts = [o.error, o.error_description ?? message ?? o.title]
        .filter((v): v is string => typeof v === "string" && v.trim() !== "")
        .map((v) => excerpt(v, 200));
      if (parts.length > 0) return [...new Set(parts)].join(": ");
    }
  } catch {
    // not JSON: fall through
  }
  if (/html/i.test(contentType) || /^\s*</.test(body)) return "an HTML page";
  return body.trim() === "" ? "empty body" : excerpt(body);
}
