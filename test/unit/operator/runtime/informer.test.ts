// The informer's cache beyond get/list: deleted objects' last state, and whether it has caught up with a write.
import { expect } from "chai";

import type {
  KubeClient,
  ListPage,
  RequestOptions,
  WatchEvent,
} from "../../../../operator/runtime/client.ts";
import { Informer } from "../../../../operator/runtime/informer.ts";
import { silentOperatorLogger } from "../../../../operator/runtime/log.ts";

interface Slim {
  readonly metadata: { readonly name: string };
  readonly label: string | undefined;
}

const raw = (name: string, resourceVersion: string, label?: string): Record<string, unknown> => ({
  metadata: { name, resourceVersion, ...(label === undefined ? {} : { labels: { mode: label } }) },
});

/**
 * A KubeClient that lists `initial` at resourceVersion "10", then serves the watch events pushed with
 * `send` (as the API server streams them) until the informer stops.
 */
function fakeClient(initial: Record<string, unknown>[]) {
  const pending: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  const client = {
    listPage(): Promise<ListPage> {
      return Promise.resolve({ items: initial, resourceVersion: "10", continueToken: undefined });
    },
    async *watch(_path: string, _query: RequestOptions["query"], signal: AbortSignal) {
      while (!signal.aborted) {
        const event = pending.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
    },
  } as unknown as KubeClient;
  return {
    client,
    send(event: WatchEvent) {
      pending.push(event);
      wake?.();
    },
  };
}

function informer(client: KubeClient, keepDeleted?: number) {
  return new Informer<Slim>({
    name: "test",
    client,
    path: "/api/v1/configmaps",
    transform: (object) => {
      const metadata = object.metadata as { name: string; labels?: Record<string, string> };
      return { metadata: { name: metadata.name }, label: metadata.labels?.mode };
    },
    log: silentOperatorLogger(),
    ...(keepDeleted === undefined ? {} : { keepDeleted }),
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200 && !check(); attempt++) await new Promise((r) => setTimeout(r, 5));
  expect(check(), "the informer did not get there").to.equal(true);
}

describe("Informer", () => {
  it("keeps a deleted object's last cached state until it is added again, when asked to", async () => {
    const fake = fakeClient([raw("a", "5", "Disabled")]);
    const cache = informer(fake.client, 10);
    cache.start();
    try {
      await cache.waitForSync();
      fake.send({ type: "DELETED", object: raw("a", "11") });
      await until(() => cache.get("a") === undefined);
      // The last state the cache held, with its label: the delete event itself may carry less.
      expect(cache.deleted("a")).to.deep.equal({ metadata: { name: "a" }, label: "Disabled" });
      fake.send({ type: "ADDED", object: raw("a", "12") });
      await until(() => cache.get("a") !== undefined);
      expect(cache.deleted("a")).to.equal(undefined);
    } finally {
      await cache.stop();
    }
  });

  it("keeps at most keepDeleted deleted objects, dropping the oldest, and none by default", async () => {
    const fake = fakeClient([raw("a", "1"), raw("b", "2"), raw("c", "3")]);
    const bounded = informer(fake.client, 2);
    const plain = informer(fakeClient([raw("a", "1")]).client);
    bounded.start();
    plain.start();
    try {
      await Promise.all([bounded.waitForSync(), plain.waitForSync()]);
      for (const [index, name] of ["a", "b", "c"].entries()) {
        fake.send({ type: "DELETED", object: raw(name, String(11 + index)) });
      }
      await until(() => bounded.size === 0);
      expect([
        bounded.deleted("a"),
        bounded.deleted("b")?.metadata.name,
        bounded.deleted("c")?.metadata.name,
      ]).to.deep.equal([undefined, "b", "c"]);
      expect(plain.deleted("a")).to.equal(undefined);
    } finally {
      await Promise.all([bounded.stop(), plain.stop()]);
    }
  });

  it("has seen a resourceVersion once the list or the watch went past it, comparing them as numbers", async () => {
    const fake = fakeClient([raw("a", "9")]);
    const cache = informer(fake.client);
    expect(cache.hasSeen("1"), "before the first list").to.equal(false);
    cache.start();
    try {
      await cache.waitForSync();
      expect([cache.hasSeen("9"), cache.hasSeen("10"), cache.hasSeen("11")]).to.deep.equal([
        true,
        true,
        false,
      ]);
      // "9" < "10" as revisions, though not as strings.
      fake.send({ type: "BOOKMARK", object: { metadata: { resourceVersion: "100" } } });
      await until(() => cache.hasSeen("100"));
      expect(cache.hasSeen("99")).to.equal(true);
      expect(cache.hasSeen("101")).to.equal(false);
      expect(cache.hasSeen("not-a-revision"), "an opaque version is never taken as seen").to.equal(false);
    } finally {
      await cache.stop();
    }
  });
});
