import { request as httpRequest, type Agent } from "node:http";
import { connect } from "node:net";

/** HTTP over real sockets: malformed bytes as given, and ordinary requests through a pool. */

export interface RawAnswer {
  status: number | null;
  head: string;
  body: string;
  /** The connection closed (or reset) before a status line arrived. */
  closedEarly: boolean;
}

/** Sends bytes exactly as given (malformed requests included) and reads until the server closes. */
export function rawRequest(
  port: number,
  text: string | Buffer,
  timeoutMs = 5_000,
): Promise<RawAnswer> {
  return new Promise((resolveAnswer) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("latin1");
      const split = raw.indexOf("\r\n\r\n");
      const head = split === -1 ? raw : raw.slice(0, split);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolveAnswer({
        status: match ? Number(match[1]) : null,
        head,
        body: split === -1 ? "" : raw.slice(split + 4),
        closedEarly: match === null,
      });
    };
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", finish);
    socket.write(text);
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** One request through `agent` (keep-alive pool); rejects only on a transport error. */
export function httpCall(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer; agent?: Agent } = {},
): Promise<HttpAnswer> {
  const started = performance.now();
  return new Promise((resolveAnswer, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers, agent: options.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolveAnswer({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
