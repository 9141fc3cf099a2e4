// Mocha root hooks of the integration suite: one control plane (controllers and three kwok nodes) for all tests.
import { progressPrinter } from "../../bootstrap/controlplane/progress.ts";
import { type ControlPlane, startControlPlane } from "../../bootstrap/controlplane/engine.ts";
import { tailOfFile } from "../../bootstrap/controlplane/process.ts";
import { ENVTEST_NODES, ENVTEST_TIMING, setSharedControlPlane } from "./index.ts";

const CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane";

let plane: ControlPlane | undefined;

/**
 * `KUBELAB_ENVTEST_KEEP=1` keeps the control plane's directory (PKI, etcd data, every component's log)
 * after the run and prints where it is.
 */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    // A cold binary build takes minutes; a warm start takes seconds.
    this.timeout(60 * 60_000);
    const keep = process.env.KUBELAB_ENVTEST_KEEP === "1";
    plane = await startControlPlane({
      controllers: true,
      nodes: [
        {
          name: ENVTEST_NODES.controlPlane,
          labels: { [CONTROL_PLANE_ROLE]: "" },
          taints: [{ key: CONTROL_PLANE_ROLE, effect: "NoSchedule" }],
        },
        ...ENVTEST_NODES.workers.map((name) => ({ name })),
      ],
      nodeLeaseDurationSeconds: ENVTEST_TIMING.nodeLeaseDurationSeconds,
      nodeMonitorGracePeriodSeconds: ENVTEST_TIMING.nodeMonitorGracePeriodSeconds,
      etcdUnsafeNoFsync: true,
      keepDir: keep,
      progress: progressPrinter(),
      // A component dying mid-suite makes every later test fail with timeouts: say so at once, with its log.
      onUnexpectedExit: (component, info) => {
        process.stderr.write(
          `\nenvtest: ${component} exited unexpectedly (${info.code ?? info.signal}); last lines of its log:\n` +
            `${tailOfFile(plane?.logPath(component) ?? "", 20)}\n`,
        );
      },
    });
    setSharedControlPlane(plane);
    const t = plane.timings;
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
    process.stderr.write(
      `envtest: control plane ${plane.server} ready in ${s(t.totalMs)} ` +
        `(binaries ${s(t.binariesMs)} from ${plane.binaries.source}, etcd ${s(t.etcdMs)}, ` +
        `kube-apiserver ${s(t.apiServerMs)}, controllers and nodes ${s(t.controllersMs)})` +
        (keep ? `; kept in ${plane.dir}` : "") +
        "\n",
    );
  },

  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    setSharedControlPlane(undefined);
    await plane?.stop();
  },
};
