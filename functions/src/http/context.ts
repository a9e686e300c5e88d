import { randomUUID } from "node:crypto";
import type { Request, RequestHandler } from "express";
import { logs } from "../logs";

/** Who the caller is, once authenticated. */
export type Principal = { kind: "status_token" } | { kind: "admin"; uid: string };

export interface RequestContext {
  requestId: string;
  startedAt: number;
  /** The request path without its query string (which may carry secrets), as logged. */
  path: string;
  principal: Principal | null;
}

const contexts = new WeakMap<Request, RequestContext>();

function pathOf(req: Request): string {
  const url = req.originalUrl || req.url || "/";
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

export function requestContext(req: Request): RequestContext {
  let context = contexts.get(req);
  if (!context) {
    context = {
      requestId: randomUUID(),
      startedAt: performance.now(),
      path: pathOf(req),
      principal: null,
    };
    contexts.set(req, context);
  }
  return context;
}

function describe(principal: Principal | null): string | undefined {
  if (!principal) return undefined;
  return principal.kind === "admin" ? `admin:${principal.uid}` : principal.kind;
}

/**
 * First middleware: request id (also sent as `X-Request-Id`), `Cache-Control: no-store`, and one
 * `http_request` log entry per request when the response ends (or the client goes away: 499).
 */
export const contextMiddleware: RequestHandler = (req, res, next) => {
  const context = requestContext(req);
  res.setHeader("X-Request-Id", context.requestId);
  res.setHeader("Cache-Control", "no-store");
  let logged = false;
  const log = () => {
    if (logged) return;
    logged = true;
    const principal = describe(context.principal);
    logs.httpRequest({
      method: req.method,
      path: context.path,
      status: res.writableFinished ? res.statusCode : 499,
      durationMs: Math.round((performance.now() - context.startedAt) * 100) / 100,
      requestId: context.requestId,
      ...(principal ? { principal } : {}),
    });
  };
  res.once("finish", log);
  res.once("close", log);
  next();
};
