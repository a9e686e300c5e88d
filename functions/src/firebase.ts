import { deleteApp, getApps, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { ConfigError } from "./config";

/**
 * The default firebase-admin app: inside Cloud Functions it configures itself; from the CLI it
 * uses GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT) with Application Default Credentials, or the
 * emulator when FIRESTORE_EMULATOR_HOST is set.
 */
export function defaultApp(): App {
  const existing = getApps().find((a) => a.name === "[DEFAULT]");
  if (existing) return existing;
  const projectId = process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT;
  if (!projectId && emulatorHost() !== null) {
    // Without it the client asks Google's metadata server for the project (no answer off GCP).
    throw new ConfigError(
      "GCLOUD_PROJECT",
      "is required with FIRESTORE_EMULATOR_HOST (the emulator's project, e.g. demo-officernd-backup)",
    );
  }
  return initializeApp(projectId ? { projectId } : undefined);
}

function emulatorHost(): string | null {
  const host = process.env.FIRESTORE_EMULATOR_HOST;
  return host === undefined || host === "" ? null : host;
}

let firestore: Firestore | undefined;
/** Set when the first call found Firestore unreachable: its client still retries that call. */
let unreachable = false;

export function defaultFirestore(): Firestore {
  if (firestore === undefined) {
    const db = getFirestore(defaultApp());
    if (emulatorHost() !== null) {
      // The emulator needs no credentials, but the gRPC layer asks them for their "universe
      // domain" before opening a channel; with no Application Default Credentials (a laptop)
      // that probes the GCE metadata server and prints a MetadataLookupWarning. Naming the
      // universe (Google's default) skips the lookup. Settings can only be given before first
      // use: should other code have used this instance already, it stays as it is.
      try {
        db.settings({ universeDomain: "googleapis.com" });
      } catch {
        // Already in use (a test that reached it through getFirestore first).
      }
    }
    firestore = db;
  }
  return firestore;
}

/**
 * The CLI's first Firestore call waits at most this long. A healthy first call (credentials
 * included) takes a second or two; an unreachable Firestore is otherwise retried by its client for
 * about 45 s before the command fails.
 */
export const FIRST_CALL_TIMEOUT_MS = 8_000;

/** Firestore did not answer the first call; the message is one line naming where it was sought. */
export class FirestoreUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FirestoreUnreachableError";
  }
}

/**
 * One bounded call (list the root collections: no document is read) before a command uses
 * Firestore, so an unreachable one fails the command in seconds, with one line.
 */
export async function checkFirestoreReachable(
  db: Firestore,
  timeoutMs = FIRST_CALL_TIMEOUT_MS,
): Promise<void> {
  const host = emulatorHost();
  const where =
    host !== null
      ? `the Firestore emulator at ${host} (FIRESTORE_EMULATOR_HOST)`
      : `Firestore (project ${process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT ?? "from the environment"})`;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const outcome = await Promise.race([db.listCollections().then(() => "ok" as const), timeout]);
    if (outcome === "timeout") {
      unreachable = true;
      throw new FirestoreUnreachableError(
        `${where} did not answer within ${timeoutMs / 1000} s; is it running and reachable?`,
      );
    }
  } catch (error) {
    if (error instanceof FirestoreUnreachableError) throw error;
    unreachable = true;
    const detail = error instanceof Error ? error.message : String(error);
    throw new FirestoreUnreachableError(
      `${where} cannot be used: ${detail.replace(/\s+/g, " ").trim()}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes the default app's connections so a CLI process can exit. Firestore is terminated first:
 * deleteApp alone leaves its client retrying an unreachable backend for minutes. Termination waits
 * for calls in flight; after an unreachable first call that wait is skipped (the only call in
 * flight is that one, still being retried), and the caller exits the process.
 */
export async function closeDefaultApp(): Promise<void> {
  const existing = getApps().find((a) => a.name === "[DEFAULT]");
  const open = firestore;
  firestore = undefined;
  if (unreachable) {
    unreachable = false;
    void open?.terminate().catch(() => undefined);
    return;
  }
  await open?.terminate().catch(() => undefined);
  if (existing) await deleteApp(existing);
}
