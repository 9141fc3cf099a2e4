// The controller applies the reconcile contract in one place: requeues, backoff, terminal errors, panics.
import { expect } from "chai";
import { PassThrough } from "node:stream";
import { setImmediate as tick } from "node:timers/promises";

import { ApiError, TemporaryError, TerminalError } from "../../../../operator/errors.ts";
import { ManualClock } from "../../../../operator/runtime/clock.ts";
import { Controller } from "../../../../operator/runtime/controller.ts";
import { createOperatorLogger } from "../../../../operator/runtime/log.ts";
import { RuntimeMetrics } from "../../../../operator/runtime/metrics.ts";
import { Action, type ReconcileContext } from "../../../../operator/runtime/reconcile.ts";

type Behaviour = (key: string, context: ReconcileContext) => Promise<Action>;

function harness(behaviour: Behaviour, concurrency = 2) {
  const clock = new ManualClock();
  const metrics = new RuntimeMetrics();
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  stream.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n"))
      if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const calls: { key: string; reconcileId: string }[] = [];
  const controller = new Controller({
    name: "test",
    reconciler: {
      reconcile: (key, context) => {
        calls.push({ key, reconcileId: context.reconcileId });
        return behaviour(key, context);
      },
    },
    concurrency,
    log: createOperatorLogger({ level: "debug", stream }),
    metrics,
    clock,
  });
  return { clock, metrics, controller, calls, lines };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await tick();
}

describe("Controller", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it("runs a successful reconcile once and does not requeue it", async () => {
    const { controller, calls, metrics } = harness(() => Promise.resolve(Action.awaitChange()));
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("lab", "test");
    await settle();
    expect(calls.map((call) => call.key)).to.deep.equal(["lab"]);
    expect(await metrics.value("kubelab_reconcile_total", { result: "success" })).to.equal(1);
    expect(controller.queue.dueAt("lab")).to.equal(undefined);
  });

  it("requeues after the delay a reconcile asks for, and resets the backoff", async () => {
    let failures = 1;
    const { controller, calls, clock, metrics } = harness(() =>
      failures-- > 0
        ? Promise.reject(new TemporaryError("once"))
        : Promise.resolve(Action.requeueAfter(30_000)),
    );
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("lab", "test");
    await settle();
    clock.advance(5);
    await settle();
    expect(calls).to.have.length(2);
    expect(controller.queue.failures("lab")).to.equal(0);
    expect(controller.queue.dueAt("lab")).to.equal(clock.now() + 30_000);
    clock.advance(30_000);
    await settle();
    expect(calls).to.have.length(3);
    expect(await metrics.value("kubelab_reconcile_total", { result: "requeue" })).to.equal(2);
  });

  it("retries API errors with exponential backoff: 5 ms, 10 ms, 20 ms", async () => {
    const { controller, calls, clock, metrics } = harness(() =>
      Promise.reject(
        new ApiError(
          "PATCH",
          "/apis/kubelab.dev/v1alpha1/labclusters/lab/status",
          500,
          "InternalError",
          "etcd hiccup",
        ),
      ),
    );
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("lab", "test");
    await settle();
    const delays: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const due = controller.queue.dueAt("lab")!;
      delays.push(due - clock.now());
      clock.advance(due - clock.now());
      await settle();
    }
    expect(delays).to.deep.equal([5, 10, 20]);
    expect(calls).to.have.length(4);
    expect(await metrics.value("kubelab_reconcile_errors_total")).to.equal(4);
    expect(await metrics.value("kubelab_reconcile_panics_total")).to.equal(0);
  });

  it("retries a temporary error after exactly its own delay", async () => {
    const { controller, clock } = harness(() =>
      Promise.reject(new TemporaryError("PodDisruptionBudget says wait", { retryAfterMs: 5000 })),
    );
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("lab", "test");
    await settle();
    expect(controller.queue.dueAt("lab")).to.equal(clock.now() + 5000);
  });

  it("does not retry a terminal error until the key is queued again", async () => {
    const { controller, calls, clock, metrics } = harness(() =>
      Promise.reject(new TerminalError("the spec cannot be read")),
    );
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("lab", "test");
    await settle();
    clock.advance(60 * 60_000);
    await settle();
    expect(calls).to.have.length(1);
    expect(controller.queue.dueAt("lab")).to.equal(undefined);
    expect(await metrics.value("kubelab_reconcile_total", { result: "terminal_error" })).to.equal(1);
  });

  it("catches and counts a panic, logs its stack, and retries with backoff", async () => {
    const { controller, lines, metrics } = harness(() =>
      Promise.reject(new TypeError("cannot read properties of undefined")),
    );
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("lab", "test");
    await settle();
    expect(await metrics.value("kubelab_reconcile_panics_total")).to.equal(1);
    const logged = lines.find(
      (line) => line.message === "reconcile threw unexpectedly; this is a bug, please report it",
    );
    expect(logged?.stack).to.match(/TypeError: cannot read properties of undefined/);
    expect(controller.queue.failures("lab")).to.equal(1);
  });

  it("gives every reconcile its own id in the log context", async () => {
    const { controller, calls, lines } = harness((_key, context) => {
      context.log.info("inside");
      return Promise.resolve(Action.awaitChange());
    });
    controller.start();
    stop = () => controller.stop();
    controller.enqueue("a", "test");
    controller.enqueue("b", "test");
    await settle();
    const inside = lines.filter((line) => line.message === "inside");
    expect(inside.map((line) => line.reconcileId)).to.have.members(calls.map((call) => call.reconcileId));
    expect(new Set(calls.map((call) => call.reconcileId)).size).to.equal(2);
    expect(inside.every((line) => line.controller === "test" && typeof line.key === "string")).to.equal(true);
  });

  it("never reconciles one key twice at once, and folds a storm of adds into one more reconcile", async () => {
    const release: (() => void)[] = [];
    let running = 0;
    let maxRunning = 0;
    const { controller, calls } = harness(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      return Action.awaitChange();
    }, 4);
    controller.start();
    stop = async () => {
      for (const resolve of release.splice(0)) resolve();
      await controller.stop();
    };
    controller.enqueue("lab", "test");
    await settle();
    for (let i = 0; i < 1000; i++) controller.enqueue("lab", "storm");
    await settle();
    expect(maxRunning).to.equal(1);
    release.shift()!();
    await settle();
    release.shift()!();
    await settle();
    expect(calls).to.have.length(2);
    expect(maxRunning).to.equal(1);
  });

  it("on stop lets the in-flight reconcile finish and starts nothing new", async () => {
    let finish: () => void = () => {};
    let finished = false;
    const { controller, calls } = harness(async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      finished = true;
      return Action.awaitChange();
    });
    controller.start();
    controller.enqueue("lab", "test");
    await settle();
    let stopped = false;
    const stopping = controller.stop().then(() => (stopped = true));
    controller.enqueue("other", "after stop");
    await settle();
    expect(stopped).to.equal(false);
    finish();
    await stopping;
    expect(finished).to.equal(true);
    expect(calls.map((call) => call.key)).to.deep.equal(["lab"]);
  });
});
