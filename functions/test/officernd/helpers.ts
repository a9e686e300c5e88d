import { startSandbox, type Sandbox, type SandboxOptions } from "../../dev/sandbox";
import { loadOfficeRndConfig, type OfficeRndConfig } from "../../src/config";
import { onLogEntry, setLogSink, type LogEntry } from "../../src/logs";
import {
  createOfficeRndClient,
  type OfficeRndClient,
  type OfficeRndClientOptions,
} from "../../src/officernd/client";

/** Retry settings that keep failure tests fast. */
export const FAST: OfficeRndClientOptions = {
  timeoutMs: 2_000,
  maxAttempts: 4,
  maxTotalMs: 15_000,
  baseDelayMs: 5,
  maxDelayMs: 40,
};

/** A read budget high enough that the limiter spacing (1 ms) does not slow tests down. */
export const FAST_READS = 60_000;

export function configFor(sandbox: Sandbox, overrides: Partial<OfficeRndConfig> = {}) {
  return {
    ...loadOfficeRndConfig(sandbox.env({ OFFICERND_READS_PER_MINUTE: String(FAST_READS) })),
    ...overrides,
  };
}

export interface Harness {
  sandbox: Sandbox;
  client(options?: OfficeRndClientOptions, config?: Partial<OfficeRndConfig>): OfficeRndClient;
  close(): Promise<void>;
}

/** A sandbox plus clients on it; every client made here is closed with it. */
export async function harness(options: SandboxOptions = {}): Promise<Harness> {
  const sandbox = await startSandbox({ readsPerMinute: null, ...options });
  const clients: OfficeRndClient[] = [];
  return {
    sandbox,
    client(clientOptions = {}, config = {}) {
      const client = createOfficeRndClient(configFor(sandbox, config), {
        ...FAST,
        ...clientOptions,
      });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.close();
      await sandbox.close();
    },
  };
}

/** Silences the Firebase logger and records every structured entry. */
export function captureLogs(): { entries: LogEntry[]; stop(): void } {
  const entries: LogEntry[] = [];
  setLogSink(() => undefined);
  const off = onLogEntry((entry) => entries.push(entry));
  return {
    entries,
    stop() {
      off();
      setLogSink(null);
    },
  };
}

/** captureLogs for a whole test file: stopped after its last test, emptied before each test. */
export function captureLogsPerTest(): { entries: LogEntry[] } {
  const logs = captureLogs();
  afterAll(() => logs.stop());
  beforeEach(() => {
    logs.entries.length = 0;
  });
  return logs;
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error: unknown) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`, { cause: error });
  }
  throw new Error("expected a rejection, but it resolved");
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
