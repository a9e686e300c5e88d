import { startFirestoreEmulator, type FirestoreEmulator } from "../../dev/emulator";

declare global {
  var __firestoreEmulator: FirestoreEmulator | undefined;
}

/** One real Firestore emulator for the whole jest run; test files isolate by project id. */
export default async function globalSetup(): Promise<void> {
  const emulator = await startFirestoreEmulator();
  globalThis.__firestoreEmulator = emulator;
  // Inherited by the workers jest starts after this.
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  // No metadata-server probing (we are never on GCE in tests).
  process.env.METADATA_SERVER_DETECTION ??= "none";
  if (!process.env.GCLOUD_PROJECT) process.env.GCLOUD_PROJECT = "demo-officernd-backup";
}
