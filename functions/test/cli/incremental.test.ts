import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { baseEnv, parseJsonOutput, runCli, type ProcessResult } from "./run-cli";

/**
 * `run --mode incremental` as an operator runs it, in its own process, against the sandbox and the
 * Firestore emulator: after `run` (full), five changed members and three changed bookings are
 * read and applied, and nothing else; `history` shows both runs with their mode; `metadata`
 * still shows the full run; a bad `--mode` is a usage error.
 */

let sandbox: Sandbox;
let fs: TestFirestore;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]): Promise<ProcessResult> => runCli(args, env);

interface RunJson {
  runId: string;
  mode: string;
  status: string;
  written: number;
  durationMs: number;
  api: { requests: number };
  resources: Record<string, { api: number | null; written: number }>;
  coverage: Record<string, { read: string }> | null;
}

beforeAll(async () => {
  sandbox = await startSandbox({
    tokenRequestsPerMinute: null,
    readsPerMinute: null,
    seed: {
      members: 400,
      companies: 80,
      opportunities: 150,
      locations: 3,
      events: 30,
      bookings: 600,
    },
  });
  fs = createTestFirestore("cli-incremental");
  env = baseEnv({
    ...sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
    GCLOUD_PROJECT: fs.projectId,
  });
});
afterAll(async () => {
  await sandbox.close();
  await fs.close();
});

describe("run --mode incremental after run", () => {
  let full: RunJson;
  let incremental: RunJson;
  let fullRequests = 0;

  beforeAll(async () => {
    const first = await cli("run", "--json");
    expect(first.code).toBe(0);
    full = parseJsonOutput(first) as RunJson;
    fullRequests = full.api.requests;
    for (const id of sandbox.data.members.ids().slice(50, 55)) {
      sandbox.data.members.update(id, { description: `edited ${id}` });
    }
    for (const id of sandbox.data.bookings.ids().slice(100, 103)) {
      sandbox.data.bookings.update(id, { notes: `moved ${id}` });
    }
    const second = await cli("run", "--mode", "incremental", "--json");
    expect(second.code).toBe(0);
    incremental = parseJsonOutput(second) as RunJson;
  }, 120_000);

  it("applies exactly the eight changed records, one page per type read", () => {
    expect(incremental).toMatchObject({ mode: "incremental", status: "completed", written: 8 });
    expect(incremental.resources.members).toEqual(expect.objectContaining({ api: 5, written: 5 }));
    expect(incremental.resources.bookings).toEqual(expect.objectContaining({ api: 3, written: 3 }));
    // members, companies, opportunities, bookings: one page each (locations and events skipped).
    expect(incremental.api.requests).toBe(4);
    expect(fullRequests).toBeGreaterThan(30);
    expect(incremental.coverage?.events?.read).toBe("no_modified_at");
    process.stdout.write(
      `incremental run: ${incremental.api.requests} OfficeRnD requests in ${incremental.durationMs} ms ` +
        `(full run: ${fullRequests} requests in ${full.durationMs} ms)\n`,
    );
  });

  it("history lists both with their mode; metadata is still the full run's", async () => {
    const history = await cli("history", "--json");
    const runs = (parseJsonOutput(history) as { runs: { runId: string; mode: string }[] }).runs;
    expect(runs.map((r) => [r.runId, r.mode])).toEqual([
      [incremental.runId, "incremental"],
      [full.runId, "full"],
    ]);
    const text = await cli("history");
    expect(text.stdout).toMatch(/incremental/);
    const metadata = await cli("metadata", "--json");
    expect(metadata.stdout).toContain(full.runId);
    expect(metadata.stdout).not.toContain(incremental.runId);
  });

  it("the human output names the types left to the full backup", async () => {
    const again = await cli("run", "--mode", "incremental");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Incremental sync \S+ \(cli\): COMPLETED/);
    expect(again.stdout).toMatch(/locations: its records carry no modifiedAt/);
  });
});

describe("usage", () => {
  it("--mode takes full or incremental, and applies to run only", async () => {
    const bad = await cli("run", "--mode", "partial");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mode must be full or incremental, got partial/);
    const elsewhere = await cli("history", "--mode", "incremental");
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/--mode applies to run only/);
  });
});
