import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createApp, listen, type RunningServer } from "../../src/http";
import { DASHBOARD_DIR, dashboardRoutes } from "../../src/http/dashboard";
import type { BackupStatusResponse } from "../../src/status";
import { buildDashboard, type BundleSizes } from "../../scripts/build-dashboard";
import {
  formatCount,
  formatDuration,
  formatFieldChange,
  formatPercent,
} from "../../dashboard/format";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { writeRuns } from "../status/fixtures";
import { twoWeeksOfRuns, writeBesideRuns } from "./history";

/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core, the page built
 * from source, served by the product's app (as the CLI's `serve` serves it) over the Firestore
 * emulator with two weeks of runs. Screenshots go to functions/.tmp/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const STATUS_TOKEN = "dashboard-status-token-0123456789";
const ADMIN_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbi11aWQifQ.c2lnbmF0dXJl";
const SHOTS = join(__dirname, "..", "..", ".tmp");

describe("dashboard page (chromium)", () => {
  let fs: TestFirestore;
  let server: RunningServer;
  let browser: Browser;
  let site: string;
  let sizes: BundleSizes;
  const startedAt = performance.now();

  beforeAll(async () => {
    site = mkdtempSync(join(tmpdir(), "dashboard-"));
    sizes = await buildDashboard(join(site, "assets"));
    copyFileSync(join(DASHBOARD_DIR, "index.html"), join(site, "index.html"));
    fs = createTestFirestore("dashboard");
    await writeRuns(fs.db, twoWeeksOfRuns(new Date()));
    await writeBesideRuns(fs.db, new Date());
    const app = createApp(
      {
        db: fs.db,
        status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
        // The Firebase Auth check, stood in: this one ID token is an admin's.
        verifyIdToken: (token) =>
          token === ADMIN_ID_TOKEN
            ? Promise.resolve({ uid: "admin-uid", admin: true })
            : Promise.reject(
                Object.assign(new Error("bad ID token"), { code: "auth/invalid-id-token" }),
              ),
        countsMaxAgeMs: 0,
      },
      { routes: dashboardRoutes(site) },
    );
    server = await listen(app);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await fs?.close();
    rmSync(site, { recursive: true, force: true });
    process.stdout.write(
      `dashboard browser test: ${((performance.now() - startedAt) / 1000).toFixed(1)} s; bundle ` +
        `${sizes.js.bytes} B js (${sizes.js.gzip} B gzip), ${sizes.css.bytes} B css (${sizes.css.gzip} B gzip)\n`,
    );
  });

  /** A fresh page that records console errors and CSP violations. */
  async function open(options: { width?: number; height?: number } = {}): Promise<{
    context: BrowserContext;
    page: Page;
    problems: string[];
  }> {
    const context = await browser.newContext({
      viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" && !/401 \(Unauthorized\)/.test(m.text())) problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${server.url}/`);
    return { context, page, problems };
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.getByLabel("Status token").fill(token);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
  }

  async function statusResponse(): Promise<BackupStatusResponse> {
    const answer = await fetch(`${server.url}/v1/office-rnd/backup-status`, {
      headers: { authorization: `Bearer ${STATUS_TOKEN}` },
    });
    return (await answer.json()) as BackupStatusResponse;
  }

  const metric = (page: Page, name: string) =>
    page.locator(`[data-metric="${name}"] .value`).innerText();

  it("a wrong token shows an error and no data", async () => {
    const { context, page, problems } = await open();
    await signIn(page, "not-the-status-token");
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").innerText()).toContain("status token was not accepted");
    expect(await page.locator("#dashboard").isHidden()).toBe(true);
    expect(await page.locator("#dashboard *").count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(page.url()).toBe(`${server.url}/`);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("signed in with the status token: the status response's figures, four charts, recent runs", async () => {
    const { context, page, problems } = await open();
    await signIn(page, STATUS_TOKEN);
    await page.locator('[data-metric="consistency"]').waitFor();
    await page.locator("#chart-volume canvas").first().waitFor();
    const status = await statusResponse();
    const m = status.metrics;

    expect(await metric(page, "status")).toBe(status.backup.status);
    expect(await metric(page, "missing")).toBe(formatCount(status.backup.missingRecords));
    expect(await metric(page, "consistency")).toBe(formatPercent(m.dataConsistency.percent));
    expect(await metric(page, "success")).toBe(formatPercent(m.successRate.percent));
    expect(await metric(page, "recovery")).toBe(formatDuration(m.timeToRecover.lastMs));
    expect(
      await Promise.all(
        (await page.locator("[data-alert]").all()).map((e) => e.getAttribute("data-alert")),
      ),
    ).toEqual(status.alerts.map((a) => a.code));
    expect(status.alerts.map((a) => a.code)).toContain("missing_records_high");
    for (const [name, counts] of Object.entries(status.currentStats)) {
      const row = page.locator(`tr[data-type="${name}"] td`);
      expect(await row.nth(0).innerText()).toBe(formatCount(counts.firestore));
      expect(await row.nth(1).innerText()).toBe(formatCount(counts.api));
    }
    // Beside the design's figures: the incremental sync, schema drift, a run going on.
    expect(status.incrementalSync.lastRun?.status).toBe("completed");
    expect(await metric(page, "incremental")).toBe("completed");
    expect(await page.locator('[data-metric="incremental"] .detail').innerText()).toContain(
      "1 type full backup only",
    );
    const members = page.locator('tr[data-type="members"] td');
    expect(await members.nth(4).innerText()).toBe(formatCount(status.schemaDrift.members.fields));
    expect(await members.nth(5).innerText()).toBe(
      formatFieldChange(status.schemaDrift.members.lastChange),
    );
    expect(await members.nth(5).innerText()).toBe("+nickname, −fax");
    const going = status.backup.continuing;
    expect(going?.continuations).toBe(2);
    expect(await page.locator("#continuing-title").innerText()).toBe("Run going on");
    expect(await page.locator(".continuing-about").innerText()).toContain(
      `${going?.runId} (schedule)`,
    );
    const listed = page.locator('tr[data-continuing="members"] td');
    expect(await listed.nth(0).innerText()).toBe(
      formatCount(going?.resources.members?.listed ?? 0),
    );
    expect(await listed.nth(0).innerText()).toBe("61,250");
    expect(await page.locator('tr[data-continuing="companies"] td').nth(2).innerText()).toBe("yes");

    // Four charts (uPlot draws on canvas), and every run in the table, newest first.
    for (const chart of ["consistency", "success", "recovery", "volume"]) {
      expect(await page.locator(`#chart-${chart} canvas`).count()).toBeGreaterThan(0);
    }
    const rows = page.locator("tr[data-run]");
    // The 14 full runs and the incremental sync, newest first; the charts are the full runs'.
    expect(await rows.count()).toBe(15);
    expect(await rows.first().getAttribute("data-run")).toBe(status.incrementalSync.lastRun?.runId);
    expect(await rows.first().innerText()).toContain("schedule · incremental");
    expect(await rows.nth(1).getAttribute("data-run")).toBe(status.backup.runId);
    expect(await page.locator("#charts-title").innerText()).toBe("Over the last 14 backups");
    expect(await page.locator("tr.failed").innerText()).toContain(
      "server: members: OfficeRnD answered 503",
    );

    // The token is in sessionStorage only: not in the URL, not in localStorage or a cookie.
    expect(page.url()).toBe(`${server.url}/`);
    expect(
      await page.evaluate(() => sessionStorage.getItem("officernd-backup.credential")),
    ).toContain(STATUS_TOKEN);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect(await context.cookies()).toEqual([]);

    // A reload keeps the session; signing out forgets it and removes the data.
    await page.reload();
    await page.locator('[data-metric="consistency"]').waitFor();
    await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
    await page.getByRole("button", { name: "Sign out" }).click();
    expect(await page.locator("#dashboard *").count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("reads on a phone: nothing wider than the screen", async () => {
    const { context, page, problems } = await open({ width: 390, height: 844 });
    await signIn(page, STATUS_TOKEN);
    await page.locator("#chart-volume canvas").first().waitFor();
    // Expressions, not functions: this file is type-checked without the DOM's types.
    const width = await page.evaluate<number>("document.documentElement.scrollWidth");
    expect(width).toBeLessThanOrEqual(390);
    const fontSize = await page.evaluate<string>(
      "getComputedStyle(document.querySelector('tr[data-run] td')).fontSize",
    );
    expect(parseFloat(fontSize)).toBeGreaterThanOrEqual(12);
    await page.screenshot({ path: join(SHOTS, "dashboard-phone.png"), fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("an admin signs in with Firebase Auth (email and password) instead", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const signIns: unknown[] = [];
    // Hosting's web config and Google's Identity Toolkit, stood in for at the network layer.
    await page.route("**/__/firebase/init.json", (route) =>
      route.fulfill({ json: { apiKey: "test-web-api-key", projectId: "demo-officernd-backup" } }),
    );
    await page.route("https://identitytoolkit.googleapis.com/**", async (route) => {
      signIns.push({ url: route.request().url(), body: route.request().postDataJSON() as unknown });
      await route.fulfill({
        json: { idToken: ADMIN_ID_TOKEN, refreshToken: "refresh-token", expiresIn: "3600" },
      });
    });
    const bearers: string[] = [];
    page.on("request", (r) => {
      if (r.url().startsWith(`${server.url}/v1/`)) bearers.push(r.headers().authorization ?? "");
    });
    await page.goto(`${server.url}/`);
    await page.getByLabel("Email").fill("admin@example.com");
    await page.getByLabel("Password").fill("admin-password");
    await page.getByRole("button", { name: "Sign in as admin" }).click();
    await page.locator('[data-metric="consistency"]').waitFor();
    expect(signIns).toEqual([
      {
        url: "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=test-web-api-key",
        body: { email: "admin@example.com", password: "admin-password", returnSecureToken: true },
      },
    ]);
    expect(bearers).toEqual([`Bearer ${ADMIN_ID_TOKEN}`, `Bearer ${ADMIN_ID_TOKEN}`]);
    expect(await page.locator("#who").innerText()).toBe("admin");
    await context.close();
  }, 60_000);
});
