import {
  cloudRunLogEntry,
  extract,
  fieldPaths,
  matches,
  parseQuery,
  QueryError,
} from "./logging-query";

/** The evaluator the monitoring test trusts: its semantics, and its refusals. */

const entry = cloudRunLogEntry(
  JSON.stringify({
    severity: "ERROR",
    message: "Backup x failed",
    "logging.googleapis.com/trace": "projects/p/traces/abc",
    event: "backup_summary",
    status: "failed",
    missingRecords: 12,
    inSync: false,
    errorCode: null,
    syncHealth: { members: "out_of_sync", companies: null },
  }),
  { project: "p", service: "officerndatabackup", stream: "stderr" },
);

describe("Cloud Logging query subset", () => {
  if (entry === null) throw new Error("not parsed");

  it("reads a JSON line as Cloud Run's agent stores it", () => {
    expect(entry.severity).toBe("ERROR");
    expect(entry.jsonPayload).not.toHaveProperty("severity");
    expect(entry.jsonPayload).not.toHaveProperty("logging.googleapis.com/trace");
    expect(entry.jsonPayload.message).toBe("Backup x failed");
    expect(cloudRunLogEntry("plain text", { project: "p", service: "s", stream: "stdout" })).toBe(
      null,
    );
  });

  it.each([
    ['jsonPayload.event="backup_summary"', true],
    ['jsonPayload.status="FAILED"', true], // string comparison is case-insensitive
    ['jsonPayload.status!="failed"', false],
    ["jsonPayload.missingRecords>10", true],
    ["jsonPayload.missingRecords>12", false],
    ["jsonPayload.missingRecords>=12", true],
    ["jsonPayload.missingRecords<=11", false],
    ["jsonPayload.inSync=false", true],
    ["jsonPayload.errorCode=NULL_VALUE", true],
    ["jsonPayload.syncHealth.companies=NULL_VALUE", true],
    ['jsonPayload.nope="x"', false], // a field the entry lacks: false…
    ['NOT jsonPayload.nope="x"', true], // …and its negation true
    ["jsonPayload.nope:*", false],
    ["jsonPayload.status:*", true],
    ['jsonPayload.message:"x FAIL"', true],
    ['jsonPayload.event="backup_summary" AND jsonPayload.missingRecords>10', true],
    [
      'jsonPayload.event="backup_summary" AND (jsonPayload.syncHealth.members="out_of_sync" OR jsonPayload.syncHealth.companies="out_of_sync")',
      true,
    ],
    ['severity="ERROR" AND resource.type="cloud_run_revision"', true],
  ])("%s -> %s", (query, expected) => {
    expect(matches(query, entry)).toBe(expected);
  });

  it.each([
    'jsonPayload.a="1" AND jsonPayload.b="2" OR jsonPayload.c="3"', // precedence: parenthesise
    'jsonPayload.a=~"x"',
    "jsonPayload.a=",
    '(jsonPayload.a="1"',
    'jsonPayload.a="1" jsonPayload.b="2"',
  ])("refuses %s", (query) => {
    expect(() => parseQuery(query)).toThrow(QueryError);
  });

  it("lists the fields a query compares, and extracts labels", () => {
    expect(
      fieldPaths(parseQuery('jsonPayload.a="1" AND (NOT jsonPayload.b.c>2 OR severity="ERROR")')),
    ).toEqual(["jsonPayload.a", "jsonPayload.b.c", "severity"]);
    expect(extract("EXTRACT(jsonPayload.status)", entry)).toBe("failed");
    expect(extract("EXTRACT(jsonPayload.errorCode)", entry)).toBeNull();
    expect(extract("EXTRACT(jsonPayload.missing)", entry)).toBeNull();
  });
});
