import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import request from "supertest";
import { createApp } from "../../src/http";
import { DASHBOARD_CSP, dashboardRoutes, FIREBASE_INIT_PATH } from "../../src/http/dashboard";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

/** The dashboard's files as `serve` and the local stack serve them, and Hosting's same policy. */
describe("dashboard routes", () => {
  let fs: TestFirestore;
  let site: string;
  beforeAll(() => {
    fs = createTestFirestore("dash-routes");
    site = mkdtempSync(join(tmpdir(), "dash-site-"));
    mkdirSync(join(site, "assets"));
    writeFileSync(join(site, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(join(site, "assets", "dashboard.js"), "void 0;");
    writeFileSync(join(site, ".hidden.html"), "secret");
  });
  afterAll(async () => {
    rmSync(site, { recursive: true, force: true });
    await fs.close();
  });

  const app = (routes = dashboardRoutes(site)) =>
    createApp(
      { db: fs.db, status: { statusToken: "status-token-0123456789", missingAlertThreshold: 10 } },
      { routes },
    );

  it("serves the page at / and its assets, each with the page's CSP, no credential needed", async () => {
    const page = await request(app()).get("/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
    expect(page.text).toContain("<title>t</title>");
    const script = await request(app()).get("/assets/dashboard.js");
    expect(script.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(script.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
  });

  it("no web config here (the admin sign-in is Hosting's); other paths stay the API's JSON 404", async () => {
    expect((await request(app()).get(FIREBASE_INIT_PATH)).body).toEqual({});
    const hidden = await request(app()).get("/.hidden.html");
    expect(hidden.status).toBe(404);
    expect(hidden.body).toMatchObject({ error: { code: "not_found" } });
    expect((await request(app()).post("/")).status).toBe(405);
  });

  it("without the dashboard (the deployed api function), / is not served", async () => {
    expect((await request(app([])).get("/")).status).toBe(404);
    expect(dashboardRoutes(join(site, "nothing-here"))).toEqual([]);
  });

  it("Hosting sends the same policy for the page and its assets (firebase.json)", () => {
    const firebase = JSON.parse(
      readFileSync(join(__dirname, "..", "..", "..", "firebase.json"), "utf8"),
    ) as { hosting: { headers: { regex: string; headers: { key: string; value: string }[] }[] } };
    const [rule] = firebase.hosting.headers;
    const regex = new RegExp(rule?.regex ?? "^$");
    for (const path of ["/", "/index.html", "/assets/dashboard.js"]) expect(path).toMatch(regex);
    expect("/v1/office-rnd/backup-status").not.toMatch(regex);
    const csp = rule?.headers.find((h) => h.key === "Content-Security-Policy")?.value;
    expect(csp).toBe(DASHBOARD_CSP);
  });
});
