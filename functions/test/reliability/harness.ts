import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { request as httpRequest, type Agent } from "node:http";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import {
  getFirestore,
  Timestamp,
  type DocumentData,
  type Firestore,
} from "firebase-admin/firestore";
import { startFirestoreEmulator, type FirestoreEmulator } from "../../dev/emulator";
import { seedFirestoreMirror, type DriftOptions } from "../../dev/seed-firestore";
import {
  startSandbox,
  type Sandbox,
  type SandboxDataset,
  type SandboxOptions,
} from "../../dev/sandbox";
import { ERRORS_COLLECTION } from "../../src/backup/documents";
import { METADATA_COLLECTION } from "../../src/mirror/collections";
import { syncInfoSchema } from "../../src/mirror/record-document";
import { lockRef } from "../../src/backup/lock";
import { readBackupError, readBackupMetadata } from "../../src/backup/metadata";
import { runBackup, type BackupDeps, type BackupRunResult } from "../../src/backup/run";
import { loadBackupConfig, loadOfficeRndConfig, type OfficeRndConfig } from "../../src/config";
import {
  createOfficeRndClient,
  type OfficeRndClient,
  type OfficeRndClientOptions,
} from "../../src/officernd/client";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";
import type { OfficeRndReader, ResourcePage } from "../../src/officernd/types";
import { differences } from "../backup/helpers";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

/**
 * The reliability suite's stack: a real sandbox over HTTP, a real Firestore emulator project
 * seeded with known content, fast but real client retries, and the checks every case shares
 * (nothing lost, convergence, run recorded, no secret anywhere).
 */

export const FUNCTIONS_DIR = resolve(__dirname, "../..");

/** Small, not multiples of 50: members 4 pages, companies 1, opportunities 2. */
/**
 * The suite's organization: the design's first three types (the next three are empty here, so
 * every case's counts stay the same; the engine tests and the sandbox tests cover them).
 */
export const SUITE_SIZES = {
  members: 160,
  companies: 40,
  opportunities: 70,
  locations: 0,
  events: 0,
  bookings: 0,
} as const;

/** The drift seeded into Firestore (per resource): lost created, updated and removed webhooks. */
export const DRIFT: DriftOptions = { missing: 2, changed: 2, orphaned: 2 };

export const SEEDED_AT = new Date("2026-11-01T00:00:00Z");

/**
 * Real retries, short waits: six attempts per page, backoff 20–100 ms, 3 s per request (the hang
 * cases use 0.8 s), Retry-After up to 5 s (the 429 cases send 0.2 s).
 */
export const CLIENT_OPTIONS: OfficeRndClientOptions = {
  maxAttempts: 6,
  baseDelayMs: 20,
  maxDelayMs: 100,
  timeoutMs: 3_000,
  maxRetryAfterMs: 5_000,
  maxTotalMs: 20_000,
};

/**
 * The engine's bound on one Firestore step (production: 60 s): long enough for BulkWriter's own
 * retries (1 s, 1.5 s, 2.25 s apart) and a loaded machine. The outage cases use a short one.
 */
export const CASE_FIRESTORE_TIMEOUT_MS = 20_000;
/**
 * The bound in the Firestore outage cases, so that they end in seconds: above what a step takes
 * on a freshly started emulator on a loaded machine, far below the client's 10-minute retries.
 */
export const OUTAGE_FIRESTORE_TIMEOUT_MS = 2_500;

// ---- Stack ---------------------------------------------------------------------------------------

export interface CaseStack {
  sandbox: Sandbox;
  fs: TestFirestore;
  db: Firestore;
  /** OfficeRnD's records when the case started: what Firestore must converge to. */
  truth: SandboxDataset;
  /** The configuration new readers get (a case may break the credentials). */
  officeRnd: OfficeRndConfig;
  clientOptions: OfficeRndClientOptions;
  /** Secrets besides the sandbox's (e.g. a wrong client secret a case tried). */
  extraSecrets: string[];
  reader(): OfficeRndClient;
  deps(overrides?: Partial<BackupDeps>): BackupDeps;
  /** The client secret, every token the sandbox issued, and the extra secrets. */
  secrets(): string[];
  close(): Promise<void>;
}

