/**
 * Runs the deployed scheduled function's handler once, as Cloud Scheduler would, in a process of
 * its own, with the product's default logger (firebase-functions/logger: one JSON line per entry
 * on stdout, errors on stderr, exactly what Cloud Run's logging agent reads). Configuration from
 * the environment (OFFICERND_*, GCLOUD_PROJECT, FIRESTORE_EMULATOR_HOST), as in production.
 *
 *   tsx test/monitoring/run-scheduled-backup.ts
 *
 * Used by monitoring.test.ts to capture real `backup_summary` entries.
 */
import { officeRndDataBackup } from "../../src/triggers/scheduled-backup";
import { closeDefaultApp } from "../../src/firebase";

async function main(): Promise<void> {
  try {
    await officeRndDataBackup.run({
      jobName: "firebase-schedule-officeRndDataBackup-us-central1",
      scheduleTime: new Date().toISOString(),
    });
    process.stderr.write("scheduled handler: returned\n");
  } catch (error) {
    // Cloud Scheduler would retry; the entries are written either way.
    process.stderr.write(
      `scheduled handler: threw (${error instanceof Error ? error.message : String(error)})\n`,
    );
  } finally {
    await closeDefaultApp();
  }
}

void main();
