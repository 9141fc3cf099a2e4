// The control plane's components and the command line each one runs with (pure: settings in, flags out).
import { join } from "node:path";

import type { ControlPlanePki } from "./cluster-pki.ts";
import { KWOK_MANAGED, KWOK_NODE_LABEL } from "./kwok.ts";
import type { KeyPairPaths } from "./pki.ts";

/** In start order; stopped in reverse. */
export const COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** The loopback ports of one control plane. */
export interface ControlPlanePorts {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiServer: number;
  readonly controllerManager: number;
  readonly scheduler: number;
}

/** The ports each component binds (replaced when another program took one before it started). */
export const PORTS_OF: Record<ComponentName, readonly (keyof ControlPlanePorts)[]> = {
  etcd: ["etcdClient", "etcdPeer"],
  "kube-apiserver": ["apiServer"],
  "kube-controller-manager": ["controllerManager"],
  "kube-scheduler": ["scheduler"],
  kwok: [],
};

/** What a client of etcd needs (the etcd-snapshot work): endpoint, client certificate, data dir, member. */
export interface EtcdAccess {
  readonly endpoint: string;
  readonly caCertPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** The data directory etcd runs on now (changes after startComponents with `etcdDataDir`). */
  readonly dataDir: string;
  /** Member name, peer URL and initial cluster, as `etcdutl snapshot restore` needs them. */
  readonly name: string;
  readonly peerUrl: string;
  readonly initialCluster: string;
}

/** Everything the command lines depend on. */
export interface ComponentSettings {
  /** The control plane's directory (kubeconfigs/, kwok.yaml, apiserver-certs/). */
  readonly dir: string;
  readonly clusterName: string;
  readonly serviceCidr: string;
  readonly podCidr: string;
  readonly dnsDomain: string;
  readonly advertiseAddress: string;
  readonly ports: ControlPlanePorts;
  readonly pki: ControlPlanePki;
  readonly etcd: EtcdAccess;
  /** etcd --initial-cluster-token of a new member (ignored by etcd once its data exists). */
  readonly etcdClusterToken: string;
  readonly etcdUnsafeNoFsync: boolean;
  readonly nodeMonitorGracePeriodSeconds: number | undefined;
  readonly nodeLeaseDurationSeconds: number;
  /** Appended, so they override ours (the last occurrence of a flag wins). */
  readonly extraArgs: readonly string[];
}

/** The kubeconfig a component (controller-manager, scheduler, kwok) talks to the API server with. */
export function componentKubeconfigPath(dir: string, component: ComponentName): string {
  return join(dir, "kubeconfigs", `${component}.conf`);
}

/**
 * The flags of a component. Everything listens on 127.0.0.1 only and speaks TLS with certificates of the
 * control plane's own CAs: etcd with client and peer mTLS, kube-apiserver with Node,RBAC authorization and
 * NodeRestriction, the controller-manager with one service account per controller and the cluster
 * signer, kwok managing only the nodes labelled for it.
 */