export async function startCaseStack(
  label: string,
  options: SandboxOptions = {},
  fs: TestFirestore = createTestFirestore(label),
): Promise<CaseStack> {
  const sandbox = await startSandbox({
    tokenRequestsPerMinute: null,
    readsPerMinute: null,
    seed: { ...SUITE_SIZES },
    ...options,
  });
  const clients: OfficeRndClient[] = [];
  const stack: CaseStack = {
    sandbox,
    fs,
    db: fs.db,
    truth: sandbox.data.snapshot(),
    officeRnd: loadOfficeRndConfig(sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" })),
    clientOptions: { ...CLIENT_OPTIONS },
    extraSecrets: [],
    reader() {
      const client = createOfficeRndClient(stack.officeRnd, stack.clientOptions);
      clients.push(client);
      return client;
    },
    deps(overrides = {}) {
      return {
        db: stack.db,
        config: loadBackupConfig({}),
        firestoreTimeoutMs: CASE_FIRESTORE_TIMEOUT_MS,
        ...overrides,
        reader: overrides.reader ?? stack.reader(),
      };
    },
    secrets() {
      return [sandbox.clientSecret, ...sandbox.issuedTokens(), ...stack.extraSecrets];
    },
    async close() {
      for (const client of clients) client.close();
      await sandbox.close();
      await fs.close();
    },
  };
  return stack;
}

/** Puts OfficeRnD back as it was when the case started (faults off, records restored). */
export function healOfficeRnd(stack: CaseStack): void {
  stack.sandbox.clearFaults();
  // Setting the daily quota again starts fresh windows: the spent day has passed.
  stack.sandbox.configure({ latencyMs: 0, readsPerDay: stack.sandbox.settings.readsPerDay });
  stack.sandbox.data.load(stack.truth);
  stack.officeRnd = loadOfficeRndConfig(
    stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
  );
}

// ---- Known content and the "nothing lost" audit ----------------------------------------------------

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value instanceof Timestamp) return { timestamp: value.toMillis() };
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(object)
        .sort()
        .map((k) => [k, sortKeys(object[k])]),
    );
  }
  return value;
}

/** Canonical JSON of a record or of a document's content (without `_sync`), written here on purpose (not the product's hash). */
export function canonical(data: Readonly<Record<string, unknown>>): string {
  const { _sync: _ignored, ...content } = data;
  return JSON.stringify(sortKeys(content));
}

interface KnownDoc {
  canon: string;
  removed: boolean;
}

/** Firestore as it was before the fault (every document), and OfficeRnD's records. */
export interface KnownContent {
  docs: Record<ResourceName, Map<string, KnownDoc>>;
  truth: Record<ResourceName, Map<string, string>>;
  /** Documents that already equalled OfficeRnD (the "good" ones). */
  good: number;
  total: number;
}

function removedAt(data: DocumentData): unknown {
  const sync = data._sync as { removedAt?: unknown } | undefined;
  return sync?.removedAt ?? null;
}

export async function captureKnown(db: Firestore, truth: SandboxDataset): Promise<KnownContent> {
  const known: KnownContent = {
    docs: {} as KnownContent["docs"],
    truth: {} as KnownContent["truth"],
    good: 0,
    total: 0,
  };
  for (const resource of RESOURCE_NAMES) {
    known.truth[resource] = new Map(truth[resource].map((r) => [r._id, canonical(r)]));
    const snap = await db.collection(RESOURCES[resource].collection).get();
    const docs = new Map<string, KnownDoc>();
    for (const doc of snap.docs) {
      const canon = canonical(doc.data());
      docs.set(doc.id, { canon, removed: removedAt(doc.data()) !== null });
      if (known.truth[resource].get(doc.id) === canon) known.good += 1;
    }
    known.docs[resource] = docs;
    known.total += docs.size;
  }
  return known;
}

