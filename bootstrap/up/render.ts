// Every file `up` renders into .kubelab/ from the lab: provider files, kubeadm configs, node scripts.
import { join } from "node:path";

import type { Lab, LabNode } from "../lab/config.ts";
import { FileMode, writeFileAtomic } from "../files.ts";
import { renderInitConfiguration, renderJoinConfiguration } from "../provision/kubeadm.ts";
import { renderInitScript } from "../provision/init.ts";
import { renderInstallScript, type InstallSources } from "../provision/packages.ts";
import { renderJoinScript, renderRevokeTokenScript, renderTokenScript } from "../provision/join.ts";
import { renderPrepareScript } from "../provision/prepare.ts";
import type { Provider } from "../providers/provider.ts";

/** One rendered file; `path` is relative to the work dir. Secrets are written with mode 0600. */
export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  readonly secret: boolean;
}

/**
 * Stands in for the CA hash in join files rendered before `kubeadm init` made the CA (dry runs, the
 * first render). The join step renders them again with the real hash before running them.
 */
export const CA_HASH_PENDING = "sha256:<known after kubeadm init>";

export interface RenderInput {
  readonly lab: Lab;
  readonly provider: Pick<Provider, "renderFiles" | "capabilities">;
  /** The current bootstrap token. */
  readonly token: string;
  /** Known once the control plane exists; CA_HASH_PENDING before. */
  readonly caCertHash?: string;
  /** Where install.sh takes packages and images from (lab/sources.ts installSources). */
  readonly sources: InstallSources;
}

/** Relative paths of a node's rendered files. */
export const nodeFiles = {
  prepare: (node: string) => join("nodes", node, "prepare.sh"),
  install: (node: string) => join("nodes", node, "install.sh"),
  init: (node: string) => join("nodes", node, "init.sh"),
  initConfig: (node: string) => join("nodes", node, "kubeadm-init.yaml"),
  join: (node: string) => join("nodes", node, "join.sh"),
  joinConfig: (node: string) => join("nodes", node, "kubeadm-join.yaml"),
  token: (node: string) => join("nodes", node, "token.sh"),
  revokeToken: (node: string) => join("nodes", node, "revoke-token.sh"),
};

/**
 * All files of a lab, pure: the provider's own (Vagrantfile, nodes.json), then for providers that
 * install Kubernetes every node's prepare.sh and install.sh, the control plane's init.sh and kubeadm
 * config, and each worker's join.sh and kubeadm config. The kubeadm configs are copies of what the
 * scripts embed, for reading. Sorted by path so listings and golden files are stable.
 */
export function renderLabFiles(input: RenderInput): RenderedFile[] {
  const { lab, provider, token } = input;
  const files: RenderedFile[] = [];
  for (const [path, content] of provider.renderFiles(lab)) files.push({ path, content, secret: false });
  if (provider.capabilities.installsKubernetes) {
    for (const node of lab.nodes) {
      files.push({
        path: nodeFiles.prepare(node.name),
        content: renderPrepareScript(lab, node),
        secret: false,
      });
      files.push({
        path: nodeFiles.install(node.name),
        content: renderInstallScript(lab, node, input.sources),
        secret: false,
      });
    }
    const controlPlane = lab.controlPlane.name;
    files.push({ path: nodeFiles.init(controlPlane), content: renderInitScript(lab, token), secret: true });
    files.push({
      path: nodeFiles.initConfig(controlPlane),
      content: renderInitConfiguration(lab, token),
      secret: true,
    });
    for (const worker of lab.workers)
      files.push(...renderJoinFiles(lab, worker, token, input.caCertHash ?? CA_HASH_PENDING));
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A worker's join.sh and its kubeadm config (both hold the token, so both are secret). */
export function renderJoinFiles(
  lab: Lab,
  worker: LabNode,
  token: string,
  caCertHash: string,
): RenderedFile[] {
  return [
    {
      path: nodeFiles.join(worker.name),
      content: renderJoinScript(lab, worker, token, caCertHash),
      secret: true,
    },
    {
      path: nodeFiles.joinConfig(worker.name),
      content: renderJoinConfiguration(lab, worker, token, caCertHash),
      secret: true,
    },
  ];
}

/** token.sh for the control plane (mints `token` for late joins). */
export function renderTokenFile(lab: Lab, token: string): RenderedFile {
  return {
    path: nodeFiles.token(lab.controlPlane.name),
    content: renderTokenScript(lab, token),
    secret: true,
  };
}

/** revoke-token.sh for the control plane (deletes the join token `tokenId` after the last join). */
export function renderRevokeTokenFile(lab: Lab, tokenId: string): RenderedFile {
  return {
    path: nodeFiles.revokeToken(lab.controlPlane.name),
    content: renderRevokeTokenScript(lab, tokenId),
    secret: false,
  };
}

/** Writes rendered files under `root`; returns how many changed on disk. */
export async function writeRenderedFiles(root: string, files: readonly RenderedFile[]): Promise<number> {
  let changed = 0;
  for (const file of files) {
    const mode = file.secret
      ? FileMode.secret
      : file.path.endsWith(".sh")
        ? FileMode.executable
        : FileMode.public;
    if (await writeFileAtomic(join(root, file.path), file.content, mode)) changed++;
  }
  return changed;
}
