// The envtest fixture API: the shared control plane started by hooks.ts, its clients, and small helpers.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { type ApiConstructor, type ApiType, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";

import type { ControlPlane } from "../../bootstrap/controlplane/engine.ts";

export type { ControlPlane, NodeSpec } from "../../bootstrap/controlplane/engine.ts";

/** Names of the simulated nodes of the shared control plane (the lab's default shape, two workers). */
export const ENVTEST_NODES = {
  controlPlane: "m-k8s",
  workers: ["w1-k8s", "w2-k8s"],
} as const;

/** The shared control plane's timing knobs, so tests can derive their own timeouts from them. */
export const ENVTEST_TIMING = {
  /** kwok renews node Leases every quarter of this. */
  nodeLeaseDurationSeconds: 10,
  /** kube-controller-manager marks a silent node NotReady after this. */
  nodeMonitorGracePeriodSeconds: 16,
} as const;

let shared: ControlPlane | undefined;

/** @internal Set by hooks.ts. */
export function setSharedControlPlane(plane: ControlPlane | undefined): void {
  shared = plane;
}

/**
 * The control plane of the integration suite (controllers on, nodes m-k8s, w1-k8s, w2-k8s). Throws when
 * the suite runs without test/envtest/hooks.ts (use `npm run test:integration`).
 */
export function controlPlane(): ControlPlane {
  if (shared === undefined) {
    throw new Error(
      "no envtest control plane: run with `npm run test:integration` (it loads test/envtest/hooks.ts)",
    );
  }
  return shared;
}

/** Admin KubeConfig of the shared control plane. */
export function kubeConfig(): KubeConfig {
  return controlPlane().kubeConfig;
}

/** A typed API client on the admin credentials: `api(CoreV1Api)`. */
export function api<T extends ApiType>(apiClass: ApiConstructor<T>): T {
  return kubeConfig().makeApiClient(apiClass);
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Polls `condition` until it returns a value other than undefined/false and returns that value. Errors
 * thrown by the condition count as "not yet". On timeout the error names `what` and the last error seen.
 */
export async function waitFor<T>(
  what: string,
  condition: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail =
        lastError === undefined
          ? ""
          : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

/**
 * Creates a namespace with a unique name (`<prefix>-<random>`) so that tests never see each other's
 * objects, and returns its name. Delete it with `deleteNamespace` in an after hook.
 */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await api(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Deletes a namespace (without waiting for its finalizer); a missing one is fine. */
export async function deleteNamespace(name: string): Promise<void> {
  try {
    await api(CoreV1Api).deleteNamespace({ name });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
  }
}

/** `etcdctl snapshot save FILE` against a control plane's etcd with its client certificate (the plain tool). */
export async function etcdctlSnapshot(plane: ControlPlane, file: string): Promise<void> {
  const etcd = plane.etcd;
  await execa(
    plane.binaries.path("etcdctl"),
    [
      `--endpoints=${etcd.endpoint}`,
      `--cacert=${etcd.caCertPath}`,
      `--cert=${etcd.certPath}`,
      `--key=${etcd.keyPath}`,
      "snapshot",
      "save",
      file,
    ],
    { timeout: 60_000 },
  );
}