/** Seeds Firestore from OfficeRnD's records with the suite's drift and captures it as known. */
export async function seedKnownContent(
  db: Firestore,
  truth: SandboxDataset,
  drift: DriftOptions = DRIFT,
): Promise<KnownContent> {
  await seedFirestoreMirror(db, truth, drift, SEEDED_AT);
  return captureKnown(db, truth);
}

/**
 * Every way a document could have been lost or damaged, compared with the known content: deleted
 * while OfficeRnD has the record;
 * `_sync` blanked; content that is neither what it was nor OfficeRnD's record; marked removed while
 * OfficeRnD still has the record; a new document that is not an OfficeRnD record.
 */
export async function auditDocuments(db: Firestore, known: KnownContent): Promise<string[]> {
  const problems: string[] = [];
  for (const resource of RESOURCE_NAMES) {
    const snap = await db.collection(RESOURCES[resource].collection).get();
    const current = new Map(snap.docs.map((d) => [d.id, d.data()]));
    const truth = known.truth[resource];
    for (const [id, before] of known.docs[resource]) {
      const data = current.get(id);
      const where = `${resource}/${id}`;
      if (data === undefined) {
        // Deleting what OfficeRnD does not have is the delete policy at work, not a loss.
        if (truth.has(id)) problems.push(`${where}: deleted`);
        continue;
      }
      if (!syncInfoSchema.safeParse(data._sync).success) problems.push(`${where}: _sync blanked`);
      const canon = canonical(data);
      if (canon !== before.canon && canon !== truth.get(id)) {
        problems.push(`${where}: overwritten with content OfficeRnD never had`);
      }
      if (removedAt(data) !== null && !before.removed && truth.has(id)) {
        problems.push(`${where}: marked removed although OfficeRnD has it`);
      }
    }
    for (const [id, data] of current) {
      if (known.docs[resource].has(id)) continue;
      if (canonical(data) !== truth.get(id)) {
        problems.push(`${resource}/${id}: created with content OfficeRnD never had`);
      }
    }
  }
  return problems;
}

/** Update times of every record document (a run that must write nothing leaves them all). */
export async function recordVersions(db: Firestore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const resource of RESOURCE_NAMES) {
    const snap = await db.collection(RESOURCES[resource].collection).get();
    for (const doc of snap.docs) out.set(`${resource}/${doc.id}`, doc.updateTime.toMillis());
  }
  return out;
}

// ---- After the fault -------------------------------------------------------------------------------

export interface Convergence {
  /** Normal runs until Firestore equalled OfficeRnD; null when `maxRuns` did not get there. */
  runs: number | null;
  last: BackupRunResult | null;
  remaining: string[];
}

/** Normal runs (faults cleared) until Firestore equals OfficeRnD exactly, at most `maxRuns`. */
export async function converge(
  stack: CaseStack,
  options: { maxRuns?: number; deps?: Partial<BackupDeps> } = {},
): Promise<Convergence> {
  let last: BackupRunResult | null = null;
  let remaining: string[] = [];
  for (let run = 1; run <= (options.maxRuns ?? 3); run += 1) {
    last = await runBackup(stack.deps(options.deps), { trigger: "schedule" });
    remaining = await differences(stack.db, stack.sandbox);
    if (last.status === "completed" && remaining.length === 0)
      return { runs: run, last, remaining };
  }
  return { runs: null, last, remaining };
}

export interface ExpectedRun {
  status: "completed" | "failed" | "busy";
  code?: string;
  retryable?: boolean;
  message?: RegExp;
}

export function describeExpected(e: ExpectedRun): string {
  if (e.status !== "failed") return e.status;
  return `failed (${e.code ?? "?"})${e.retryable === undefined ? "" : e.retryable ? ", retryable" : ", not retried"}`;
}

export function describeResult(result: Pick<BackupRunResult, "status" | "error">): string {
  if (result.status !== "failed") return result.status;
  return `failed (${result.error?.code ?? "?"})${result.error?.retryable ? ", retryable" : ", not retried"}`;
}

