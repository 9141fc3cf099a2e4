// One snapshot agent run in its own process, so that its time includes Node's start and its memory is its own.
// Usage: node agent-process.ts '<json>'; prints one JSON line: {stepMs, maxRssBytes, sizeBytes}.
import { rename } from "node:fs/promises";
import { join } from "node:path";

import { takeSnapshot } from "../../operator/snapshot/agent.ts";
import { EtcdClient, type EtcdConnectionOptions } from "../../operator/snapshot/etcd-client.ts";
import { silentOperatorLogger } from "../../operator/runtime/log.ts";
import { saveSnapshotFile } from "../../operator/snapshot/save.ts";
import { fsyncDirectory } from "../../operator/snapshot/durable.ts";

interface Request {
  /** save: the save step only (stream, hash, trailer check, fsync, rename). take: save, verify, record. */
  readonly mode: "save" | "take" | "idle";
  readonly connection: EtcdConnectionOptions;
  readonly dir: string;
  readonly etcdutl: string;
  readonly workDir: string;
}

const request = JSON.parse(process.argv[2] ?? "{}") as Request;
let sizeBytes = 0;
let stepMs = 0;
if (request.mode === "save") {
  using client = await EtcdClient.connect(request.connection);
  const started = performance.now();
  const partial = join(request.dir, ".bench.db.partial");
  const saved = await saveSnapshotFile(client, partial);
  await rename(partial, join(request.dir, "bench.db"));
  await fsyncDirectory(request.dir);
  stepMs = performance.now() - started;
  sizeBytes = saved.sizeBytes;
} else if (request.mode === "take") {
  const started = performance.now();
  const result = await takeSnapshot({
    dir: request.dir,
    etcd: request.connection,
    etcdutl: request.etcdutl,
    workDir: request.workDir,
    node: "bench",
    verify: true,
    retain: 1,
    log: silentOperatorLogger(),
  });
  stepMs = performance.now() - started;
  sizeBytes = result.snapshot.record.sizeBytes;
}
process.stdout.write(
  `${JSON.stringify({
    stepMs,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    sizeBytes,
  })}\n`,
);