export function componentArgs(component: ComponentName, settings: ComponentSettings): string[] {
  const { pki, ports, etcd } = settings;
  switch (component) {
    case "etcd":
      return [
        `--name=${etcd.name}`,
        `--data-dir=${etcd.dataDir}`,
        `--listen-client-urls=${etcd.endpoint}`,
        `--advertise-client-urls=${etcd.endpoint}`,
        `--listen-peer-urls=${etcd.peerUrl}`,
        `--initial-advertise-peer-urls=${etcd.peerUrl}`,
        `--initial-cluster=${etcd.initialCluster}`,
        "--initial-cluster-state=new",
        `--initial-cluster-token=${settings.etcdClusterToken}`,
        "--client-cert-auth=true",
        `--trusted-ca-file=${pki.etcdCa.certPath}`,
        `--cert-file=${pki.etcdServer.certPath}`,
        `--key-file=${pki.etcdServer.keyPath}`,
        "--peer-client-cert-auth=true",
        `--peer-trusted-ca-file=${pki.etcdCa.certPath}`,
        `--peer-cert-file=${pki.etcdPeer.certPath}`,
        `--peer-key-file=${pki.etcdPeer.keyPath}`,
        "--snapshot-count=10000",
        ...(settings.etcdUnsafeNoFsync ? ["--unsafe-no-fsync=true"] : []),
        ...settings.extraArgs,
      ];
    case "kube-apiserver":
      return [
        `--advertise-address=${settings.advertiseAddress}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${ports.apiServer}`,
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        `--client-ca-file=${pki.ca.certPath}`,
        `--tls-cert-file=${pki.apiServer.certPath}`,
        `--tls-private-key-file=${pki.apiServer.keyPath}`,
        `--etcd-servers=${etcd.endpoint}`,
        `--etcd-cafile=${pki.etcdCa.certPath}`,
        `--etcd-certfile=${pki.apiServerEtcdClient.certPath}`,
        `--etcd-keyfile=${pki.apiServerEtcdClient.keyPath}`,
        `--service-account-issuer=https://kubernetes.default.svc.${settings.dnsDomain}`,
        `--service-account-key-file=${pki.serviceAccount.publicKeyPath}`,
        `--service-account-signing-key-file=${pki.serviceAccount.privateKeyPath}`,
        `--service-cluster-ip-range=${settings.serviceCidr}`,
        `--cert-dir=${join(settings.dir, "apiserver-certs")}`,
        "--profiling=false",
        ...settings.extraArgs,
      ];
    case "kube-controller-manager": {
      const grace = settings.nodeMonitorGracePeriodSeconds;
      return [
        ...servingComponentArgs(settings, component, ports.controllerManager, pki.controllerManagerServing),
        `--cluster-name=${settings.clusterName}`,
        `--cluster-signing-cert-file=${pki.ca.certPath}`,
        `--cluster-signing-key-file=${pki.ca.keyPath}`,
        `--root-ca-file=${pki.ca.certPath}`,
        `--service-account-private-key-file=${pki.serviceAccount.privateKeyPath}`,
        `--service-cluster-ip-range=${settings.serviceCidr}`,
        `--cluster-cidr=${settings.podCidr}`,
        "--use-service-account-credentials=true",
        "--controllers=*,bootstrapsigner,tokencleaner",
        ...(grace === undefined ? [] : [`--node-monitor-grace-period=${grace}s`, "--node-monitor-period=1s"]),
        ...settings.extraArgs,
      ];
    }
    case "kube-scheduler":
      return [
        ...servingComponentArgs(settings, component, ports.scheduler, pki.schedulerServing),
        ...settings.extraArgs,
      ];
    case "kwok":
      return [
        `--kubeconfig=${componentKubeconfigPath(settings.dir, component)}`,
        `--config=${join(settings.dir, "kwok.yaml")}`,
        `--manage-nodes-with-label-selector=${KWOK_NODE_LABEL}=${KWOK_MANAGED}`,
        `--node-lease-duration-seconds=${settings.nodeLeaseDurationSeconds}`,
        `--cidr=${settings.podCidr}`,
        ...settings.extraArgs,
      ];
  }
}

/**
 * Flags shared by kube-controller-manager and kube-scheduler: their own kubeconfig for the API and for
 * delegated authentication/authorization, HTTPS on loopback with a certificate of our CA (so the health
 * probe verifies it), no leader election (one instance), no profiling endpoints.
 */
function servingComponentArgs(
  settings: ComponentSettings,
  component: ComponentName,
  port: number,
  serving: KeyPairPaths,
): string[] {
  const kubeconfig = componentKubeconfigPath(settings.dir, component);
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${port}`,
    `--tls-cert-file=${serving.certPath}`,
    `--tls-private-key-file=${serving.keyPath}`,
    `--client-ca-file=${settings.pki.ca.certPath}`,
    "--leader-elect=false",
    "--profiling=false",
  ];
}
