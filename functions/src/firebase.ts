import { deleteApp, getApps, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";

/**
 * The default firebase-admin app: inside Cloud Functions it configures itself; from the CLI it
 * uses GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT) with Application Default Credentials, or the
 * emulator when FIRESTORE_EMULATOR_HOST is set.
 */
export function defaultApp(): App {
  const existing = getApps().find((a) => a.name === "[DEFAULT]");
  if (existing) return existing;
  const projectId = process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT;
  return initializeApp(projectId ? { projectId } : undefined);
}

let firestore: Firestore | undefined;

export function defaultFirestore(): Firestore {
  firestore ??= getFirestore(defaultApp());
  return firestore;
}

/**
 * Closes the default app's connections so a CLI process can exit. Firestore is terminated first:
 * deleteApp alone leaves its client retrying an unreachable backend for minutes.
 */
export async function closeDefaultApp(): Promise<void> {
  const existing = getApps().find((a) => a.name === "[DEFAULT]");
  const open = firestore;
  firestore = undefined;
  await open?.terminate().catch(() => undefined);
  if (existing) await deleteApp(existing);
}
