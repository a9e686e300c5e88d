import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import { logs } from "../logs";
import { requestContext } from "./context";
import { Redactor } from "../shared/redactor";

/**
 * Every error answer is `{ error: { code, message } }` (plus documented fields for some codes).
 * Messages are written here or by the routes, never taken from an exception: a 500 says only
 * "internal error" and the request id, and the cause goes to the log.
 */

export interface ErrorBody {
  error: { code: string; message: string; [extra: string]: unknown };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly options: {
      headers?: Record<string, string>;
      /** Extra fields inside `error` (documented per code). */
      details?: Record<string, unknown>;
    } = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function sendError(
  res: Response,
  status: number,
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): void {
  const body: ErrorBody = { error: { code, message, ...details } };
  res.status(status).json(body);
}

/** Messages for errors raised by Express itself (e.g. a malformed percent-encoding in the path). */
const GENERIC: Record<number, [string, string]> = {
  400: ["bad_request", "malformed request"],
  404: ["not_found", "no such route"],
  405: ["method_not_allowed", "method not allowed"],
  413: ["payload_too_large", "request body too large"],
  415: ["unsupported_media_type", "unsupported content type"],
};

/**
 * The status of a client error raised by Express or a body parser (http-errors marks those
 * `expose: true`). Other errors carrying a `status` (e.g. a Google API's 403) are ours: 500.
 */
function clientErrorStatus(error: unknown): number | null {
  if (typeof error !== "object" || error === null) return null;
  const { status, statusCode, expose } = error as {
    status?: unknown;
    statusCode?: unknown;
    expose?: unknown;
  };
  if (expose !== true) return null;
  const value = typeof status === "number" ? status : statusCode;
  return typeof value === "number" && value >= 400 && value < 500 ? value : null;
}

export const notFound: RequestHandler = (_req, res) => {
  sendError(res, 404, "not_found", "no such route");
};

/** `Name: message`, then each `cause` in turn (for the log only). */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined; depth++) {
    parts.push(
      current instanceof Error ? `${current.name}: ${current.message}` : "non-Error thrown",
    );
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(" <- caused by ");
}

/**
 * The last handler. `secrets` are redacted from the logged cause, as is any credential the request
 * carried, in case an exception message quoted one.
 */
export function createErrorHandler(secrets: readonly string[]): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof HttpError) {
      for (const [name, value] of Object.entries(error.options.headers ?? {})) {
        res.setHeader(name, value);
      }
      sendError(res, error.status, error.code, error.message, error.options.details);
      return;
    }
    const status = clientErrorStatus(error);
    if (status !== null) {
      const [code, message] = GENERIC[status] ?? ["bad_request", "malformed request"];
      sendError(res, status, code, message);
      return;
    }
    const { requestId, path } = requestContext(req);
    const presented = req.headers.authorization?.replace(/^\S+\s*/, "").trim();
    const cause = describeError(error);
    const redactor = new Redactor();
    for (const secret of [...secrets, presented, req.headers.authorization]) {
      if (secret) redactor.add(secret);
    }
    logs.httpError({
      method: req.method,
      path,
      requestId,
      error: redactor.redact(cause),
    });
    sendError(res, 500, "internal", "internal error", { requestId });
  };
}
