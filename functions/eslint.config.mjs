import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

/**
 * Layers of src/, lowest first; a layer imports only from layers below it (ARCHITECTURE.md).
 * Each rule names the folders a layer must not reach; a wrong import is a lint error.
 */
const LAYERS = [
  { files: ["src/shared/**", "src/config.ts", "src/logs.ts", "src/firebase.ts"], below: [] },
  { files: ["src/officernd/**"], below: ["shared"] },
  { files: ["src/mirror/**"], below: ["shared", "officernd"] },
  // One layer, two independent parts: neither imports the other.
  { files: ["src/backup/**"], below: ["shared", "officernd", "mirror"] },
  { files: ["src/webhooks/**"], below: ["shared", "officernd", "mirror"] },
  { files: ["src/status/**"], below: ["shared", "officernd", "mirror", "backup", "webhooks"] },
  {
    files: ["src/http/**"],
    below: ["shared", "officernd", "mirror", "backup", "webhooks", "status"],
  },
  // Beside http, above status: alert transitions told by Slack and email.
  {
    files: ["src/notifications/**"],
    below: ["shared", "officernd", "mirror", "backup", "status"],
  },
];
/** Folders and root files of the product that a lower layer may not import. */
const PRODUCT = [
  "shared",
  "officernd",
  "mirror",
  "backup",
  "webhooks",
  "status",
  "http",
  "notifications",
  "commands",
  "cli",
  "triggers",
  "functions",
  "scheduled-events",
  "runtime",
  "wiring",
];

function layering() {
  return LAYERS.map(({ files, below }) => {
    const forbidden = PRODUCT.filter((name) => !below.includes(name)).join("|");
    const where = files[0].startsWith("src/shared") ? "the leaf modules" : files[0].split("/")[1];
    const message = `layering: ${where} may import only from ${below.join(", ") || "no other part of the app"} (see ARCHITECTURE.md)`;
    // Relative imports that climb into a forbidden folder; for files at the root of src/, also
    // those that step down into one.
    const patterns = [{ regex: `^(\\.\\./)+(${forbidden})(/|$)`, message }];
    if (below.length === 0) patterns.push({ regex: `^\\./(${forbidden})(/|$)`, message });
    return { files, rules: { "no-restricted-imports": ["error", { patterns }] } };
  });
}

export default tseslint.config(
  { ignores: ["lib/**", "node_modules/**", "coverage/**", "jest.config.js", "jest.e2e.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      eqeqeq: ["error", "always", { null: "ignore" }],
    },
  },
  ...layering(),
  {
    files: ["**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
  prettier,
);
