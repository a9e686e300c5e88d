import { spawn } from "node:child_process";
import { join } from "node:path";

/**
 * Runs a TypeScript entry point of this package (the CLI, or a test script) in a process of its
 * own with tsx, on the Node running jest, with only the environment given here plus what any
 * process needs (PATH, HOME, the Firestore emulator jest started). Nothing of the parent's
 * OFFICERND_* or BACKUP_* configuration leaks in.
 */

export const FUNCTIONS_DIR = join(__dirname, "..", "..");

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST,
    METADATA_SERVER_DETECTION: "none",
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function runTs(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve("tsx/cli"), script, ...args], {
      cwd: FUNCTIONS_DIR,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} ${args.join(" ")} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The operator's bound on the CLI giving up on a Firestore that does not answer (issue 14). */
export const GIVE_UP_MS = 15_000;

/**
 * The bound a give-up is held to: the operator's 15 s, or, on a machine so loaded that starting
 * the CLI and one answered call already took `baselineMs`, that plus the CLI's own first-call
 * deadline (src/firebase.ts, 8 s) and 3 s. The deadline is what the CLI controls; its start-up
 * under tsx on a busy two-core CI machine took long enough once to reach 16.1 s.
 */
export function giveUpBoundMs(baselineMs: number, firstCallTimeoutMs: number): number {
  return Math.max(GIVE_UP_MS, baselineMs + firstCallTimeoutMs + 3_000);
}

/** `officernd-backup <args>` as an operator runs it (`npm run cli -- <args>` runs the same file). */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return runTs("src/cli.ts", args, env);
}

/** The one JSON object a `--json` command prints on stdout. */
export function parseJsonOutput(result: ProcessResult): unknown {
  const lines = result.stdout.split("\n").filter((l) => l.trim() !== "");
  if (lines.length !== 1) {
    throw new Error(`expected one line of JSON on stdout, got ${lines.length}:\n${result.stdout}`);
  }
  return JSON.parse(lines[0] ?? "");
}
