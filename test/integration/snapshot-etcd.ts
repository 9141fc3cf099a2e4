// A standalone etcd with mutual TLS on loopback for the snapshot agent's tests and benchmark, plus data loading.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ensureBinaries } from "../../bootstrap/controlplane/binaries.ts";
import { CertificateAuthority, type KeyPairPaths } from "../../bootstrap/controlplane/pki.ts";
import { freePorts } from "../../bootstrap/controlplane/ports.ts";
import { ManagedProcess } from "../../bootstrap/controlplane/process.ts";
import { EtcdClient, type EtcdConnectionOptions } from "../../operator/snapshot/etcd-client.ts";

export interface TestEtcd {
  readonly dir: string;
  readonly endpoint: string;
  /** Credentials etcd trusts (kubeadm's healthcheck-client equivalent). */
  readonly connection: EtcdConnectionOptions;
  /** A CA and a client certificate etcd does not trust. */
  readonly untrusted: { readonly caCertPath: string } & KeyPairPaths;
  readonly etcdctl: string;
  readonly etcdutl: string;
  readonly logPath: string;
  /** A connected client (closed by stop). */
  readonly client: EtcdClient;
  stop(): Promise<void>;
}

export interface TestEtcdOptions {
  /** --quota-backend-bytes; default 8 GiB so that benchmarks can load large data sets. */
  readonly quotaBytes?: number;
  /** --unsafe-no-fsync: loads data faster; the snapshot path is unaffected (it streams from bolt). */
  readonly unsafeNoFsync?: boolean;
}

/**
 * Starts etcd (the pinned binary set) with client-cert auth on free loopback ports in a temporary
 * directory, and waits until it answers Maintenance.Status over mTLS. stop() kills it and removes the dir.
 */
export async function startTestEtcd(options: TestEtcdOptions = {}): Promise<TestEtcd> {
  const binaries = await ensureBinaries({ required: ["etcd", "etcdctl", "etcdutl"] });
  const dir = await mkdtemp(join(tmpdir(), "kubelab-snapshot-etcd-"));
  const loopback = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };
  const ca = await CertificateAuthority.create(join(dir, "pki"), "ca", "etcd-ca");
  const server = await ca.issue({ name: "server", commonName: "etcd", server: true, ...loopback });
  const peer = await ca.issue({
    name: "peer",
    commonName: "etcd-peer",
    server: true,
    client: true,
    ...loopback,
  });
  const client = await ca.issue({
    name: "healthcheck-client",
    commonName: "kube-etcd-healthcheck-client",
    client: true,
  });
  const otherCa = await CertificateAuthority.create(join(dir, "untrusted"), "ca", "someone-else");
  const intruder = await otherCa.issue({ name: "client", commonName: "intruder", client: true });

  const [clientPort, peerPort] = await freePorts(2);
  const endpoint = `https://127.0.0.1:${clientPort}`;
  const peerUrl = `https://127.0.0.1:${peerPort}`;
  const logPath = join(dir, "etcd.log");
  const etcd = await ManagedProcess.start({
    name: "etcd",
    command: binaries.path("etcd"),
    logPath,
    stopGraceMs: 5_000,
    args: [
      "--name=test",
      `--data-dir=${join(dir, "data")}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      `--initial-cluster-token=snapshot-test-${randomBytes(4).toString("hex")}`,
      "--client-cert-auth=true",
      `--trusted-ca-file=${ca.certPath}`,
      `--cert-file=${server.certPath}`,
      `--key-file=${server.keyPath}`,
      "--peer-client-cert-auth=true",
      `--peer-trusted-ca-file=${ca.certPath}`,
      `--peer-cert-file=${peer.certPath}`,
      `--peer-key-file=${peer.keyPath}`,
      `--quota-backend-bytes=${options.quotaBytes ?? 8 * 2 ** 30}`,
      "--max-request-bytes=2097152",
      ...(options.unsafeNoFsync === true ? ["--unsafe-no-fsync=true"] : []),
    ],
  });
  const connection: EtcdConnectionOptions = {
    endpoint,
    caCertPath: ca.certPath,
    certPath: client.certPath,
    keyPath: client.keyPath,
  };
  let etcdClient: EtcdClient | undefined;
  const stop = async (): Promise<void> => {
    etcdClient?.close();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    etcdClient = await EtcdClient.connect(connection);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await etcdClient.status();
        break;
      } catch (error) {
        if (!etcd.running || Date.now() > deadline) {
          throw new Error(`etcd did not become ready: ${(error as Error).message}\n${etcd.logTail()}`, {
            cause: error,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    dir,
    endpoint,
    connection,
    untrusted: { caCertPath: otherCa.certPath, ...intruder },
    etcdctl: binaries.path("etcdctl"),
    etcdutl: binaries.path("etcdutl"),
    logPath,
    client: etcdClient,
    stop,
  };
}

/**
 * Puts `totalBytes` of random values (1 MiB each, `parallel` at a time) under `/load/<prefix>/`, and returns
 * the number of keys written. Random values: nothing compresses, the snapshot is at least that large.
 */
export async function loadData(
  client: EtcdClient,
  totalBytes: number,
  options: { prefix?: string; valueBytes?: number; parallel?: number } = {},
): Promise<number> {
  const valueBytes = options.valueBytes ?? 1024 * 1024;
  const count = Math.ceil(totalBytes / valueBytes);
  const prefix = options.prefix ?? randomBytes(3).toString("hex");
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await client.put(`/load/${prefix}/${String(index).padStart(8, "0")}`, randomBytes(valueBytes));
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 4 }, worker));
  return count;
}
