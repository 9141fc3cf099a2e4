// The sim provider's files: what the supervisor runs (spec.json), what it reports (supervisor.json), where.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

import type { Lab } from "../../lab/config.ts";
import type { NodeSpec } from "../../controlplane/engine.ts";
import { FileMode, writeFileAtomic } from "../../files.ts";

/** The sim provider's directory inside the work dir (.kubelab/sim). */
export const SIM_DIR_NAME = "sim";

/** Paths of a sim lab, all under `.kubelab/sim/`. */
export interface SimPaths {
  readonly dir: string;
  /** What to run: written by `up`, read by the supervisor (and updated with the ports it got). */
  readonly spec: string;
  /** What runs: written by the supervisor (pid, phase, ports, component pids). */
  readonly supervisor: string;
  /** The supervisor's own output. */
  readonly log: string;
  /** The control plane's directory: PKI, etcd data, admin.kubeconfig, component logs. */
  readonly cluster: string;
  /** The control plane's admin kubeconfig (API server on 127.0.0.1, embedded certificates). */
  readonly adminKubeconfig: string;
  /** Present once kubeadm's objects (kubeadm-config, kubelet-config, CoreDNS) were installed. */
  readonly kubeadmDone: string;
}

export function simPaths(workDir: string): SimPaths {
  const dir = join(workDir, SIM_DIR_NAME);
  return {
    dir,
    spec: join(dir, "spec.json"),
    supervisor: join(dir, "supervisor.json"),
    log: join(dir, "supervisor.log"),
    cluster: join(dir, "cluster"),
    adminKubeconfig: join(dir, "cluster", "admin.kubeconfig"),
    kubeadmDone: join(dir, "kubeadm-objects.done"),
  };
}

const CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane";

const nodeSpecSchema = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
  taints: z.array(z.object({ key: z.string(), value: z.string().optional(), effect: z.string() })).optional(),
  internalIp: z.string().optional(),
  cpu: z.string().optional(),
  memory: z.string().optional(),
});

const portsSchema = z.object({
  etcdClient: z.number().int(),
  etcdPeer: z.number().int(),
  apiServer: z.number().int(),
  controllerManager: z.number().int(),
  scheduler: z.number().int(),
});

/** A simulated node as spec.json stores it (a NodeSpec of the engine). */
export type SimNodeSpec = z.infer<typeof nodeSpecSchema> & NodeSpec;

/** spec.json: everything the supervisor needs to start (or restart) the lab's control plane. */
export const simSpecSchema = z.object({
  lab: z.string(),
  binariesDir: z.string(),
  serviceCidr: z.string(),
  podCidr: z.string(),
  dnsDomain: z.string(),
  advertiseAddress: z.string(),
  apiServerSans: z.array(z.string()),
  nodes: z.array(nodeSpecSchema),
  /** Set after the first start, so a restarted lab keeps its API server address (the kubeconfig's). */
  ports: portsSchema.optional(),
  /**
   * etcd's data directory when it is not the control plane's own (`cluster/etcd`): set by `bootstrap
   * restore` to the directory it restored a snapshot into; the earlier directories stay as they were.
   */
  etcdDataDir: z.string().optional(),
});
export type SimSpec = z.infer<typeof simSpecSchema>;

/** How to reach the running etcd as a client, and the member as `etcdutl snapshot restore` must rebuild it. */
const etcdAccessSchema = z.object({
  endpoint: z.string(),
  caCertPath: z.string(),
  certPath: z.string(),
  keyPath: z.string(),
  dataDir: z.string(),
  name: z.string(),
  peerUrl: z.string(),
  initialCluster: z.string(),
});
export type SimEtcdAccess = z.infer<typeof etcdAccessSchema>;

/** supervisor.json: the supervisor's own account of where it stands. */
export const supervisorStateSchema = z.object({
  pid: z.number().int(),
  phase: z.enum(["starting", "running", "stopping", "failed"]),
  updatedAt: z.string(),
  server: z.string().optional(),
  ports: portsSchema.optional(),
  /** Component name -> pid, to clean up after a supervisor that was killed outright. */
  components: z.record(z.string(), z.number().int()).default({}),
  /** Why the start failed (phase failed). */
  error: z.string().optional(),
  /** Start time of the control plane in ms, for `status` and the logs. */
  startMs: z.number().optional(),
  /** The running etcd (backups and restores of the sim provider use it). */
  etcd: etcdAccessSchema.optional(),
});
export type SupervisorState = z.infer<typeof supervisorStateSchema>;

/**
 * The simulated nodes of a lab, as kubeadm and the kubelet would register them: the control plane with
 * kubeadm's role label and NoSchedule taint, every node with its lab IP and lab resources.
 */
export function labNodeSpecs(lab: Lab): SimNodeSpec[] {
  return lab.nodes.map((node) => ({
    name: node.name,
    internalIp: node.ip,
    cpu: String(node.cpus),
    memory: `${node.memoryMiB}Mi`,
    ...(node.role === "control-plane"
      ? {
          labels: { [CONTROL_PLANE_ROLE]: "", "node.kubernetes.io/exclude-from-external-load-balancers": "" },
          taints: [{ key: CONTROL_PLANE_ROLE, effect: "NoSchedule" }],
        }
      : {}),
  }));
}

/** spec.json for a lab (ports unknown until the first start). */
export function labSpec(lab: Lab, binariesDir: string): SimSpec {
  return {
    lab: lab.name,
    binariesDir,
    serviceCidr: lab.network.serviceCidr,
    podCidr: lab.network.podCidr,
    dnsDomain: lab.network.dnsDomain,
    advertiseAddress: lab.controlPlane.ip,
    apiServerSans: [lab.controlPlane.name, lab.controlPlane.ip],
    nodes: labNodeSpecs(lab),
  };
}

/**
 * What a restart keeps of the previous spec.json: the ports (so the kubeconfig stays valid) and etcd's
 * data directory (a restored one stays in use); everything else comes from lab.yaml again.
 */
export function keptAcrossRestarts(previous: SimSpec | undefined): Pick<SimSpec, "ports" | "etcdDataDir"> {
  return {
    ...(previous?.ports === undefined ? {} : { ports: previous.ports }),
    ...(previous?.etcdDataDir === undefined ? {} : { etcdDataDir: previous.etcdDataDir }),
  };
}

export async function readSpec(path: string): Promise<SimSpec> {
  return simSpecSchema.parse(JSON.parse(await readFile(path, "utf8")));
}

export async function writeSpec(path: string, spec: SimSpec): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(spec, null, 2)}\n`, FileMode.public);
}

/** supervisor.json, or undefined when there is none (never started, or stopped cleanly) or it is garbled. */
export async function readSupervisorState(path: string): Promise<SupervisorState | undefined> {
  try {
    return supervisorStateSchema.parse(JSON.parse(await readFile(path, "utf8")));
  } catch {
    return undefined;
  }
}

export async function writeSupervisorState(
  path: string,
  state: Omit<SupervisorState, "updatedAt">,
): Promise<void> {
  await writeFileAtomic(
    path,
    `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`,
    FileMode.public,
  );
}
