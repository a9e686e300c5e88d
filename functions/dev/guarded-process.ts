import { spawn, type ChildProcess } from "node:child_process";

/**
 * Long-running helper processes (the Firestore emulator, the Firebase emulator suite) that must
 * not outlive the process that started them: each runs under a small guardian `node` process
 * that starts it in its own process group and kills that whole group when its parent goes away
 * (its stdin closes: the parent exited, crashed or was killed) or when asked to stop. So a test
 * run that is killed leaves no Java or Node process behind.
 */

export interface GuardedProcess {
  /** The guardian; the command's own stdout and stderr come out of its stdout and stderr. */
  child: ChildProcess;
  /** The last 64 KB of the command's output (stdout and stderr together). */
  output: () => string;
  /** Resolves when the guardian has exited (the command and its group are gone). */
  exited: Promise<void>;
  /** Stops the command's whole process group (SIGTERM, then SIGKILL) and waits for it. */
  stop: () => Promise<void>;
}

const OUTPUT_KEPT_CHARS = 65_536;
/** How long the group gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 5000;

const GUARDIAN = `
const { spawn } = require("node:child_process");
const [command, ...args] = process.argv.slice(1);
const child = spawn(command, args, { detached: true, stdio: ["ignore", "inherit", "inherit"] });
let done = false;
const killGroup = (signal) => { try { process.kill(-child.pid, signal); } catch {} };
const stop = () => {
  if (done) return; done = true;
  killGroup("SIGTERM");
  setTimeout(() => { killGroup("SIGKILL"); process.exit(0); }, ${KILL_GRACE_MS}).unref();
};
child.on("error", (error) => { console.error(String(error)); process.exit(127); });
child.on("exit", (code) => { done = true; killGroup("SIGKILL"); process.exit(code ?? 0); });
process.stdin.on("end", stop); process.stdin.on("close", stop); process.stdin.resume();
process.on("SIGTERM", stop); process.on("SIGINT", stop);
`;

export function spawnGuarded(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): GuardedProcess {
  const child = spawn(process.execPath, ["-e", GUARDIAN, command, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // The guardian must not keep this process alive, and must die with it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as { unref?: () => void } | null)?.unref?.();
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, KILL_GRACE_MS + 1000)))]);
    clearTimeout(timer);
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  return { child, output: () => log, exited, stop };
}
