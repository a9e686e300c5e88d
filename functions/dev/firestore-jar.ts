import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { crc32 } from "node:zlib";
import { findEmulatorPath } from "./emulator";

/**
 * firebase-tools starts the Firestore emulator as `java -jar $FIRESTORE_EMULATOR_BINARY_PATH`, and
 * without that variable downloads its own JAR (impossible offline). The emulator the gcloud SDK
 * installs (`<sdk root>/platform/cloud-firestore-emulator/`) is a script and a JAR with no
 * `Main-Class`, which `java -jar` refuses ("no main manifest attribute"). So for that install we
 * write a launcher: a JAR holding only a manifest whose `Main-Class` is the emulator's (the class
 * the gcloud script runs) and whose `Class-Path` is the installed JAR.
 */

export const FIRESTORE_EMULATOR_MAIN_CLASS =
  "com.google.cloud.datastore.emulator.firestore.CloudFirestore";
/** The JAR beside the gcloud component's `cloud_firestore_emulator` script. */
const GCLOUD_JAR = "cloud-firestore-emulator.jar";
const LAUNCHER = "firestore-emulator-launcher.jar";

/**
 * The value for FIRESTORE_EMULATOR_BINARY_PATH: a JAR given in that variable as it is; for the
 * gcloud component, a launcher written to `dir`; null when firebase-tools' own cached JAR is the
 * one found (firebase-tools uses its cache by itself). Throws when no emulator is installed.
 */
export function firestoreJarForFirebaseTools(dir: string): string | null {
  const installed = findEmulatorPath();
  if (installed === null) {
    throw new Error(
      "No Cloud Firestore emulator found: `gcloud components install cloud-firestore-emulator` " +
        "(or `apt-get install google-cloud-cli-firestore-emulator`), or set " +
        "FIRESTORE_EMULATOR_BINARY_PATH to a runnable emulator JAR.",
    );
  }
  if (installed.endsWith(".jar")) {
    return process.env.FIRESTORE_EMULATOR_BINARY_PATH === installed ? installed : null;
  }
  const jar = join(dirname(installed), GCLOUD_JAR);
  if (!existsSync(jar)) throw new Error(`${installed} has no ${GCLOUD_JAR} beside it`);
  mkdirSync(dir, { recursive: true });
  const launcher = join(dir, LAUNCHER);
  writeFileSync(launcher, launcherJar(jar));
  return launcher;
}

/** A JAR (a ZIP with one stored entry, META-INF/MANIFEST.MF) that runs the emulator in `jar`. */
export function launcherJar(jar: string): Buffer {
  const manifest = Buffer.from(
    [
      "Manifest-Version: 1.0",
      manifestHeader("Main-Class", FIRESTORE_EMULATOR_MAIN_CLASS),
      manifestHeader("Class-Path", pathToFileURL(jar).href),
      "",
      "",
    ].join("\r\n"),
    "ascii",
  );
  return storedZip("META-INF/MANIFEST.MF", manifest);
}

/** JAR manifest lines are at most 72 bytes; longer values continue on lines starting with a space. */
function manifestHeader(name: string, value: string): string {
  const MAX_LINE_BYTES = 72;
  const text = `${name}: ${value}`;
  const lines = [text.slice(0, MAX_LINE_BYTES)];
  for (let at = MAX_LINE_BYTES; at < text.length; at += MAX_LINE_BYTES - 1) {
    lines.push(` ${text.slice(at, at + MAX_LINE_BYTES - 1)}`);
  }
  return lines.join("\r\n");
}

/** A ZIP archive with one uncompressed file (APPNOTE.TXT 4.3.7, 4.3.12, 4.3.16). */
function storedZip(name: string, data: Buffer): Buffer {
  const fileName = Buffer.from(name, "utf8");
  const crc = crc32(data);
  // 1980-01-01 00:00 in MS-DOS format: the same bytes on every run.
  const DOS_TIME = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1;
  const VERSION_NEEDED = 10;

  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(VERSION_NEEDED, 4);
  local.writeUInt16LE(DOS_TIME, 10);
  local.writeUInt16LE(DOS_DATE, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fileName.length, 26);

  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(VERSION_NEEDED, 4);
  central.writeUInt16LE(VERSION_NEEDED, 6);
  central.writeUInt16LE(DOS_TIME, 12);
  central.writeUInt16LE(DOS_DATE, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fileName.length, 28);

  const centralOffset = local.length + fileName.length + data.length;
  const centralSize = central.length + fileName.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(centralOffset, 16);

  return Buffer.concat([local, fileName, data, central, fileName, end]);
}
