/**
 * The client API's security as the server runs it: the HTTPS context (client-tls.ts) and the token
 * table (auth.ts), loaded at start and re-read, together, on `reload` (SIGHUP) or when one of their
 * files changes (reloadable-files.ts). A reload that fails keeps what was loaded before.
 */
import type { Server } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import { TokenTable } from "./auth.js";
import { type ClientTlsOptions, loadClientTls } from "./client-tls.js";
import type { KvServerConfig } from "./config.js";
import type { KvHttpOptions } from "./http.js";
import { ReloadableFiles } from "./reloadable-files.js";

/** What {@link openClientSecurity} returns. */
export interface ClientSecurity {
  /** The options of createKvHttpServer it sets. */
  readonly httpOptions: Pick<KvHttpOptions, "tls" | "tokens" | "metricsPublic">;
  /** Gives it the server whose secure context a reload swaps. */
  attach(server: Server): void;
  reload(why: string): void;
  close(): void;
}

/** Loads the files of `config` (throws if they are missing or unusable) and watches them. */
export function openClientSecurity(config: KvServerConfig, log: Logger): ClientSecurity {
  const files = config.clientTls;
  const tokenFile = config.authTokenFile;
  let tls: ClientTlsOptions | undefined = files === undefined ? undefined : loadClientTls(files);
  let tokens: TokenTable | undefined = tokenFile === undefined ? undefined : TokenTable.load(tokenFile);
  let server: Server | undefined;
  const paths = [
    ...(files === undefined
      ? []
      : [files.certFile, files.keyFile, ...(files.caFile === undefined ? [] : [files.caFile])]),
    ...(tokenFile === undefined ? [] : [tokenFile]),
  ];
  const watcher =
    paths.length === 0
      ? undefined
      : new ReloadableFiles(
          "client API's certificates and tokens",
          paths,
          () => {
            // Both are read before either is applied: a bad file changes nothing.
            const nextTls = files === undefined ? undefined : loadClientTls(files);
            const nextTokens = tokenFile === undefined ? undefined : TokenTable.load(tokenFile);
            if (nextTls !== undefined)
              (server as unknown as HttpsServer | undefined)?.setSecureContext(nextTls);
            tls = nextTls;
            tokens = nextTokens;
          },
          log.child({ component: "security" }),
        );
  if (tokens !== undefined)
    log.info({ tokens: tokens.size, file: tokenFile }, "client API requires bearer tokens");
  return {
    httpOptions: {
      ...(tls === undefined ? {} : { tls }),
      ...(tokenFile === undefined ? {} : { tokens: () => tokens }),
      metricsPublic: config.metricsPublic ?? false,
    },
    attach(s) {
      server = s;
    },
    reload(why) {
      watcher?.reload(why);
    },
    close() {
      watcher?.close();
    },
  };
}
