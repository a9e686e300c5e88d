/** Jest: ts-jest transform; one Firestore emulator for the whole run (test/harness). */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  globalSetup: "<rootDir>/test/harness/global-setup.ts",
  globalTeardown: "<rootDir>/test/harness/global-teardown.ts",
  setupFiles: ["<rootDir>/test/harness/quiet-logs.ts"],
  testTimeout: 60000,
  maxWorkers: 2,
};
