// The sim provider's files: the lab as simulated nodes (spec.json) and the supervisor's report (supervisor.json).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { stringify } from "yaml";

import { parseLab } from "../../../../bootstrap/lab/config.ts";
import {
  labNodeSpecs,
  labSpec,
  readSpec,
  readSupervisorState,
  simPaths,
  writeSpec,
  writeSupervisorState,
} from "../../../../bootstrap/providers/sim/spec.ts";
import { useTempDir } from "../../controlplane/tempdir.ts";

const lab = parseLab(
  stringify({
    apiVersion: "kubelab.dev/v1alpha1",
    kind: "Lab",
    name: "demo",
    workers: { count: 2, cpus: 2, memoryMiB: 2048 },
    network: { serviceCidr: "10.112.0.0/12", dnsDomain: "lab.internal" },
  }),
  "lab.yaml",
);

describe("providers/sim/spec", () => {
  const tempDir = useTempDir("sim-spec-test");

  it("simulates the control plane as kubeadm registers it: role label and NoSchedule taint", () => {
    const [controlPlane, ...workers] = labNodeSpecs(lab);
    expect(controlPlane).to.deep.include({
      name: "m-k8s",
      internalIp: "192.168.56.10",
      cpu: "2",
      memory: "3072Mi",
    });
    expect(controlPlane?.labels).to.have.property("node-role.kubernetes.io/control-plane", "");
    expect(controlPlane?.taints).to.deep.equal([
      { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" },
    ]);
    expect(workers.map((worker) => [worker.name, worker.internalIp, worker.memory])).to.deep.equal([
      ["w1-k8s", "192.168.56.101", "2048Mi"],
      ["w2-k8s", "192.168.56.102", "2048Mi"],
    ]);
    expect(workers.every((worker) => worker.taints === undefined)).to.equal(true);
  });

  it("runs the control plane with the lab's networks and the control plane's name and address", () => {
    const spec = labSpec(lab, "/cache/bin");
    expect(spec).to.deep.include({
      lab: "demo",
      binariesDir: "/cache/bin",
      serviceCidr: "10.112.0.0/12",
      podCidr: "172.16.0.0/16",
      dnsDomain: "lab.internal",
      advertiseAddress: "192.168.56.10",
    });
    expect(spec.apiServerSans).to.deep.equal(["m-k8s", "192.168.56.10"]);
    expect(spec.ports).to.equal(undefined);
  });

  it("keeps everything under .kubelab/sim", () => {
    const paths: Record<string, string> = { ...simPaths("/lab/.kubelab") };
    for (const path of Object.values(paths))
      expect(path.startsWith("/lab/.kubelab/sim"), path).to.equal(true);
  });

  it("reads back the spec and the supervisor state it wrote, and treats a garbled state as none", async () => {
    const paths = simPaths(tempDir());
    const spec = {
      ...labSpec(lab, "/bin"),
      ports: { etcdClient: 1, etcdPeer: 2, apiServer: 3, controllerManager: 4, scheduler: 5 },
    };
    await writeSpec(paths.spec, spec);
    expect(await readSpec(paths.spec)).to.deep.equal(spec);

    expect(await readSupervisorState(paths.supervisor)).to.equal(undefined);
    await writeSupervisorState(paths.supervisor, { pid: 42, phase: "running", components: { etcd: 43 } });
    const state = await readSupervisorState(paths.supervisor);
    expect(state).to.deep.include({ pid: 42, phase: "running", components: { etcd: 43 } });
    expect(Date.parse(state?.updatedAt ?? "")).to.be.closeTo(Date.now(), 5000);
    await writeFile(join(paths.dir, "supervisor.json"), "{not json");
    expect(await readSupervisorState(paths.supervisor)).to.equal(undefined);
  });
});
