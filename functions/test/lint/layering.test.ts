import { ESLint } from "eslint";

/**
 * The layering of src/ (ARCHITECTURE.md) is a lint rule: an import that reaches up a layer, or
 * across between the backup and the webhooks, fails `npm run lint`. Each case lints one line
 * as if it were in a real file of that folder.
 */

const eslint = new ESLint({ cwd: `${__dirname}/../..` });

async function restricted(filePath: string, from: string): Promise<string[]> {
  const code = `import { x } from "${from}";\nexport const y = x;\n`;
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === "no-restricted-imports")
    .map((m) => m.message);
}

describe("layering lint", () => {
  it.each([
    ["src/logs.ts", "./status/sync-health"],
    ["src/officernd/client.ts", "../backup/run"],
    ["src/officernd/client.ts", "../status/status"],
    ["src/mirror/bulk-writes.ts", "../backup/plan"],
    ["src/mirror/bulk-writes.ts", "../webhooks/apply"],
    ["src/webhooks/apply.ts", "../backup/plan"],
    ["src/backup/run.ts", "../webhooks/apply"],
    ["src/backup/run.ts", "../http/app"],
    ["src/status/status.ts", "../http/app"],
    ["src/http/errors.ts", "../wiring"],
    ["src/http/routes/webhook.ts", "../../commands/check-command"],
    ["src/notifications/check.ts", "../http/app"],
    ["src/notifications/check.ts", "../webhooks/apply"],
    ["src/notifications/check.ts", "../wiring"],
    ["src/http/app.ts", "../notifications/check"],
    ["src/status/status.ts", "../notifications/check"],
    ["src/backup/run.ts", "../notifications/check"],
  ])(
    "%s may not import %s",
    async (file, from) => {
      expect(await restricted(file, from)).toEqual([
        expect.stringMatching(/^'.+' import is restricted.*layering:/),
      ]);
    },
    60_000,
  );

  it.each([
    ["src/officernd/client.ts", "../shared/redactor"],
    ["src/mirror/bulk-writes.ts", "../officernd/resources"],
    ["src/backup/run.ts", "../mirror/deadline"],
    ["src/status/status.ts", "./webhooks"],
    ["src/status/status.ts", "../backup/metadata"],
    ["src/http/routes/webhook.ts", "../../webhooks/apply"],
    ["src/notifications/check.ts", "../status/metrics"],
    ["src/notifications/check.ts", "../backup/metadata"],
    ["src/notifications/state.ts", "../mirror/collections"],
    ["src/notifications/message.ts", "../officernd/resources"],
    ["src/notifications/slack.ts", "../shared/redactor"],
  ])(
    "%s may import %s",
    async (file, from) => {
      expect(await restricted(file, from)).toEqual([]);
    },
    60_000,
  );
});
