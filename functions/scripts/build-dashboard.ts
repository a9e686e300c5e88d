import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

/**
 * Bundles the dashboard (dashboard/main.ts, uPlot and the styles) into public/assets/: one
 * script and one stylesheet, minified, no source maps, nothing fetched at run time (the page's
 * CSP allows only its own origin). `npm run build:dashboard`; the root's `npm test`, `npm start`,
 * `npm run emulators` and Hosting's predeploy run it.
 */

export const DASHBOARD_SOURCE = resolve(__dirname, "..", "dashboard");
export const DASHBOARD_OUT = resolve(__dirname, "..", "..", "public", "assets");

export interface BundleSizes {
  /** Bytes as served, and gzipped as Hosting sends them. */
  js: { bytes: number; gzip: number };
  css: { bytes: number; gzip: number };
}

export async function buildDashboard(outDir: string = DASHBOARD_OUT): Promise<BundleSizes> {
  await build({
    entryPoints: { dashboard: join(DASHBOARD_SOURCE, "main.ts") },
    outdir: outDir,
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    platform: "browser",
    legalComments: "none",
    logLevel: "warning",
  });
  const size = (file: string) => {
    const bytes = readFileSync(join(outDir, file));
    return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  return { js: size("dashboard.js"), css: size("dashboard.css") };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

if (require.main === module) {
  buildDashboard().then(
    (sizes) => {
      process.stdout.write(
        `dashboard: public/assets/dashboard.js ${kb(sizes.js.bytes)} (${kb(sizes.js.gzip)} gzipped), ` +
          `dashboard.css ${kb(sizes.css.bytes)} (${kb(sizes.css.gzip)} gzipped)\n`,
      );
    },
    (error: unknown) => {
      process.stderr.write(
        `build:dashboard: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
