/**
 * Real certificates for the TLS tests, made with the openssl CLI: a CA, and server and client
 * certificates it signs (EC P-256, valid one day), written as PEM files.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
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

/** `openssl req` arguments for a new EC P-256 key in `key`, unencrypted, subject CN=`cn`. */
function newKeyRequest(key: string, cn: string): string[] {
  return [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-subj",
    `/CN=${cn}`,
  ];
}

/**
 * A self-signed CA named `name` in `dir`. With `server`, it is also a server certificate for
 * 127.0.0.1 (its own CA, as one cluster-wide certificate is), else only a signing CA.
 */
export function makeCa(dir: string, name: string, o: { server?: boolean } = {}): Ca {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const use = o.server ? ["subjectAltName=IP:127.0.0.1"] : ["keyUsage=critical,keyCertSign"];
  const ext = ["basicConstraints=critical,CA:TRUE", ...use].flatMap((e) => ["-addext", e]);
  openssl([...newKeyRequest(key, name), "-x509", "-out", cert, "-days", "1", ...ext]);
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
  openssl([...newKeyRequest(key, cn), "-out", csr]);
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
