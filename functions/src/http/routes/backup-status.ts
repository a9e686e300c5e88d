import type { Firestore } from "firebase-admin/firestore";
import type { RequestHandler } from "express";
import { getBackupStatus, type CountSource } from "../../status";

export interface BackupStatusRouteDeps {
  db: Firestore;
  missingAlertThreshold: number;
  /** The app's shared (cached) counts. */
  counts: CountSource;
  now?: () => Date;
}

/**
 * `GET /v1/office-rnd/backup-status`: the design document's response plus alerts, metrics and
 * freshness. Reads Firestore only (never OfficeRnD). Takes no input: a query string is ignored.
 * Each request reads the metadata, the lock and the history; the record counts are shared
 * between requests for a short window (freshness.firestoreCountsAsOf says when they were taken).
 */
export function backupStatusHandler(deps: BackupStatusRouteDeps): RequestHandler {
  return async (_req, res) => {
    const status = await getBackupStatus(deps.db, {
      missingAlertThreshold: deps.missingAlertThreshold,
      counts: deps.counts,
      ...(deps.now ? { now: deps.now } : {}),
    });
    res.status(200).json(status);
  };
}
