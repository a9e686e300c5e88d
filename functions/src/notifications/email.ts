import type { Firestore } from "firebase-admin/firestore";
import type { NotificationContent } from "./message";

/**
 * Email through the Firebase "Trigger Email" extension (firestore-send-email): we write one
 * document to its collection, `{to, message: {subject, text, html}}`, and the extension the
 * project installed sends it (README, Notifications). No SMTP here.
 */

export interface MailDocument {
  to: string[];
  message: { subject: string; text: string; html: string };
}

export function mailText(content: NotificationContent): string {
  const lines = [content.headline, ""];
  for (const c of content.conditions) lines.push(`- [${c.state}] ${c.text}`);
  const run = content.run;
  if (run) {
    lines.push(
      "",
      `Latest run: ${run.runId} (${run.trigger}), ${run.status} at ${run.finishedAt} in ${run.durationSeconds} s`,
      `Missing records: ${run.missingRecords}, documents written: ${run.written}, in sync: ${run.inSync ? "yes" : "no"}`,
    );
    if (run.error) lines.push(`Error: ${run.error}`);
  }
  if (content.counts.length > 0) {
    lines.push("", "type: firestore / api / missing / changed / orphaned");
    for (const r of content.counts) {
      lines.push(
        `${r.resource}: ${r.firestore} / ${r.api ?? "-"} / ${r.missing} / ${r.changed} / ${r.orphaned}`,
      );
    }
  }
  lines.push("", "Where to look:", ...content.whereToLook.map((w) => `- ${w}`));
  return lines.join("\n");
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const COLORS = { opened: "#b3261e", open: "#9a6700", resolved: "#1a7f37" };

export function mailHtml(content: NotificationContent): string {
  const e = escapeHtml;
  const parts = [`<h2>${e(content.headline)}</h2>`, "<ul>"];
  for (const c of content.conditions) {
    parts.push(
      `<li><strong style="color:${COLORS[c.state]}">${c.state}</strong> ${e(c.text)}</li>`,
    );
  }
  parts.push("</ul>");
  const run = content.run;
  if (run) {
    parts.push(
      `<p>Latest run <code>${e(run.runId)}</code> (${e(run.trigger)}): <strong>${e(run.status)}</strong> at ${e(run.finishedAt)} in ${run.durationSeconds} s.<br>`,
      `Missing records: ${run.missingRecords}, documents written: ${run.written}, in sync: ${run.inSync ? "yes" : "no"}.</p>`,
    );
    if (run.error) parts.push(`<p>Error: <code>${e(run.error)}</code></p>`);
  }
  if (content.counts.length > 0) {
    const head = ["type", "firestore", "api", "missing", "changed", "orphaned"];
    parts.push(
      '<table cellpadding="4" style="border-collapse:collapse">',
      `<tr>${head.map((h) => `<th align="left">${h}</th>`).join("")}</tr>`,
      ...content.counts.map(
        (r) =>
          `<tr><td>${e(r.resource)}</td>${[
            r.firestore,
            r.api ?? "-",
            r.missing,
            r.changed,
            r.orphaned,
          ]
            .map((v) => `<td align="right">${e(String(v))}</td>`)
            .join("")}</tr>`,
      ),
      "</table>",
    );
  }
  parts.push("<p>Where to look:</p><ul>");
  for (const w of content.whereToLook) parts.push(`<li>${e(w)}</li>`);
  parts.push("</ul>");
  if (content.dashboardUrl) {
    parts.push(`<p><a href="${e(content.dashboardUrl)}">Open the dashboard</a></p>`);
  }
  return parts.join("\n");
}

export function mailDocument(to: readonly string[], content: NotificationContent): MailDocument {
  return {
    to: [...to],
    message: { subject: content.subject, text: mailText(content), html: mailHtml(content) },
  };
}

/** Firestore's ALREADY_EXISTS. */
const ALREADY_EXISTS = 6;

/**
 * Writes the mail document under `id`. The id is the transition's (check.ts), so a retry after
 * a check that wrote the mail but not its memory finds it there and does not mail twice.
 */
export async function queueMail(
  db: Firestore,
  collection: string,
  id: string,
  doc: MailDocument,
): Promise<void> {
  try {
    await db.collection(collection).doc(id).create(doc);
  } catch (error) {
    if ((error as { code?: unknown }).code === ALREADY_EXISTS) return;
    throw error;
  }
}
