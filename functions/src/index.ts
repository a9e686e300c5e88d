/**
 * The deployed functions, and nothing else. Each definition is thin; the logic lives in plain
 * modules (officernd/, backup/, status/, http/) shared with the CLI and the tests.
 */
export { officeRndDataBackup } from "./scheduled-events/on-schedule-events/office-rnd-scheduled-events";
export { api } from "./functions/api";
export { officeRndBackupNow, officeRndBackupTask } from "./functions/manual-backup";
