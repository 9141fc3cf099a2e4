// Component command lines: loopback only, TLS everywhere, least privilege, and caller flags last.
import { expect } from "chai";

import { pkiLayout } from "../../../bootstrap/controlplane/cluster-pki.ts";
import {
  COMPONENTS,
  componentArgs,
  type ComponentSettings,
  PORTS_OF,
} from "../../../bootstrap/controlplane/components.ts";

const settings: ComponentSettings = {
  dir: "/cp",
  clusterName: "lab",
  serviceCidr: "10.96.0.0/12",
  podCidr: "172.16.0.0/16",
  dnsDomain: "cluster.local",
  advertiseAddress: "192.168.56.10",
  ports: { etcdClient: 2379, etcdPeer: 2380, apiServer: 6443, controllerManager: 10257, scheduler: 10259 },
  pki: pkiLayout("/cp/pki"),
  etcd: {
    endpoint: "https://127.0.0.1:2379",
    caCertPath: "/cp/pki/etcd/ca.crt",
    certPath: "/cp/pki/etcd/healthcheck-client.crt",
    keyPath: "/cp/pki/etcd/healthcheck-client.key",
    dataDir: "/cp/etcd",
    name: "kubelab",
    peerUrl: "https://127.0.0.1:2380",
    initialCluster: "kubelab=https://127.0.0.1:2380",
  },
  etcdClusterToken: "lab-1234",
  etcdUnsafeNoFsync: false,
  nodeMonitorGracePeriodSeconds: undefined,
  nodeLeaseDurationSeconds: 40,
  extraArgs: [],
};

describe("controlplane/components", () => {
  it("binds every listening component to 127.0.0.1 only, with TLS", () => {
    const etcd = componentArgs("etcd", settings);
    expect(etcd).to.include.members([
      "--listen-client-urls=https://127.0.0.1:2379",
      "--listen-peer-urls=https://127.0.0.1:2380",
      "--client-cert-auth=true",
      "--peer-client-cert-auth=true",
    ]);
    for (const component of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const) {
      expect(componentArgs(component, settings), component).to.include("--bind-address=127.0.0.1");
      expect(componentArgs(component, settings).some((flag) => flag.startsWith("--tls-cert-file="))).to.equal(
        true,
      );
    }
    expect(etcd.filter((flag) => flag.includes("http://"))).to.deep.equal([]);
  });

  it("runs the API server with Node,RBAC authorization, NodeRestriction and its own service-account keys", () => {
    expect(componentArgs("kube-apiserver", settings)).to.include.members([
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-account-signing-key-file=/cp/pki/sa.key",
      "--service-cluster-ip-range=10.96.0.0/12",
      "--etcd-servers=https://127.0.0.1:2379",
      "--advertise-address=192.168.56.10",
    ]);
  });

  it("gives each controller its own service account and shortens node monitoring only when asked", () => {
    const defaults = componentArgs("kube-controller-manager", settings);
    expect(defaults).to.include.members([
      "--use-service-account-credentials=true",
      "--root-ca-file=/cp/pki/ca.crt",
      "--kubeconfig=/cp/kubeconfigs/kube-controller-manager.conf",
    ]);
    expect(defaults.some((flag) => flag.startsWith("--node-monitor-grace-period"))).to.equal(false);
    const quick = componentArgs("kube-controller-manager", {
      ...settings,
      nodeMonitorGracePeriodSeconds: 16,
    });
    expect(quick).to.include("--node-monitor-grace-period=16s");
  });

  it("makes kwok manage only labelled nodes, with the lab's pod CIDR and lease duration", () => {
    expect(componentArgs("kwok", settings)).to.include.members([
      "--manage-nodes-with-label-selector=kwok.x-k8s.io/node=fake",
      "--cidr=172.16.0.0/16",
      "--node-lease-duration-seconds=40",
    ]);
  });

  it("appends the caller's flags last, so they win", () => {
    for (const component of COMPONENTS) {
      const args = componentArgs(component, { ...settings, extraArgs: ["--v=4"] });
      expect(args.at(-1), component).to.equal("--v=4");
    }
  });

  it("knows which ports each component binds", () => {
    const bound = COMPONENTS.flatMap((component) => PORTS_OF[component]);
    expect([...bound].sort()).to.deep.equal(Object.keys(settings.ports).sort());
  });
});
