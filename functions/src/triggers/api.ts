import { getFunctions } from "firebase-admin/functions";
import type { Express } from "express";
import { onRequest } from "firebase-functions/v2/https";
import { params } from "../config";
import { defaultApp, defaultFirestore } from "../firebase";
import { BACKUP_TASK_FUNCTION, createApiApp, enqueueManualBackup } from "../wiring";

let app: Express | undefined;

/**
 * Built on the first request, when the params' values are there (not while deploying). A
 * configuration error gives an app answering 503 `config_error` on every route (the values do
 * not change during an instance's life).
 */
function apiApp(): Express {
  if (!app) {
    const db = defaultFirestore();
    app = createApiApp({
      db,
      startManualBackup: () =>
        enqueueManualBackup(db, (task) =>
          getFunctions(defaultApp()).taskQueue(BACKUP_TASK_FUNCTION).enqueue(task),
        ),
    });
  }
  return app;
}

/**
 * `api`: the Express app (GET /v1/office-rnd/backup-status, POST /v1/office-rnd/webhook, …).
 * Hosting rewrites /v1/** here. It never calls OfficeRnD (status comes from Firestore), so it
 * needs no OfficeRnD client secret; it verifies OfficeRnD's webhook signatures with
 * OFFICERND_WEBHOOK_SECRET.
 */
export const api = onRequest(
  {
    timeoutSeconds: 60,
    memory: "256MiB",
    maxInstances: 10,
    secrets: [params.BACKUP_STATUS_TOKEN, params.OFFICERND_WEBHOOK_SECRET],
  },
  (req, res) => {
    apiApp()(req, res);
  },
);
