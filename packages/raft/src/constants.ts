/** The id meaning "no node": no leader known, no vote cast. */
export const None = 0;

/**
 * etcd's math.MaxUint64 sentinels, as safe integers. The local append and apply "threads" of
 * asyncStorageWrites mode are addressed by these ids; no real node may use them.
 */
export const LocalAppendThread: number = Number.MAX_SAFE_INTEGER;
export const LocalApplyThread: number = Number.MAX_SAFE_INTEGER - 1;

/** A size limit that never binds (etcd's `noLimit = math.MaxUint64`). */
export const NO_LIMIT: number = Number.MAX_SAFE_INTEGER;
