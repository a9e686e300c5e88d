/**
 * Jest for the end-to-end test under the real Firebase CLI (test/e2e/*.e2e.ts): firebase-tools
 * starts its own emulators, so no shared Firestore emulator here; one file, one worker.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test/e2e"],
  testMatch: ["**/*.e2e.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  setupFiles: ["<rootDir>/test/harness/quiet-logs.ts"],
  testTimeout: 90000,
  maxWorkers: 1,
};
