import { startFirestoreEmulator } from "../dev/emulator";
import { benchBackup } from "./backup";
import { benchFirstRun, benchLarge } from "./first-run";
import { benchMemory } from "./memory-curve";
import { benchClient } from "./officernd-client";
import { benchStatus } from "./status";

/**
 * `npm run bench`: prints the benchmarks' figures (nothing is asserted). One Firestore emulator
 * for all of them (or FIRESTORE_EMULATOR_HOST). `npm run bench -- <name>…` runs some of them
 * (the names below); docs/scaling.md explains the scaling ones (first-run, large, memory), their
 * environment variables and their figures.
 */
const BENCHES: Record<string, () => Promise<void>> = {
  client: benchClient,
  backup: benchBackup,
  status: benchStatus,
  "first-run": benchFirstRun,
  large: benchLarge,
  memory: benchMemory,
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  for (const name of wanted) {
    if (!BENCHES[name])
      throw new Error(`unknown benchmark ${name}; choose from ${Object.keys(BENCHES).join(", ")}`);
  }
  process.env.METADATA_SERVER_DETECTION ??= "none";
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  try {
    for (const [name, bench] of Object.entries(BENCHES)) {
      if (wanted.length > 0 && !wanted.includes(name)) continue;
      console.log(`\n=== ${name} ===`);
      await bench();
    }
  } finally {
    await emulator.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
