/** Helpers of the typed client's tests (packages/kv/src/client/*.test.ts). */
import { isKvClientError, type KvClientError } from "../src/client/index.js";

/** The KvClientError `p` rejects with; throws if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<KvClientError> {
  try {
    await p;
  } catch (e) {
    if (isKvClientError(e)) return e;
    throw e;
  }
  throw new Error("expected a KvClientError");
}
