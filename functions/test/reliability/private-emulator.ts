import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getFirestore, type DocumentData, type Firestore } from "firebase-admin/firestore";
import { startFirestoreEmulator, type FirestoreEmulator } from "../../dev/emulator";
import { lockRef } from "../../src/backup/lock";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";

/**
 * A private Firestore emulator, which a case may stop (not the suite's shared one), and what a
 * case reads from it before the stop and loads into a project of the shared one after.
 */

/** Runs `fn` with FIRESTORE_EMULATOR_HOST set to `host` (or unset), then puts it back. */
function withEmulatorHost<T>(host: string | undefined, fn: () => T): T {
  const shared = process.env.FIRESTORE_EMULATOR_HOST;
  const set = (value: string | undefined) => {
    if (value === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
    else process.env.FIRESTORE_EMULATOR_HOST = value;
  };
  set(host);
  try {
    return fn();
  } finally {
    set(shared);
  }
}

/**
 * Starts an emulator of its own (not the suite's shared one), optionally on a given port. The
 * host variable is unset only while the launch is set up (startFirestoreEmulator would otherwise
 * reuse the shared emulator); no other Firestore client is built meanwhile.
 */
export function startPrivateEmulator(port?: number): Promise<FirestoreEmulator> {
  return withEmulatorHost(undefined, () =>
    startFirestoreEmulator(port === undefined ? {} : { port }),
  );
}

export interface PrivateFirestore {
  app: App;
  db: Firestore;
  projectId: string;
  close(): Promise<void>;
}

/** A firebase-admin Firestore on the emulator at `host` (the client reads the host when built). */
export function firestoreAt(host: string, projectId: string): PrivateFirestore {
  const app = initializeApp({ projectId }, `${projectId}-${Date.now()}`);
  const db = withEmulatorHost(host, () => getFirestore(app));
  return { app, db, projectId, close: () => deleteApp(app) };
}

/** Record documents and the lease, exactly as stored (Timestamps included). */
export interface StoredState {
  records: Record<ResourceName, [string, DocumentData][]>;
  lock: DocumentData | null;
}

export async function readState(db: Firestore): Promise<StoredState> {
  const records = {} as StoredState["records"];
  for (const resource of RESOURCE_NAMES) {
    const snap = await db.collection(RESOURCES[resource].collection).get();
    records[resource] = snap.docs.map((d) => [d.id, d.data()]);
  }
  const lock = await lockRef(db).get();
  return { records, lock: lock.exists ? (lock.data() ?? null) : null };
}

export async function writeState(db: Firestore, state: StoredState): Promise<void> {
  const writer = db.bulkWriter({ throttling: false });
  for (const resource of RESOURCE_NAMES) {
    for (const [id, data] of state.records[resource]) {
      void writer.set(db.collection(RESOURCES[resource].collection).doc(id), data);
    }
  }
  if (state.lock) void writer.set(lockRef(db), state.lock);
  await writer.close();
}
