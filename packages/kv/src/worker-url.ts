/**
 * Where a worker thread's module of this package is. Tests run the package's TypeScript sources,
 * which a worker thread cannot load on Node 20: from a source file this is the build's copy
 * (`pnpm test` builds first), from the build the file beside it.
 */
export function workerModuleUrl(file: string): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL(`../dist/${file}`, import.meta.url)
    : new URL(`./${file}`, import.meta.url);
}
