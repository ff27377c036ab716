/**
 * The client-TLS tests' HTTPS client on node:https (fetch cannot present a client certificate
 * without undici); the certificates come from the test kit (packages/testkit/src/certs.ts).
 */
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { CertFiles } from "@tsraft/testkit";

export { type Ca, type CertFiles, issue, makeCa } from "@tsraft/testkit";

/** An HTTPS answer, or why there was none (a refused handshake). */
export type HttpsResult =
  | {
      readonly status: number;
      readonly body: string;
      readonly headers: Record<string, string | string[] | undefined>;
      readonly peerCn: string;
    }
  | { readonly error: string };

/** One HTTPS request to `url`, trusting `ca`, presenting `client` if given. */
export function httpsRequest(
  url: string,
  o: { method?: string; body?: string; headers?: Record<string, string>; ca: string; client?: CertFiles },
): Promise<HttpsResult> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: o.method ?? "GET",
        ca: readFileSync(o.ca),
        ...(o.client === undefined
          ? {}
          : { cert: readFileSync(o.client.cert), key: readFileSync(o.client.key) }),
        headers: o.headers ?? {},
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        const peer = (res.socket as import("node:tls").TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            headers: res.headers,
            peerCn: String(peer.subject?.CN ?? ""),
          }),
        );
      },
    );
    req.on("error", (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end(o.body);
  });
}
