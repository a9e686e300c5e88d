/**
 * The deployed functions, and nothing else. Each definition is thin; the logic lives in plain
 * modules (officernd/, backup/, status/, http/) shared with the CLI and the tests.
 */
export { officeRndDataBackup } from "./triggers/scheduled-backup";
export { officeRndIncrementalSync } from "./triggers/incremental-sync";
export { api } from "./triggers/api";
export { officeRndBackupNow, officeRndBackupTask } from "./triggers/manual-backup";
export { officeRndBackupAlertCheck } from "./triggers/alert-check";
