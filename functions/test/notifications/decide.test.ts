import { decide, REMINDER_INTERVAL_MS, type ChannelMemory } from "../../src/notifications/decide";

/** When a channel is told something (pure): once per transition, at most one reminder a day. */
describe("decide", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const told = (open: ChannelMemory["open"], lastSentAt: Date | null): ChannelMemory => ({
    open,
    lastSentAt,
  });

  it("nothing open, nothing told: nothing to send", () => {
    expect(decide(told([], null), [], now)).toBeNull();
  });

  it("a condition opens: an alert naming it", () => {
    expect(decide(told([], null), ["backup_failed"], now)).toEqual({
      kind: "alert",
      opened: ["backup_failed"],
      resolved: [],
      open: ["backup_failed"],
    });
  });

  it("the same conditions stay open: nothing, until a day after the last message", () => {
    const memory = told(["backup_failed"], ago(REMINDER_INTERVAL_MS - 1));
    expect(decide(memory, ["backup_failed"], now)).toBeNull();
    const dayOld = told(["backup_failed"], ago(REMINDER_INTERVAL_MS));
    expect(decide(dayOld, ["backup_failed"], now)).toMatchObject({ kind: "reminder" });
  });

  it("everything resolves: a recovery", () => {
    expect(decide(told(["backup_failed", "out_of_sync"], ago(1000)), [], now)).toEqual({
      kind: "recovery",
      opened: [],
      resolved: ["backup_failed", "out_of_sync"],
      open: [],
    });
  });

  it("one resolves, another stays: a change; one opens while another resolves: an alert", () => {
    const memory = told(["backup_failed", "out_of_sync"], ago(1000));
    expect(decide(memory, ["out_of_sync"], now)).toMatchObject({
      kind: "change",
      resolved: ["backup_failed"],
      open: ["out_of_sync"],
    });
    expect(decide(memory, ["out_of_sync", "backup_stale"], now)).toMatchObject({
      kind: "alert",
      opened: ["backup_stale"],
      resolved: ["backup_failed"],
    });
  });

  it("order of the open conditions does not make a transition", () => {
    const memory = told(["backup_failed", "out_of_sync"], ago(1000));
    expect(decide(memory, ["out_of_sync", "backup_failed"], now)).toBeNull();
  });
});
