import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Firestore } from "firebase-admin/firestore";
import {
  startSandbox,
  type Sandbox,
  type SandboxDataset,
  type SandboxOptions,
} from "../../dev/sandbox";
import { ERRORS_COLLECTION } from "../../src/backup/documents";
import { METADATA_COLLECTION } from "../../src/mirror/collections";
import { readBackupError, readBackupMetadata } from "../../src/backup/metadata";
import { runBackup, type BackupDeps, type BackupRunResult } from "../../src/backup/run";
import { loadBackupConfig, loadOfficeRndConfig, type OfficeRndConfig } from "../../src/config";
import {
  createOfficeRndClient,
  type OfficeRndClient,
  type OfficeRndClientOptions,
} from "../../src/officernd/client";
import { differences } from "../backup/helpers";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

/**
 * The reliability suite's stack: a real sandbox over HTTP, a real Firestore emulator project, fast
 * but real client retries; what every case checks after its fault (convergence, the run
 * recorded, no secret anywhere; the known content and its audit are in ./known-content.ts); and
 * the CLI as a real process.
 */

export const FUNCTIONS_DIR = resolve(__dirname, "../..");

/**
 * The suite's organization: the design's first three types, small and not multiples of 50
 * (members 4 pages, companies 1, opportunities 2). The next three are empty here, so every case's
 * counts stay the same; the engine tests and the sandbox tests cover them.
 */
export const SUITE_SIZES = {
  members: 160,
  companies: 40,
  opportunities: 70,
  locations: 0,
  events: 0,
  bookings: 0,
} as const;

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

/** The product app's tokens in the HTTP and concurrency cases: random, checked never to leak. */
export const STATUS_TOKEN = `st-${randomBytes(24).toString("hex")}`;
export const WEBHOOK_SECRET = `wh-${randomBytes(24).toString("hex")}`;

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
