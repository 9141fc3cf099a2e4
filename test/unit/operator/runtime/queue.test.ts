// The work queue: dedup by key, one worker per key, delayed and rate-limited adds, clean shutdown.
import { expect } from "chai";

import { ManualClock } from "../../../../operator/runtime/clock.ts";
import { WorkQueue, type QueueObserver } from "../../../../operator/runtime/queue.ts";

function recordingObserver() {
  const seen = { depth: [] as number[], added: 0, waited: [] as number[], retried: 0 };
  const observer: QueueObserver = {
    depth: (depth) => seen.depth.push(depth),
    added: () => seen.added++,
    waited: (seconds) => seen.waited.push(seconds),
    retried: () => seen.retried++,
  };
  return { seen, observer };
}

describe("WorkQueue", () => {
  it("keeps a key once however often it is added while waiting", async () => {
    const queue = new WorkQueue();
    for (let i = 0; i < 1000; i++) queue.add("lab");
    queue.add("other");
    expect(queue.length).to.equal(2);
    expect(await queue.get()).to.equal("lab");
    expect(await queue.get()).to.equal("other");
  });

  it("never hands a key being processed to a second worker, and requeues it once when it was re-added", async () => {
    const queue = new WorkQueue();
    queue.add("lab");
    const first = await queue.get();
    queue.add("lab");
    queue.add("lab");
    expect(queue.length, "not ready while processing").to.equal(0);
    let second: string | undefined;
    void queue.get().then((key) => (second = key));
    await Promise.resolve();
    expect(second).to.equal(undefined);
    queue.done(first!);
    await Promise.resolve();
    expect(second).to.equal("lab");
    expect(queue.length).to.equal(0);
  });

  it("hands distinct keys to concurrent workers", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.add("b");
    const [a, b] = await Promise.all([queue.get(), queue.get()]);
    expect([a, b]).to.deep.equal(["a", "b"]);
    expect(queue.processing).to.equal(2);
  });

  it("adds a delayed key when its time comes, keeping the earliest of two delays", () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.addAfter("lab", 10_000);
    queue.addAfter("lab", 3_000);
    queue.addAfter("lab", 5_000);
    expect(queue.dueAt("lab")).to.equal(clock.now() + 3_000);
    clock.advance(2_999);
    expect(queue.length).to.equal(0);
    clock.advance(1);
    expect(queue.length).to.equal(1);
    clock.advance(10_000);
    expect(queue.length, "the later delays were dropped").to.equal(1);
  });

  it("treats a delay of zero as an immediate add", () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    queue.addAfter("lab", 0);
    expect(queue.length).to.equal(1);
  });

  it("backs off a failing key exponentially and starts over after forget", () => {
    const clock = new ManualClock();
    const { seen, observer } = recordingObserver();
    const queue = new WorkQueue({ clock, observer });
    expect([
      queue.addRateLimited("lab"),
      queue.addRateLimited("lab"),
      queue.addRateLimited("lab"),
    ]).to.deep.equal([5, 10, 20]);
    expect(queue.failures("lab")).to.equal(3);
    expect(seen.retried).to.equal(3);
    queue.forget("lab");
    expect(queue.addRateLimited("lab")).to.equal(5);
  });

  it("reports depth, adds (not duplicates) and how long a key waited", async () => {
    const clock = new ManualClock();
    const { seen, observer } = recordingObserver();
    const queue = new WorkQueue({ clock, observer });
    queue.add("lab");
    queue.add("lab");
    clock.advance(250);
    expect(await queue.get()).to.equal("lab");
    expect(seen.added).to.equal(1);
    expect(seen.waited).to.deep.equal([0.25]);
    expect(seen.depth).to.deep.equal([1, 0]);
  });

  it("on shutdown lets in-flight keys finish, hands out nothing more and drops delayed adds", async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.add("running");
    queue.add("waiting");
    queue.addAfter("later", 1000);
    const running = await queue.get();
    let stopped = false;
    const shutdown = queue.shutdown().then(() => (stopped = true));
    expect(await queue.get()).to.equal(undefined);
    await Promise.resolve();
    expect(stopped, "waits for the in-flight key").to.equal(false);
    queue.add("new");
    clock.advance(2000);
    expect(queue.length).to.equal(0);
    queue.done(running!);
    await shutdown;
    expect(stopped).to.equal(true);
    expect(clock.pendingTimers()).to.equal(0);
  });

  it("wakes idle workers with undefined on shutdown", async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    await queue.shutdown();
    expect(await waiting).to.equal(undefined);
  });
});
