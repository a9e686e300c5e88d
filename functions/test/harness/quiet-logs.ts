import { setLogSink } from "../../src/logs";

// Tests observe log entries through onLogEntry(); printing every entry to the console only
// buries jest's report. TEST_LOGS=1 prints them again.
if (!process.env.TEST_LOGS) setLogSink(() => undefined);
