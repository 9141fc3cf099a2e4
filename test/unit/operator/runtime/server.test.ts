// The probe and metrics endpoints: status codes the kubelet reads, check details, Prometheus text.
import { expect } from "chai";

import { silentOperatorLogger } from "../../../../operator/runtime/log.ts";
import { RuntimeMetrics } from "../../../../operator/runtime/metrics.ts";
import { startProbeServers, type ProbeServers } from "../../../../operator/runtime/server.ts";

describe("probe servers", () => {
  let servers: ProbeServers | undefined;
  let synced = false;
  const metrics = new RuntimeMetrics();

  before(async () => {
    servers = await startProbeServers({
      host: "127.0.0.1",
      healthPort: 0,
      metricsPort: 0,
      registry: metrics.registry,
      liveness: [{ name: "ping", check: () => ({ ok: true }) }],
      readiness: [{ name: "informer-nodes", check: () => ({ ok: synced, detail: "first list not in yet" }) }],
      log: silentOperatorLogger(),
    });
  });
  after(async () => servers?.close());

  const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

  it("answers /healthz 200 while the process runs", async () => {
    const response = await get(servers!.healthPort, "/healthz");
    expect(response.status).to.equal(200);
    expect(await response.text()).to.contain("[+]ping ok");
  });

  it("answers /readyz 503 naming the failed check until it passes, then 200", async () => {
    synced = false;
    const before = await get(servers!.healthPort, "/readyz");
    expect(before.status).to.equal(503);
    expect(await before.text()).to.contain("[-]informer-nodes: first list not in yet");
    synced = true;
    expect((await get(servers!.healthPort, "/readyz")).status).to.equal(200);
  });

  it("serves the registry's metrics on the metrics port", async () => {
    metrics.reconciles.inc({ controller: "labcluster", result: "success" });
    const response = await get(servers!.metricsPort, "/metrics");
    expect(response.status).to.equal(200);
    expect(await response.text()).to.contain(
      'kubelab_reconcile_total{controller="labcluster",result="success"} 1',
    );
  });

  it("answers 404 for anything else", async () => {
    expect((await get(servers!.healthPort, "/nope")).status).to.equal(404);
  });
});
