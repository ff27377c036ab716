/**
 * The runner's HTTP client is the test kit's (packages/testkit/src/http.ts): a hard timeout per
 * request, and failures told apart by whether the request could have reached the server.
 * Re-exported for the workload's modules, which import it from here.
 */
export { errorCodeOf, httpRequest } from "@tsraft/testkit";
