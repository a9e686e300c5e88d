import { randomUUID } from "node:crypto";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";

export interface TestFirestore {
  db: Firestore;
  app: App;
  projectId: string;
  close(): Promise<void>;
}

/**
 * A real firebase-admin Firestore client on the emulator, in a project of its own, so test files
 * (and tests) never see each other's data.
 */
export function createTestFirestore(label = "test"): TestFirestore {
  if (!process.env.FIRESTORE_EMULATOR_HOST) {
    throw new Error("FIRESTORE_EMULATOR_HOST is not set: run the tests through jest (globalSetup)");
  }
  const projectId = `demo-${label
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 12)}-${randomUUID().slice(0, 8)}`;
  const app = initializeApp({ projectId }, projectId);
  const db = getFirestore(app);
  return { db, app, projectId, close: () => deleteApp(app) };
}
