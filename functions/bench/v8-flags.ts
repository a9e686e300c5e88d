import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The V8 heap flags the product runs with, read from where the product sets them, so a benchmark
 * runs its child process as the product runs: the CLI from the first line of src/cli.ts (the
 * shebang tsc copies into lib/cli.js: `#!/usr/bin/env -S node <flags>`), the functions from
 * NODE_OPTIONS in functions/.env (deployed as an environment variable of every function).
 * BENCH_NODE_FLAGS replaces both (empty: Node's own defaults, as before the product set any).
 */

const FUNCTIONS_DIR = join(__dirname, "..");

function override(): string[] | null {
  const raw = process.env.BENCH_NODE_FLAGS;
  return raw === undefined ? null : split(raw);
}

function split(flags: string): string[] {
  return flags.split(/\s+/).filter((f) => f !== "");
}

/** The flags of the `officernd-backup` bin: its shebang after `env -S node`. */
export function cliV8Flags(): string[] {
  const fixed = override();
  if (fixed) return fixed;
  const first = readFileSync(join(FUNCTIONS_DIR, "src", "cli.ts"), "utf8").split("\n")[0] ?? "";
  const match = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  if (!match)
    throw new Error(`src/cli.ts: expected "#!/usr/bin/env -S node <flags>", got ${first}`);
  return split(match[1] ?? "");
}

/** NODE_OPTIONS as functions/.env deploys it to the functions. */
export function functionNodeOptions(): string {
  const fixed = override();
  if (fixed) return fixed.join(" ");
  const env = readFileSync(join(FUNCTIONS_DIR, ".env"), "utf8");
  const match = /^NODE_OPTIONS=(["']?)(.*)\1\s*$/m.exec(env);
  if (!match) throw new Error("functions/.env sets no NODE_OPTIONS");
  return match[2] ?? "";
}

/** How a figure was run, for the benchmarks' headings. */
export function describeFlags(flags: readonly string[]): string {
  return flags.length > 0 ? flags.join(" ") : "Node's default heap sizing";
}
