// HTTP endpoints: /healthz and /readyz for the kubelet's probes, /metrics for Prometheus.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "winston";

/** One named check of a probe; `ok` false fails the probe, `detail` explains. */
export interface ProbeCheck {
  readonly name: string;
  check(): { ok: boolean; detail?: string };
}

export interface ProbeServerOptions {
  /** Address to bind: 0.0.0.0 in a pod, 127.0.0.1 in tests. */
  readonly host: string;
  /** 0 picks a free port; the bound port is returned. */
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly registry: Registry;
  readonly liveness: readonly ProbeCheck[];
  readonly readiness: readonly ProbeCheck[];
  readonly log: Logger;
}

export interface ProbeServers {
  readonly healthPort: number;
  readonly metricsPort: number;
  close(): Promise<void>;
}

/**
 * Starts the probe and metrics listeners. Probe bodies list every check as `[+]name ok` / `[-]name: why`
 * (the API server's format) so `curl /readyz` tells what is missing; the status code is what the kubelet
 * reads.
 */
export async function startProbeServers(options: ProbeServerOptions): Promise<ProbeServers> {
  const probe = (checks: readonly ProbeCheck[]) => {
    const lines: string[] = [];
    let healthy = true;
    for (const check of checks) {
      let result: { ok: boolean; detail?: string };
      try {
        result = check.check();
      } catch (error) {
        result = { ok: false, detail: (error as Error).message };
      }
      healthy &&= result.ok;
      lines.push(result.ok ? `[+]${check.name} ok` : `[-]${check.name}: ${result.detail ?? "failed"}`);
    }
    return { status: healthy ? 200 : 503, body: `${lines.join("\n")}\n${healthy ? "ok" : "not ok"}\n` };
  };

  const handle = async (path: string): Promise<{ status: number; body: string; type: string }> => {
    const text = "text/plain; charset=utf-8";
    if (path === "/healthz" || path === "/livez") return { ...probe(options.liveness), type: text };
    if (path === "/readyz") return { ...probe(options.readiness), type: text };
    if (path === "/metrics") {
      return { status: 200, body: await options.registry.metrics(), type: options.registry.contentType };
    }
    return { status: 404, body: "not found\n", type: text };
  };

  const serve = (server: Server) =>
    server.on("request", (request, response) => {
      const path = new URL(request.url ?? "/", "http://localhost").pathname;
      handle(path)
        .then(({ status, body, type }) => {
          response.writeHead(status, { "Content-Type": type });
          response.end(body);
        })
        .catch((error: unknown) => {
          options.log.error("probe server failed a request", { path, error: (error as Error).message });
          response.writeHead(500);
          response.end();
        });
    });

  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(port, options.host, () => resolve(serve(server)));
    });

  const health = await listen(options.healthPort);
  const shared = options.metricsPort === options.healthPort && options.healthPort !== 0;
  const metrics = shared ? health : await listen(options.metricsPort);
  const healthPort = (health.address() as AddressInfo).port;
  const metricsPort = (metrics.address() as AddressInfo).port;
  options.log.info("serving probes and metrics", { host: options.host, healthPort, metricsPort });
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    healthPort,
    metricsPort,
    close: async () => {
      await close(health);
      if (!shared) await close(metrics);
    },
  };
}
