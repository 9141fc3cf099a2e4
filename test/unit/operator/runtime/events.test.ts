// The Event recorder's write path: transient failures are tried again, lasting ones dropped and logged, and a
// series whose Event expired starts a new one. The client is a recorder of calls (the API's behaviour against
// a real server is in test/integration/operator/runtime.test.ts).
import { expect } from "chai";
import { Writable } from "node:stream";
import winston from "winston";

import { ApiConnectionError, ApiError } from "../../../../operator/errors.ts";
import type { KubeClient } from "../../../../operator/runtime/client.ts";
import { EventRecorder, type EventRecord } from "../../../../operator/runtime/events.ts";

const EVENT: EventRecord = {
  regarding: { apiVersion: "kubelab.dev/v1alpha1", kind: "LabCluster", name: "lab", uid: "uid-1" },
  type: "Normal",
  reason: "AddonBundleCaptured",
  action: "Capture",
  note: "CoreDNS: captured",
};

type Outcome = "ok" | Error;

/** A client whose create and mergePatch answer from a script, one outcome per call, and record each call. */
function scriptedClient(outcomes: Outcome[]) {
  const calls: { verb: "create" | "patch"; path: string; body: unknown }[] = [];
  const answer = (verb: "create" | "patch", path: string, body: unknown) => {
    calls.push({ verb, path, body });
    const next = outcomes.shift() ?? "ok";
    return next === "ok" ? Promise.resolve({}) : Promise.reject(next);
  };
  const client = {
    create: (path: string, body: unknown) => answer("create", path, body),
    mergePatch: (path: string, body: unknown) => answer("patch", path, body),
  } as unknown as KubeClient;
  return { client, calls };
}

/** A JSON logger that keeps what it writes. */
function keptLog() {
  const warnings: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      warnings.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const log = winston.createLogger({
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, warnings };
}

const FAST = { attempts: 4, backoff: { initialMs: 1, maxMs: 4, factor: 2, jitter: 0 } };
const unavailable = () => new ApiError("POST", "/events", 503, "ServiceUnavailable", "etcd is slow");

describe("EventRecorder", () => {
  it("tries a transient failure again in the background (503, 429, unreachable) until it is written", async () => {
    const { client, calls } = scriptedClient([
      unavailable(),
      new ApiError("POST", "/events", 429, "TooManyRequests", "slow down"),
      new ApiConnectionError("POST", "/events", new Error("ECONNRESET")),
      "ok",
    ]);
    const { log, warnings } = keptLog();
    const recorder = new EventRecorder({ client, controller: "test", instance: "a", log, retry: FAST });
    // The caller (a reconcile) gets its answer after the first write, not after the retries.
    expect(await recorder.record(EVENT)).to.equal(undefined);
    expect(calls).to.have.length(1);
    await recorder.settled();
    expect(calls.map((call) => call.verb)).to.deep.equal(["create", "create", "create", "create"]);
    // Every attempt writes the same Event: one name, the time of the first attempt.
    const bodies = calls.map((call) => call.body as { metadata: { name: string }; eventTime: string });
    expect(new Set(bodies.map((body) => body.eventTime)).size).to.equal(1);
    expect(bodies[3]!.metadata.name).to.match(/^lab\.[0-9a-f]{16}$/);
    expect(warnings).to.have.length(0);
  });

  it("gives up after the last attempt and logs the cause once, without throwing", async () => {
    const { client, calls } = scriptedClient([unavailable(), unavailable(), unavailable(), unavailable()]);
    const { log, warnings } = keptLog();
    const recorder = new EventRecorder({ client, controller: "test", instance: "a", log, retry: FAST });
    expect(await recorder.record(EVENT)).to.equal(undefined);
    await recorder.settled();
    expect(calls).to.have.length(4);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include({ message: "cannot record an Event", attempts: 4 });
    expect(String(warnings[0]!.error)).to.include("etcd is slow");
  });

  it("does not try a refused write again (403 names a missing RBAC rule, not a busy server)", async () => {
    const { client, calls } = scriptedClient([new ApiError("POST", "/events", 403, "Forbidden", "no")]);
    const { log, warnings } = keptLog();
    const recorder = new EventRecorder({ client, controller: "test", instance: "a", log, retry: FAST });
    expect(await recorder.record(EVENT)).to.equal(undefined);
    expect(calls).to.have.length(1);
    expect(warnings[0]).to.include({ attempts: 1 });
  });

  it("counts a repeat into the series, and starts a new Event when the series' Event has expired", async () => {
    const gone = new ApiError("PATCH", "/events/lab.x", 404, "NotFound", "events not found");
    const { client, calls } = scriptedClient(["ok", "ok", gone, "ok"]);
    const { log } = keptLog();
    const recorder = new EventRecorder({ client, controller: "test", instance: "a", log, retry: FAST });
    const first = await recorder.record(EVENT);
    expect(await recorder.record(EVENT)).to.equal(first);
    expect(calls[1]).to.deep.include({ verb: "patch" });
    expect((calls[1]!.body as { series: { count: number } }).series.count).to.equal(2);
    const third = await recorder.record(EVENT);
    expect(calls.map((call) => call.verb)).to.deep.equal(["create", "patch", "patch", "create"]);
    expect(third).to.not.equal(first);
  });

  it("retries a failed series update with the count it failed to write, not a count that skips one", async () => {
    const { client, calls } = scriptedClient(["ok", unavailable(), "ok"]);
    const { log } = keptLog();
    const recorder = new EventRecorder({ client, controller: "test", instance: "a", log, retry: FAST });
    await recorder.record(EVENT);
    await recorder.record(EVENT);
    await recorder.settled();
    const counts = calls.slice(1).map((call) => (call.body as { series: { count: number } }).series.count);
    expect(counts).to.deep.equal([2, 2]);
  });
});
