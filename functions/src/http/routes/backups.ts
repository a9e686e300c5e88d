import type { Firestore } from "firebase-admin/firestore";
import type { RequestHandler } from "express";
import { z } from "zod";
import type { BackupTrigger } from "../../backup/documents";
import { listRecentBackups, type BackupRunsResponse } from "../../status";
import { requestContext } from "../context";
import { HttpError } from "../errors";

export const DEFAULT_RUNS_LIMIT = 20;
export const MAX_RUNS_LIMIT = 100;

const LIMIT_MESSAGE = `limit must be a whole number from 1 to ${MAX_RUNS_LIMIT}`;

/** Query of `GET /v1/office-rnd/backups`: only `limit`, once, as digits. */
export const listBackupsQuerySchema = z.strictObject({
  limit: z
    .string(LIMIT_MESSAGE)
    .regex(/^\d{1,3}$/, LIMIT_MESSAGE)
    .transform(Number)
    .pipe(z.number().int().min(1, LIMIT_MESSAGE).max(MAX_RUNS_LIMIT, LIMIT_MESSAGE))
    .optional(),
});

function badRequest(error: z.ZodError): HttpError {
  const issue = error.issues[0];
  const message =
    issue?.code === "unrecognized_keys"
      ? `unknown query parameter(s): ${issue.keys.map((k) => k.slice(0, 40)).join(", ")}`
      : (issue?.message ?? "malformed query");
  return new HttpError(400, "invalid_request", message);
}

export function listBackupsHandler(deps: { db: Firestore }): RequestHandler {
  return async (req, res) => {
    const parsed = listBackupsQuerySchema.safeParse(req.query);
    if (!parsed.success) throw badRequest(parsed.error);
    const limit = parsed.data.limit ?? DEFAULT_RUNS_LIMIT;
    const body: BackupRunsResponse = { runs: await listRecentBackups(deps.db, limit), limit };
    res.status(200).json(body);
  };
}

export type ManualBackupResult =
  { busy: false; runId: string } | { busy: true; heldBy: string; expiresAt: Date | string };

/**
 * Starts a run with the engine and its lock, and resolves once the lock is taken (busy: false) or
 * found held (busy: true); the run itself goes on after the 202.
 */
export type ManualBackupStarter = (
  trigger: BackupTrigger,
  context: { requestedBy: string },
) => Promise<ManualBackupResult>;

/** `POST /v1/office-rnd/backup` (admin only). The request body is not read. */
export function startBackupHandler(deps: { startManualBackup?: ManualBackupStarter }) {
  const handler: RequestHandler = async (req, res) => {
    const start = deps.startManualBackup;
    if (!start) {
      throw new HttpError(
        503,
        "manual_backup_unavailable",
        "manual backups are not available on this server",
      );
    }
    const principal = requestContext(req).principal;
    const requestedBy = principal?.kind === "admin" ? `admin:${principal.uid}` : "unknown";
    const result = await start("manual", { requestedBy });
    if (result.busy) {
      const expiresAt = new Date(result.expiresAt);
      throw new HttpError(409, "backup_in_progress", `backup run ${result.heldBy} is in progress`, {
        details: {
          runId: result.heldBy,
          expiresAt: Number.isNaN(expiresAt.getTime()) ? null : expiresAt.toISOString(),
        },
      });
    }
    res.status(202).json({ runId: result.runId });
  };
  return handler;
}
