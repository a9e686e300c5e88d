import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, resolve, sep } from "node:path";
import type { RequestHandler } from "express";
import type { RouteDefinition } from "./routing";

/**
 * The operators' dashboard (public/, built by scripts/build-dashboard.ts), served at `/` by the
 * CLI's `serve` and the local stack; Firebase Hosting serves the same files in production. One
 * GET route per file found at start, so every other path stays the API's JSON 404.
 */

/** The repository's public/ folder, from src/http/ (tsx) and lib/http/ (built) alike. */
export const DASHBOARD_DIR = resolve(__dirname, "..", "..", "..", "public");

/**
 * The page's own policy: scripts, styles and data from its origin only (the chart library is
 * bundled, no CDN); Google's two Firebase Auth endpoints for the admin sign-in. Hosting sends
 * the same header (firebase.json; test/http/dashboard.test.ts holds them equal).
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' https://identitytoolkit.googleapis.com https://securetoken.googleapis.com",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

function files(dir: string, depth = 0): string[] {
  if (depth > 2 || !existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    if (name.startsWith(".")) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path, depth + 1);
    return TYPES[extname(name)] ? [path] : [];
  });
}

function serveFile(path: string): RequestHandler {
  const type = TYPES[extname(path)] ?? "application/octet-stream";
  return (_req, res) => {
    // Read on each request: a rebuilt bundle is served without a restart (the files are small).
    const body = readFileSync(path);
    res.setHeader("Content-Security-Policy", DASHBOARD_CSP);
    res.setHeader("Content-Type", type);
    res.setHeader("Referrer-Policy", "no-referrer");
    res.status(200).send(body);
  };
}

/** Whether the bundle has been built (`npm run build:dashboard`). */
export function dashboardBuilt(dir: string = DASHBOARD_DIR): boolean {
  return existsSync(join(dir, "assets", "dashboard.js"));
}

/**
 * Hosting answers this reserved URL with the project's web config, whose API key turns on the
 * page's Firebase Auth sign-in. Served here without one: the status token is the way in.
 */
export const FIREBASE_INIT_PATH = "/__/firebase/init.json";

export function dashboardRoutes(dir: string = DASHBOARD_DIR): RouteDefinition[] {
  const pages = files(dir).flatMap((path) => {
    const url = `/${relative(dir, path).split(sep).join("/")}`;
    const handler = serveFile(path);
    const paths = url === "/index.html" ? ["/", url] : [url];
    return paths.map((p) => ({ path: p, methods: { GET: [handler] } }));
  });
  const noWebConfig: RequestHandler = (_req, res) => {
    res.status(200).json({});
  };
  return pages.length === 0
    ? []
    : [...pages, { path: FIREBASE_INIT_PATH, methods: { GET: [noWebConfig] } }];
}
