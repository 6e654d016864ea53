// Closed-loop HTTP load for the benchmark: `concurrency` keep-alive connections, each sending the
// next POST as soon as its previous answer has been read (what wrk -c<n> does).
import { Agent, request } from "node:http";

export interface Answer {
  status: number;
  body: string;
}

/** Per-request ceiling: an answer slower than this counts as an error. */
const TIMEOUT_MS = 30_000;

/**
 * POSTs `body`. A request on a kept-alive socket that the server closed meanwhile (idle past its
 * keepAliveTimeout, 5 s by default: with the nested shape a connection can wait that long for the
 * slowest answer of a phase) fails with ECONNRESET before any answer; it is sent again once on a
 * new socket, as Node's documentation advises (`req.reusedSocket`), instead of counting an error
 * the server never saw.
 */
export async function post(agent: Agent, url: URL, body: string): Promise<Answer> {
  try {
    return await postOnce(agent, url, body);
  } catch (error) {
    if ((error as { reusedSocket?: boolean }).reusedSocket && (error as NodeJS.ErrnoException).code === "ECONNRESET") return postOnce(agent, url, body);
    throw error;
  }
}

function postOnce(agent: Agent, url: URL, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}

export function keepAliveAgent(connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
}

export interface LoadResult {
  /** Answers received (200 or not) divided by the elapsed seconds. */
  perSecond: number;
  /** Every request's latency in ms, sorted. */
  latencies: number[];
  /** Requests that failed: transport error, timeout, HTTP status other than 200, or GraphQL errors. */
  errors: number;
  /** A sample failure, for the report. */
  firstError: string | undefined;
  seconds: number;
}

/**
 * Keeps `concurrency` requests in flight for `seconds`, then waits for those in flight. Every
 * answer is checked cheaply (status 200 and no `"errors"` key); the full check of the values is
 * done once, before (see catalog-shapes.ts).
 */
export async function runLoad(url: URL, body: string, concurrency: number, seconds: number, agent: Agent): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          const answer = await post(agent, url, body);
          if (answer.status !== 200 || answer.body.includes('"errors"')) {
            errors += 1;
            firstError ??= `HTTP ${answer.status} ${answer.body.slice(0, 200)}`;
          }
        } catch (error) {
          errors += 1;
          firstError ??= (error as Error).message;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, latencies, errors, firstError, seconds: elapsed };
}

/** The p-th percentile of sorted values (nearest rank); NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
