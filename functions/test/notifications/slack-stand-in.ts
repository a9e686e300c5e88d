import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A stand-in for Slack's incoming webhook on 127.0.0.1: keeps every body posted to it and
 * answers as Slack does (200 `ok`), or with the status the test sets (`no_service` bodies).
 */
export interface SlackStandIn {
  /** The webhook URL to configure (BACKUP_SLACK_WEBHOOK_URL); its path is the "credential". */
  url: string;
  received: unknown[];
  /** Answer this status from now on (200 = accept). */
  answer(status: number): void;
  close(): Promise<void>;
}

export async function startSlackStandIn(): Promise<SlackStandIn> {
  const received: unknown[] = [];
  let status = 200;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (status === 200) {
        received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown);
        res.writeHead(200, { "content-type": "text/html" }).end("ok");
      } else {
        res.writeHead(status, { "content-type": "text/html" }).end("no_service");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/stand-in-secret-path`,
    received,
    answer(next) {
      status = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
