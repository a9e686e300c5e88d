import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { seedFirestore } from "../backup/helpers";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { baseEnv, parseJsonOutput, runCli, type ProcessResult } from "./run-cli";

/**
 * The CLI as an operator runs it, in its own process, against the Firestore emulator and the
 * local OfficeRnD sandbox: `run` makes real runs, then `metadata`, `errors`, `history` and
 * `status` read what they left; exit codes, `--json` on stdout, logs on stderr, usage errors.
 */

let sandbox: Sandbox;
let fs: TestFirestore;
let env: NodeJS.ProcessEnv;
const outputs: ProcessResult[] = [];

async function cli(...args: string[]): Promise<ProcessResult> {
  const result = await runCli(args, env);
  outputs.push(result);
  return result;
}

beforeAll(async () => {
  sandbox = await startSandbox({ tokenRequestsPerMinute: null, readsPerMinute: null });
  fs = createTestFirestore("cli-records");
  env = baseEnv({
    ...sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
    GCLOUD_PROJECT: fs.projectId,
  });
});
afterAll(async () => {
  await sandbox.close();
  await fs.close();
});

describe("usage", () => {
  it("--help lists every command and exits 0", async () => {
    const result = await cli("--help");
    expect(result.code).toBe(0);
    for (const command of ["run", "status", "serve", "metadata", "errors", "history", "check"]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    }
    expect(result.stdout).toContain("--limit N");
  });

  it.each([
    [["errors", "--limit", "0"], "--limit must be at least 1, got 0"],
    [["history", "--limit", "many"], "--limit must be a whole number, got many"],
    [["errors", "--limit", "101"], "--limit must be at most 100, got 101"],
    [["metadata", "--limit", "3"], "--limit applies to errors and history only"],
    [["frobnicate"], "unknown command: frobnicate"],
  ])("%j: exit 2, says why, shows the usage", async (args, message) => {
    const result = await cli(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.split("\n")[0]).toBe(`officernd-backup: ${message}`);
    expect(result.stderr).toContain("Usage: officernd-backup <command>");
  });

  it("an unknown option: exit 2", async () => {
    const result = await cli("history", "--bogus");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^officernd-backup: Unknown option '--bogus'/);
  });

  it("a configuration error: exit 2, one line naming the variable", async () => {
    const bare = baseEnv({ GCLOUD_PROJECT: fs.projectId });
    for (const command of ["check", "run"]) {
      const result = await runCli([command], bare);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toBe(
        "officernd-backup: OFFICERND_ORG_SLUG: is required (the OfficeRnD organization slug)\n",
      );
    }
    const badUrl = await runCli(
      ["check"],
      baseEnv({ ...sandbox.env(), OFFICERND_API_URL: "ftp://example.com" }),
    );
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toBe("officernd-backup: OFFICERND_API_URL: must be an http(s) URL\n");
  });
});

describe("before any run", () => {
  it("metadata: exit 1, no document; history and errors: empty, exit 0", async () => {
    const text = await cli("metadata");
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("officeRndMetadata/backup-metadata: no such document");
    const json = await cli("metadata", "--json");
    expect(json.code).toBe(1);
    expect(parseJsonOutput(json)).toMatchObject({ exists: false, valid: false, document: null });

    const history = await cli("history", "--json");
    expect(history.code).toBe(0);
    expect(parseJsonOutput(history)).toEqual({ limit: 10, runs: [], invalid: [] });
    const errors = await cli("errors");
    expect(errors.code).toBe(0);
    expect(errors.stdout.trim()).toBe("/errors: no documents.");
  });
});

describe("after `run` (completed), then `run` again (failed)", () => {
  let completedRunId = "";
  let failedRunId = "";

  beforeAll(async () => {
    const snapshot = sandbox.data.snapshot();
    await seedFirestore(fs.db, { ...snapshot, members: snapshot.members.slice(4) });
    const first = await cli("run", "--json");
    expect(first.code).toBe(0);
    const completed = parseJsonOutput(first) as { runId: string; status: string };
    expect(completed.status).toBe("completed");
    completedRunId = completed.runId;

    sandbox.setFault({ kind: "4xx", resource: "members", status: 400, message: "bad filter" });
    const second = await cli("run");
    sandbox.clearFaults();
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/^Backup \S+ \(cli\): FAILED/);
    failedRunId = /^Backup (\S+) /.exec(second.stdout)?.[1] ?? "";
    expect(failedRunId).not.toBe("");
  }, 60_000);

  it("metadata: the failed run, exit 0; --json is the stored document", async () => {
    const text = await cli("metadata");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`runId\\s+${failedRunId} \\(cli\\)`));
    expect(text.stdout).toMatch(/error\s+bad_request: members: OfficeRnD read failed/);
    expect(text.stdout).toMatch(/^\s+members\s+\d+\s+-\s+/m);

    const json = await cli("metadata", "--json");
    expect(json.code).toBe(0);
    expect(parseJsonOutput(json)).toMatchObject({
      path: "officeRndMetadata/backup-metadata",
      exists: true,
      valid: true,
      inProgress: null,
      document: {
        runId: failedRunId,
        status: "failed",
        errorCode: "bad_request",
        lastCompletedAt: expect.stringMatching(/Z$/) as string,
      },
    });
  });

  it("history: newest first, --limit honoured", async () => {
    const json = await cli("history", "--json");
    expect(json.code).toBe(0);
    const report = parseJsonOutput(json) as {
      runs: { runId: string; status: string; missingRecords: number; written: number }[];
    };
    expect(report.runs.map((r) => [r.runId, r.status])).toEqual([
      [failedRunId, "failed"],
      [completedRunId, "completed"],
    ]);
    expect(report.runs[1]).toMatchObject({ missingRecords: 4, written: 4 });

    const one = await cli("history", "--limit", "1", "--json");
    expect((parseJsonOutput(one) as { runs: unknown[] }).runs).toHaveLength(1);

    const text = await cli("history");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/cli\s+full\s+failed\s.*bad_request/);
    expect(text.stdout).toMatch(/cli\s+full\s+completed\s.*\s4\s+0\s+0\s+4\s+yes/);
  });

  it("errors: the failed run's document, newest first", async () => {
    const json = await cli("errors", "--limit", "5", "--json");
    expect(json.code).toBe(0);
    expect(parseJsonOutput(json)).toMatchObject({
      collection: "errors",
      limit: 5,
      errors: [
        {
          id: `officeRndDataBackup-${failedRunId}`,
          code: "bad_request",
          runId: failedRunId,
          trigger: "cli",
          resource: "members",
          valid: true,
        },
      ],
    });
    const text = await cli("errors");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`bad_request  officeRndDataBackup-${failedRunId}`);
  });

  it("status still prints what the endpoint serves", async () => {
    const json = await cli("status", "--json");
    expect(json.code).toBe(0);
    expect(parseJsonOutput(json)).toMatchObject({
      backup: { status: "failed", runId: failedRunId },
    });
  });

  it("no output of any command carries the client secret or an access token", () => {
    expect(sandbox.issuedTokens().length).toBeGreaterThan(0);
    for (const result of outputs) {
      for (const secret of [sandbox.clientSecret, ...sandbox.issuedTokens()]) {
        expect(result.stdout).not.toContain(secret);
        expect(result.stderr).not.toContain(secret);
      }
    }
  });
});
