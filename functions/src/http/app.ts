import express, { type Express } from "express";
import type { Firestore } from "firebase-admin/firestore";
import helmet from "helmet";
import type { StatusConfig } from "../config";
import { cachedCounts, DEFAULT_COUNTS_MAX_AGE_MS } from "../status";
import { createAuth, verifyFirebaseIdToken, type IdTokenVerifier } from "./auth";
import { contextMiddleware } from "./context";
import { createErrorHandler, notFound } from "./errors";
import { backupStatusHandler } from "./routes/backup-status";
import { listBackupsHandler, startBackupHandler, type ManualBackupStarter } from "./routes/backups";
import { registerRoutes, type RouteDefinition } from "./routing";

export const ROUTES = {
  backupStatus: "/v1/office-rnd/backup-status",
  backups: "/v1/office-rnd/backups",
  startBackup: "/v1/office-rnd/backup",
} as const;

export interface AppDeps {
  db: Firestore;
  /** BACKUP_STATUS_TOKEN and BACKUP_MISSING_ALERT_THRESHOLD (config.ts `loadStatusConfig`). */
  status: StatusConfig;
  /** Firebase Auth ID token check; default: firebase-admin `getAuth().verifyIdToken`. */
  verifyIdToken?: IdTokenVerifier;
  /** Starts a manual run through the engine and its lock; without it POST /backup answers 503. */
  startManualBackup?: ManualBackupStarter;
  now?: () => Date;
  /**
   * How long record counts (count aggregations, whose cost grows with the collections) are
   * shared between status requests; default 30 s, 0 = count on every request.
   */
  countsMaxAgeMs?: number;
}

export interface AppOptions {
  /**
   * More routes on the same app (e.g. `POST /v1/office-rnd/webhook`), with their own auth and
   * body parsing; they get request logging, security headers, OPTIONS/405 and JSON errors.
   */
  routes?: readonly RouteDefinition[];
  /** Other secrets the app holds (e.g. the webhook secret): redacted from logged errors too. */
  secrets?: readonly string[];
}

/**
 * What every answer of this API gets, before any route: request id, `no-store`, the request log
 * entry and security headers (docs/api.md, Common behaviour).
 */
export function createBaseApp(): Express {
  const app = express();
  app.disable("x-powered-by");
  // Every answer is no-store; conditional GETs would only add 304s to a status poll.
  app.set("etag", false);

  app.use(contextMiddleware);
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
    }),
  );
  return app;
}

/**
 * The HTTP API. The same app is served by the `api` HTTPS function (Hosting rewrites `/v1/**` to
 * it, so paths arrive as `/v1/...`) and by the CLI's `serve` on 127.0.0.1.
 */
export function createApp(deps: AppDeps, options: AppOptions = {}): Express {
  const app = createBaseApp();

  const auth = createAuth({
    statusToken: deps.status.statusToken,
    verifyIdToken: deps.verifyIdToken ?? verifyFirebaseIdToken,
  });

  const routes: RouteDefinition[] = [
    {
      path: ROUTES.backupStatus,
      methods: {
        GET: [
          auth("read"),
          backupStatusHandler({
            db: deps.db,
            missingAlertThreshold: deps.status.missingAlertThreshold,
            counts: cachedCounts(deps.countsMaxAgeMs ?? DEFAULT_COUNTS_MAX_AGE_MS),
            ...(deps.now ? { now: deps.now } : {}),
          }),
        ],
      },
    },
    {
      path: ROUTES.backups,
      methods: { GET: [auth("read"), listBackupsHandler({ db: deps.db })] },
    },
    {
      path: ROUTES.startBackup,
      methods: {
        POST: [
          auth("admin"),
          startBackupHandler(
            deps.startManualBackup ? { startManualBackup: deps.startManualBackup } : {},
          ),
        ],
      },
    },
    ...(options.routes ?? []),
  ];
  registerRoutes(app, routes);

  app.use(notFound);
  app.use(createErrorHandler([deps.status.statusToken, ...(options.secrets ?? [])]));
  return app;
}
