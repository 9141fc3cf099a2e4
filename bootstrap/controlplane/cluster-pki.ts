// The control plane's PKI: kubeadm's file layout, and every certificate the components and clients use.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";

import { nthAddress, parseCidr } from "../lab/ipv4.ts";
import { KWOK_USER } from "./kwok.ts";
import { allExist, CertificateAuthority, createSigningKeyPair, type KeyPairPaths } from "./pki.ts";

/** The paths of the control plane's PKI (kubeadm's file names). */
export interface ControlPlanePki {
  readonly dir: string;
  readonly ca: KeyPairPaths;
  readonly apiServer: KeyPairPaths;
  readonly apiServerEtcdClient: KeyPairPaths;
  readonly admin: KeyPairPaths;
  readonly controllerManager: KeyPairPaths;
  readonly controllerManagerServing: KeyPairPaths;
  readonly scheduler: KeyPairPaths;
  readonly schedulerServing: KeyPairPaths;
  readonly kwok: KeyPairPaths;
  readonly serviceAccount: { readonly privateKeyPath: string; readonly publicKeyPath: string };
  readonly etcdCa: KeyPairPaths;
  readonly etcdServer: KeyPairPaths;
  readonly etcdPeer: KeyPairPaths;
  readonly etcdHealthcheckClient: KeyPairPaths;
}

/** Where each file of the PKI lives under `dir`. */
export function pkiLayout(dir: string): ControlPlanePki {
  const pair = (name: string): KeyPairPaths => ({
    certPath: join(dir, `${name}.crt`),
    keyPath: join(dir, `${name}.key`),
  });
  return {
    dir,
    ca: pair("ca"),
    apiServer: pair("apiserver"),
    apiServerEtcdClient: pair("apiserver-etcd-client"),
    admin: pair("admin"),
    controllerManager: pair("controller-manager"),
    controllerManagerServing: pair("controller-manager-serving"),
    scheduler: pair("scheduler"),
    schedulerServing: pair("scheduler-serving"),
    kwok: pair("kwok"),
    serviceAccount: { privateKeyPath: join(dir, "sa.key"), publicKeyPath: join(dir, "sa.pub") },
    etcdCa: pair("etcd/ca"),
    etcdServer: pair("etcd/server"),
    etcdPeer: pair("etcd/peer"),
    etcdHealthcheckClient: pair("etcd/healthcheck-client"),
  };
}

export interface PkiOptions {
  readonly serviceCidr: string;
  readonly dnsDomain: string;
  /** The API server's advertised address (in its certificate). */
  readonly advertiseAddress: string;
  /** Extra DNS names and IP addresses for the API server certificate. */
  readonly apiServerSans?: readonly string[];
}

/**
 * Makes the PKI unless a complete one is already there (a restarted sim lab keeps its CA, so kubeconfigs
 * stay valid): a Kubernetes CA with the API server's serving certificate (loopback, the `kubernetes`
 * Service's IP and names, the advertised address), client certificates (admin in system:masters,
 * controller-manager, scheduler, kwok), serving certificates of the controller-manager and scheduler, the
 * service-account key pair; an etcd CA with server, peer and client certificates. A partial PKI is remade.
 */
export async function ensureControlPlanePki(pki: ControlPlanePki, options: PkiOptions): Promise<void> {
  const every = Object.values(pki).flatMap((entry: unknown) =>
    typeof entry === "string" ? [] : Object.values(entry as Record<string, string>),
  );
  if (await allExist(every)) return;
  await rm(pki.dir, { recursive: true, force: true });
  await mkdir(join(pki.dir, "etcd"), { recursive: true, mode: 0o700 });
  const serviceIp = nthAddress(parseCidr(options.serviceCidr), 1);
  const extra = options.apiServerSans ?? [];
  const isIp = (value: string): boolean => /^\d+\.\d+\.\d+\.\d+$/.test(value);
  const loopback = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };

  const ca = await CertificateAuthority.create(pki.dir, "ca", "kubernetes");
  await ca.issue({
    name: "apiserver",
    commonName: "kube-apiserver",
    server: true,
    dnsNames: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      `kubernetes.default.svc.${options.dnsDomain}`,
      ...extra.filter((name) => !isIp(name)),
    ],
    ipAddresses: ["127.0.0.1", serviceIp, options.advertiseAddress, ...extra.filter(isIp)],
  });
  await ca.issue({
    name: "admin",
    commonName: "kubernetes-admin",
    organizations: ["system:masters"],
    client: true,
  });
  await ca.issue({ name: "controller-manager", commonName: "system:kube-controller-manager", client: true });
  await ca.issue({
    name: "controller-manager-serving",
    commonName: "kube-controller-manager",
    server: true,
    ...loopback,
  });
  await ca.issue({ name: "scheduler", commonName: "system:kube-scheduler", client: true });
  await ca.issue({ name: "scheduler-serving", commonName: "kube-scheduler", server: true, ...loopback });
  await ca.issue({ name: "kwok", commonName: KWOK_USER, client: true });
  await createSigningKeyPair(pki.dir, "sa");

  const etcdCa = await CertificateAuthority.create(join(pki.dir, "etcd"), "ca", "etcd-ca");
  await etcdCa.issue({ name: "server", commonName: "etcd-server", server: true, client: true, ...loopback });
  await etcdCa.issue({ name: "peer", commonName: "etcd-peer", server: true, client: true, ...loopback });
  await etcdCa.issue({
    name: "healthcheck-client",
    commonName: "kube-etcd-healthcheck-client",
    client: true,
  });
  // The API server's etcd client certificate lives next to the other apiserver files, as with kubeadm.
  await etcdCa.issue(
    { name: "apiserver-etcd-client", commonName: "kube-apiserver-etcd-client", client: true },
    pki.dir,
  );
}