/** The result and what Firestore recorded: metadata, history, and /errors for a failed run. */
export async function expectRecorded(
  db: Firestore,
  result: BackupRunResult,
  expected: ExpectedRun,
): Promise<void> {
  expect(describeResult(result)).toBe(describeExpected(expected));
  if (expected.message) expect(result.error?.message).toMatch(expected.message);
  if (expected.status === "busy") return;
  const meta = await readBackupMetadata(db);
  expect(meta?.runId).toBe(result.runId);
  expect(meta?.status).toBe(expected.status);
  const errorDoc = await readBackupError(db, result.runId);
  if (expected.status === "completed") {
    expect(meta?.error).toBeNull();
    expect(errorDoc).toBeNull();
    return;
  }
  expect(meta?.errorCode).toBe(expected.code);
  expect(meta?.error).toBe(result.error?.message);
  if (expected.message) expect(meta?.error).toMatch(expected.message);
  expect(errorDoc).toMatchObject({
    functionName: "officeRndDataBackup",
    runId: result.runId,
    code: expected.code,
    message: result.error?.message,
  });
}

// ---- Secrets -----------------------------------------------------------------------------------------

/** Every stored document a secret could leak into: /errors and the metadata with its history. */
export async function storedTexts(db: Firestore): Promise<string[]> {
  const texts: string[] = [];
  for (const snap of [
    await db.collection(ERRORS_COLLECTION).get(),
    await db.collection(METADATA_COLLECTION).get(),
    await db.collectionGroup("runs").get(),
  ]) {
    for (const doc of snap.docs) texts.push(JSON.stringify(doc.data()));
  }
  return texts;
}

/** Which secrets (or their last 16 characters) appear in any of the texts. */
export function leakedSecrets(texts: readonly string[], secrets: readonly string[]): string[] {
  const leaked = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 8) continue;
    const tail = secret.length >= 24 ? secret.slice(-16) : secret;
    for (const text of texts) {
      if (text.includes(secret) || text.includes(tail)) {
        leaked.add(`${secret.slice(0, 4)}…(${secret.length} chars)`);
        break;
      }
    }
  }
  return [...leaked];
}

// ---- Faults beyond the sandbox's ------------------------------------------------------------------

/** A reader that calls `onPage` before handing each page on (to act mid-run, e.g. expire tokens). */
export function tapPages(
  reader: OfficeRndReader,
  onPage: (page: ResourcePage) => void | Promise<void>,
): OfficeRndReader {
  return {
    async *pages(resource, options) {
      for await (const page of reader.pages(resource, options)) {
        await onPage(page);
        yield page;
      }
    },
    ...(reader.count ? { count: reader.count.bind(reader) } : {}),
    stats: () => reader.stats(),
  };
}

type RequestFn = (
  method: string,
  request: unknown,
  requestTag: string,
  retryCodes?: unknown,
) => Promise<unknown>;

export interface BatchFault {
  /** batchWrite RPCs seen so far. */
  calls(): number;
  /** batchWrite RPCs failed so far. */
  failed(): number;
  restore(): void;
}

/**
 * Makes BulkWriter batch commits (the `batchWrite` RPC) fail as Firestore does when it is
 * overloaded or unreachable: the RPC rejects with a gRPC code, so BulkWriter maps the failure onto
 * every write of the batch and the engine's retry policy decides. The RPC funnel `request` is
 * internal to @google-cloud/firestore: this checks it exists rather than silently testing nothing.
 */
