/**
 * Real certificates for the client-TLS tests, made in the test with the openssl CLI: a CA, and
 * server and client certificates it signs (EC P-256, valid one day), written as PEM files. An HTTPS
 * client helper on node:https (fetch cannot present a client certificate without undici).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";

/** A CA: its certificate and key files. */
export interface Ca {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

/** A certificate (and key) file pair. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: "ignore" });
}

/** A self-signed CA named `name` in `dir`. */
export function makeCa(dir: string, name: string): Ca {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
  return { name, cert, key };
}

/**
 * A certificate for `cn` signed by `ca`, written to `<dir>/<file>.crt|.key` (a server's carries
 * subjectAltName IP:127.0.0.1).
 */
export function issue(dir: string, ca: Ca, file: string, cn: string, server: boolean): CertFiles {
  const key = join(dir, `${file}.key`);
  const cert = join(dir, `${file}.crt`);
  const csr = join(dir, `${file}.csr`);
  const ext = join(dir, `${file}.ext`);
  openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${cn}`,
  ]);
  writeFileSync(
    ext,
    server ? "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" : "extendedKeyUsage=clientAuth\n",
  );
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "1",
    "-extfile",
    ext,
  ]);
  return { cert, key };
}

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
