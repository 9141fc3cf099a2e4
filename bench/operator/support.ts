// What the operator's benchmarks add to the integration tests' helpers: timing of watch events.
import type { KubeClient, RequestOptions, WatchEvent } from "../../operator/runtime/client.ts";

/**
 * Watches a collection and hands every event to `onEvent` with the time it arrived, re-opening the watch
 * when the server ends it, until stopped. Times of arrival are what the benchmarks measure.
 */
export class EventClock {
  readonly #abort = new AbortController();
  readonly #done: Promise<void>;

  constructor(
    client: KubeClient,
    path: string,
    query: RequestOptions["query"],
    onEvent: (event: WatchEvent, receivedAt: number) => void,
  ) {
    const signal = this.#abort.signal;
    this.#done = (async () => {
      while (!signal.aborted) {
        try {
          for await (const event of client.watch(path, query, signal)) onEvent(event, Date.now());
        } catch {
          if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}