export function failBatchCommits(
  db: Firestore,
  shouldFail: (call: number) => boolean,
  code = 14,
): BatchFault {
  const target = db as unknown as { request: RequestFn };
  if (typeof target.request !== "function") {
    throw new Error(
      "@google-cloud/firestore no longer has Firestore.request: update failBatchCommits",
    );
  }
  const original = target.request;
  let calls = 0;
  let failed = 0;
  target.request = (method, request, requestTag, retryCodes) => {
    if (method === "batchWrite") {
      calls += 1;
      if (shouldFail(calls)) {
        failed += 1;
        const error = new Error(`${code} UNAVAILABLE: the batch commit failed (injected)`);
        return Promise.reject(Object.assign(error, { code }));
      }
    }
    return original.call(db, method, request, requestTag, retryCodes);
  };
  return {
    calls: () => calls,
    failed: () => failed,
    restore: () => {
      Reflect.deleteProperty(target, "request");
    },
  };
}

/** Moves the stored lease's expiry into the past: what waiting out its TTL does. */
export async function expireLease(db: Firestore): Promise<void> {
  await lockRef(db).update({ expiresAt: Timestamp.fromMillis(Date.now() - 1_000) });
}

// ---- A private Firestore emulator (a case stops it) -------------------------------------------------

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

// ---- The CLI as a real process ------------------------------------------------------------------------

const TSX = join(FUNCTIONS_DIR, "node_modules", "tsx");

export interface CliOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** JSON log lines from stderr. */
  entries: Record<string, unknown>[];
  /** The `run --json` result from stdout, when it printed one. */
  result: { runId: string; status: string; written: number; error: { code: string } | null } | null;
}

export interface CliProcess {
  child: ChildProcess;
  done: Promise<CliOutcome>;
}

/** The environment that points the CLI at this sandbox and this Firestore project. */
export function cliEnv(stack: CaseStack): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
    GCLOUD_PROJECT: stack.fs.projectId,
    METADATA_SERVER_DETECTION: "none",
  };
}

/**
 * The CLI in one real process: `node --import tsx src/cli.ts <args>`, the code `npx tsx src/cli.ts`
 * runs, but without tsx's wrapper process (a SIGKILL to the wrapper would not reach the CLI). Logs
 * arrive on stderr as JSON lines; `onEntry` sees each as it arrives (e.g. to kill the process).
 */
export function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  onEntry?: (entry: Record<string, unknown>, child: ChildProcess) => void,
): CliProcess {
  if (!existsSync(TSX)) throw new Error(`tsx is not installed at ${TSX}`);
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], {
    cwd: FUNCTIONS_DIR,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let partial = "";
  const entries: Record<string, unknown>[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    stderr += text;
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.startsWith("{")) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        entries.push(entry);
        onEntry?.(entry, child);
      } catch {
        // not a log line
      }
    }
  });
  const done = new Promise<CliOutcome>((resolveDone) => {
    child.on("close", (code, signal) => {
      let result: CliOutcome["result"];
      try {
        result = JSON.parse(stdout.trim()) as CliOutcome["result"];
      } catch {
        result = null; // killed, or no JSON printed
      }
      resolveDone({ code, signal, stdout, stderr, entries, result });
    });
  });
  return { child, done };
}

// ---- HTTP over real sockets ---------------------------------------------------------------------------

export interface RawAnswer {
  status: number | null;
  head: string;
  body: string;
  /** The connection closed (or reset) before a status line arrived. */
  closedEarly: boolean;
}

/** Sends bytes exactly as given (malformed requests included) and reads until the server closes. */
export function rawRequest(
  port: number,
  text: string | Buffer,
  timeoutMs = 5_000,
): Promise<RawAnswer> {
  return new Promise((resolveAnswer) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("latin1");
      const split = raw.indexOf("\r\n\r\n");
      const head = split === -1 ? raw : raw.slice(0, split);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolveAnswer({
        status: match ? Number(match[1]) : null,
        head,
        body: split === -1 ? "" : raw.slice(split + 4),
        closedEarly: match === null,
      });
    };
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", finish);
    socket.write(text);
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** One request through `agent` (keep-alive pool); rejects only on a transport error. */
export function httpCall(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer; agent?: Agent } = {},
): Promise<HttpAnswer> {
  const started = performance.now();
  return new Promise((resolveAnswer, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers, agent: options.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolveAnswer({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
