import type { Express, RequestHandler } from "express";
import { HttpError } from "./errors";

export const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type Method = (typeof METHODS)[number];

/**
 * One path and its handlers per method. The app answers OPTIONS (204) and any other method (405)
 * with the `Allow` list computed from here, so a route added later (the webhook, which needs the
 * raw body: give it `express.raw({ type: "*\/*" })` as its first handler) gets both for free.
 * No body parser runs app-wide: each route parses what it needs, the way it needs it.
 */
export interface RouteDefinition {
  path: string;
  methods: Partial<Record<Method, RequestHandler[]>>;
}

/** The `Allow` header: the route's methods, HEAD with GET (Express serves it), and OPTIONS. */
function allowed(route: RouteDefinition): string {
  const list: string[] = [];
  for (const method of METHODS) {
    if (!route.methods[method]) continue;
    list.push(method);
    if (method === "GET") list.push("HEAD");
  }
  list.push("OPTIONS");
  return list.join(", ");
}

export function registerRoutes(app: Express, routes: readonly RouteDefinition[]): void {
  for (const route of routes) {
    for (const method of METHODS) {
      const handlers = route.methods[method];
      if (!handlers || handlers.length === 0) continue;
      switch (method) {
        case "GET":
          app.get(route.path, ...handlers);
          break;
        case "POST":
          app.post(route.path, ...handlers);
          break;
        case "PUT":
          app.put(route.path, ...handlers);
          break;
        case "PATCH":
          app.patch(route.path, ...handlers);
          break;
        case "DELETE":
          app.delete(route.path, ...handlers);
          break;
      }
    }
    const allow = allowed(route);
    app.options(route.path, (_req, res) => {
      res.setHeader("Allow", allow);
      res.status(204).end();
    });
    app.all(route.path, (req) => {
      throw new HttpError(405, "method_not_allowed", `${req.method} is not allowed here`, {
        headers: { Allow: allow },
      });
    });
  }
}
