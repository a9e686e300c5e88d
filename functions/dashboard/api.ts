import { bearer, type Credential } from "./session";
import type { BackupRunSummary, BackupRunsResponse, BackupStatusResponse } from "./types";

/** The page's two reads, on the same origin (Hosting rewrites /v1/** to the api function). */

export const STATUS_PATH = "/v1/office-rnd/backup-status";
/** As many runs as the status computes its metrics from (DEFAULT_HISTORY_LIMIT). */
export const RUNS_PATH = "/v1/office-rnd/backups?limit=30";

/** The credential was refused (401): the page forgets it and shows no data. */
export class Unauthorized extends Error {}

export interface Snapshot {
  status: BackupStatusResponse;
  runs: BackupRunSummary[];
}

async function read<T>(
  path: string,
  credential: Credential,
  check: (body: T) => boolean,
): Promise<T> {
  const answer = await fetch(path, {
    headers: { authorization: `Bearer ${await bearer(credential)}`, accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  const body = (await answer.json().catch(() => null)) as
    (T & { error?: { code?: string; message?: string } }) | null;
  if (answer.status === 401) throw new Unauthorized(body?.error?.message ?? "unauthorized");
  if (!answer.ok || body === null) {
    const why = body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${answer.status}`;
    throw new Error(`${path.split("?")[0]} answered ${why}`);
  }
  if (!check(body)) throw new Error(`${path.split("?")[0]} answered something unexpected`);
  return body;
}

export async function loadSnapshot(credential: Credential): Promise<Snapshot> {
  const [status, runs] = await Promise.all([
    read<BackupStatusResponse>(
      STATUS_PATH,
      credential,
      (b) =>
        typeof b.backup === "object" && typeof b.metrics === "object" && Array.isArray(b.alerts),
    ),
    read<BackupRunsResponse>(RUNS_PATH, credential, (b) => Array.isArray(b.runs)),
  ]);
  return { status, runs: runs.runs };
}
