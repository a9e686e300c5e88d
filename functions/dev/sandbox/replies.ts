import { timingSafeEqual } from "node:crypto";
import { STATUS_CODES, type IncomingMessage } from "node:http";

/** What a sandbox handler answers; null: no answer at all (a hang or a reset connection). */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  contentType?: string;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return {
    status,
    body: JSON.stringify(body),
    contentType: "application/json; charset=utf-8",
    headers,
  };
}

/**
 * OfficeRnD's error body, live (Feb 2026): `{statusCode, message, error, timestamp, path}`,
 * `message` an array for validation errors (NestJS), `error` the status text.
 */
export function apiError(
  status: number,
  message: string | string[],
  path: string,
  headers?: Record<string, string>,
): Reply {
  return json(
    status,
    {
      statusCode: status,
      message,
      error: STATUS_CODES[status] ?? "Error",
      timestamp: new Date().toISOString(),
      path,
    },
    headers,
  );
}

export function oauthError(status: number, error: string, description: string): Reply {
  return json(status, { error, error_description: description }, { "cache-control": "no-store" });
}

export const MAINTENANCE_PAGE =
  "<!DOCTYPE html><html><head><title>OfficeRnD is down for maintenance</title></head>" +
  "<body><h1>We'll be back soon</h1><p>Scheduled maintenance in progress.</p></body></html>";

export function html(body: string): Reply {
  return { status: 200, body, contentType: "text/html; charset=utf-8" };
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
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
