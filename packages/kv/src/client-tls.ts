/**
 * TLS for the client API (`--cert-file`, `--key-file`, `--client-ca-file`): the HTTP API is served
 * over HTTPS with this certificate; with a client CA, every client must present a certificate that
 * chains to it (etcd's --client-cert-auth with --trusted-ca-file), and a connection without one is
 * refused in the handshake. The files are re-read without a restart (reloadable-files.ts).
 */
import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";

/** Where the client API's certificate, key and (optional) client CA are. */
export interface ClientTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Require and verify client certificates against this CA. */
  readonly caFile: string | undefined;
}

/** What an HTTPS server takes for these files: the secure context, and whether clients must present a certificate. */
export interface ClientTlsOptions extends SecureContextOptions {
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
}

/**
 * Reads the files and checks that they make a working context (the key matches the certificate,
 * the PEM parses); throws otherwise, naming the file when it is missing.
 */
export function loadClientTls(f: ClientTlsFiles): ClientTlsOptions {
  const opts: SecureContextOptions = {
    cert: readFileSync(f.certFile),
    key: readFileSync(f.keyFile),
    ...(f.caFile === undefined ? {} : { ca: readFileSync(f.caFile) }),
    minVersion: "TLSv1.2",
  };
  try {
    createSecureContext(opts);
  } catch (err) {
    throw new Error(`client TLS: ${f.certFile} and ${f.keyFile}: ${(err as Error).message}`);
  }
  const verify = f.caFile !== undefined;
  return { ...opts, requestCert: verify, rejectUnauthorized: verify };
}
