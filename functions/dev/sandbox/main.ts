import { parseArgs } from "node:util";
import { startSandbox, type SandboxOptions } from "./server";

/**
 * Runs the OfficeRnD sandbox by hand:
 *   tsx dev/sandbox/main.ts --port 0 [--members 120 --companies 30 --opportunities 45 --seed 1]
 *                           [--reads-per-minute 400|none] [--reads-per-day 20000|none]
 *                           [--latency-ms 0] [--token-ttl 3599]
 * Prints its URL and the OFFICERND_* variables to point the CLI at it; Ctrl-C stops it.
 */

const USAGE =
  "usage: tsx dev/sandbox/main.ts [--port N] [--host H] [--members N] [--companies N] " +
  "[--opportunities N] [--seed N] [--reads-per-minute N|none] [--reads-per-day N|none] " +
  "[--latency-ms N] [--token-ttl S] " +
  "[--client-secret S] [--json]";

function toInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      members: { type: "string" },
      companies: { type: "string" },
      opportunities: { type: "string" },
      seed: { type: "string" },
      "reads-per-minute": { type: "string" },
      "reads-per-day": { type: "string" },
      "latency-ms": { type: "string" },
      "token-ttl": { type: "string" },
      "client-secret": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const reads = values["reads-per-minute"];
  const daily = values["reads-per-day"];
  const options: SandboxOptions = {
    port: toInt("port", values.port) ?? 0,
    host: values.host,
    seed: {
      members: toInt("members", values.members),
      companies: toInt("companies", values.companies),
      opportunities: toInt("opportunities", values.opportunities),
      seed: toInt("seed", values.seed),
    },
    readsPerMinute: reads === "none" ? null : toInt("reads-per-minute", reads),
    readsPerDay: daily === "none" ? null : toInt("reads-per-day", daily),
    latencyMs: toInt("latency-ms", values["latency-ms"]),
    tokenTtlSeconds: toInt("token-ttl", values["token-ttl"]),
    clientSecret: values["client-secret"],
  };
  const sandbox = await startSandbox(options);
  const env = sandbox.env();
  if (values.json) {
    console.log(JSON.stringify({ url: sandbox.url, counts: sandbox.data.counts(), env }));
  } else {
    const counts = sandbox.data.counts();
    console.log(`OfficeRnD sandbox listening on ${sandbox.url}`);
    console.log(
      `  ${counts.members} members, ${counts.companies} companies, ` +
        `${counts.opportunities} opportunities; read budget ${sandbox.settings.readsPerMinute ?? "none"}/min, ${sandbox.settings.readsPerDay ?? "none"}/day`,
    );
    for (const [key, value] of Object.entries(env)) console.log(`export ${key}=${value}`);
  }
  const stop = () => {
    void sandbox.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  console.error(USAGE);
  process.exit(2);
});
