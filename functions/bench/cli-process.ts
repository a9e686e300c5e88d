import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { lastJsonLine, ProcWatch } from "./measure";
import { cliV8Flags } from "./v8-flags";

/**
 * Runs an entry point of this package in a process of its own, as a user would, and measures it
 * from outside: wall time, RSS over time from /proc, and the peak RSS and heap the process
 * reports when it exits (./child-usage.mjs, preloaded). A TypeScript entry runs as
 * `node --import tsx <entry>` (one process, no tsx wrapper), a built one (lib/…) as plain
 * `node <entry>`, without tsx in the process. The child gets the V8 heap flags the product sets
 * (./v8-flags.ts): the CLI's from its shebang as arguments, a function's as NODE_OPTIONS.
 * `runUntilDone` runs the CLI's `run --json` again while it exits 75 (a run that reached its time
 * budget and continues), as the contract says.
 */

const FUNCTIONS_DIR = join(__dirname, "..");

/** The exit code of a CLI `run` that reached its budget and will be resumed by the next `run`. */
export const EXIT_CONTINUING = 75;

const usageSchema = z.object({
  maxRssBytes: z.number(),
  peakHeapBytes: z.number(),
  userCpuMs: z.number(),
  systemCpuMs: z.number(),
  heapLimitBytes: z.number(),
});
export type ChildUsage = z.infer<typeof usageSchema>;

/** One log entry of the child (its JSON lines on stderr), stamped with when it arrived. */
export interface ChildEvent {
  ms: number;
  event: string;
  phase?: string;
  resource?: string;
}

export interface ChildRun {
  code: number | null;
  stdout: string;
  /** The last lines of stderr that were not JSON log lines (error messages). */
  stderrTail: string[];
  wallMs: number;
  /** From ./child-usage.mjs; null when the process died without exiting (a signal). */
  usage: ChildUsage | null;
  /** RSS over time and the last VmHWM seen (Linux). */
  proc: ProcWatch;
  /** Milliseconds of the parent's clock when the process started. */
  startedAt: number;
  events: ChildEvent[];
}

/** The log events worth keeping from a child: the run's phases and its end. */
const KEPT = new Set([
  "backup_started",
  "backup_progress",
  "officernd_resource_read",
  "backup_summary",
  "backup_failed",
]);

const logLineSchema = z.looseObject({
  event: z.string(),
  phase: z.string().optional(),
  resource: z.string().optional(),
});

/**
 * `node [flags] [--import tsx] --import ./bench/child-usage.mjs <entry> [args]`: tsx only for a
 * TypeScript entry. `flags` are V8 flags on the command line (the CLI's shebang); a function's
 * go in `env.NODE_OPTIONS` instead, as the platform passes them.
 */
export function spawnTs(
  entry: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  flags: readonly string[] = [],
): Promise<ChildRun> {
  const dir = mkdtempSync(join(tmpdir(), "bench-usage-"));
  const usageFile = join(dir, "usage.json");
  const startedAt = Date.now();
  const loader = entry.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn(
    process.execPath,
    [...flags, ...loader, "--import", "./bench/child-usage.mjs", entry, ...args],
    {
      cwd: FUNCTIONS_DIR,
      env: { ...env, BENCH_USAGE_FILE: usageFile },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const proc = new ProcWatch(child.pid ?? -1, startedAt).start();
  const events: ChildEvent[] = [];
  const stderrTail: string[] = [];
  let stdout = "";
  let partial = "";
  const line = (text: string) => {
    if (text.trim() === "") return;
    const parsed = logLineSchema.safeParse(lastJsonLine(text));
    if (!parsed.success) {
      stderrTail.push(text);
      if (stderrTail.length > 20) stderrTail.shift();
    } else if (KEPT.has(parsed.data.event)) {
      const { event, phase, resource } = parsed.data;
      events.push({ ms: Date.now() - startedAt, event, phase, resource });
    }
  };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    lines.forEach(line);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry} ${args.join(" ")} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      proc.stop();
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      proc.stop();
      line(partial);
      const usage = existsSync(usageFile)
        ? usageSchema.safeParse(lastJsonLine(readFileSync(usageFile, "utf8")))
        : null;
      rmSync(dir, { recursive: true, force: true });
      resolve({
        code,
        stdout,
        stderrTail,
        wallMs: Date.now() - startedAt,
        usage: usage?.success ? usage.data : null,
        proc,
        startedAt,
        events,
      });
    });
  });
}

/**
 * The CLI as a user runs it: `npm run cli` (src/cli.ts through tsx, the default), or with
 * BENCH_CLI=lib the built `officernd-backup` (lib/cli.js, after `npm run build`), which starts
 * faster and without tsx in the process (about 30 MiB less RSS). Both with the shebang's flags.
 */
export function cliEntry(): string {
  if (process.env.BENCH_CLI !== "lib") return "src/cli.ts";
  if (!existsSync(join(FUNCTIONS_DIR, "lib", "cli.js"))) {
    throw new Error("BENCH_CLI=lib: run `npm run build` first (lib/cli.js is missing)");
  }
  return "lib/cli.js";
}

/** What the benchmarks read of `run --json`; everything else is kept as it came. */
export const runJsonSchema = z.looseObject({
  runId: z.string(),
  status: z.string(),
  written: z.number().optional(),
  durationMs: z.number().optional(),
  api: z
    .looseObject({
      requests: z.number(),
      tokenRequests: z.number(),
      throttled: z.number(),
    })
    .optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).nullish(),
});
export type RunJson = z.infer<typeof runJsonSchema>;

export interface CliSession {
  runs: (ChildRun & { json: RunJson | null })[];
  /** Processes after the first that resumed a continuing run (exit 75 before them). */
  continuations: number;
  wallMs: number;
}

/**
 * `officernd-backup run --json` as a user runs it, again while it exits 75, at most
 * `maxProcesses` times. Each process is measured on its own.
 */
export async function runUntilDone(
  env: NodeJS.ProcessEnv,
  options: { maxProcesses?: number; timeoutMs?: number } = {},
): Promise<CliSession> {
  const started = Date.now();
  const runs: CliSession["runs"] = [];
  const max = options.maxProcesses ?? 50;
  for (;;) {
    const run = await spawnTs(
      cliEntry(),
      ["run", "--json"],
      env,
      options.timeoutMs ?? 3_600_000,
      cliV8Flags(),
    );
    const parsed = runJsonSchema.safeParse(lastJsonLine(run.stdout));
    runs.push({ ...run, json: parsed.success ? parsed.data : null });
    if (run.code !== EXIT_CONTINUING || runs.length >= max) break;
  }
  return { runs, continuations: runs.length - 1, wallMs: Date.now() - started };
}
