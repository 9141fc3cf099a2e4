// Records snapshots as EtcdSnapshot objects (server-side apply), owned by their LabCluster.
import {
  ETCDSNAPSHOT_API_VERSION,
  ETCDSNAPSHOT_KIND,
  ETCDSNAPSHOT_PLURAL,
  type EtcdSnapshotSpec,
  type SnapshotRecord,
} from "../api/etcdsnapshot.ts";
import { API_GROUP, API_VERSION } from "../api/common.ts";
import { LABCLUSTER_API_VERSION, LABCLUSTER_KIND } from "../api/labcluster.ts";
import { type KubeClient, resourcePath } from "../runtime/client.ts";
import type { Logger } from "../runtime/log.ts";
import type { SnapshotRecorder } from "./recorder.ts";

/** The field manager of the agent's writes. */
export const AGENT_FIELD_MANAGER = "kubelab-snapshot-agent";
/** Labels of every EtcdSnapshot the agent writes: which node's directory holds the file, which lab. */
export const SNAPSHOT_LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  node: "kubelab.dev/node",
  labCluster: "kubelab.dev/lab-cluster",
} as const;

/** The collection path of EtcdSnapshots, or one of them (with `/status`). */
export function etcdSnapshotPath(name?: string, subresource?: "status"): string {
  return resourcePath({
    group: API_GROUP,
    version: API_VERSION,
    plural: ETCDSNAPSHOT_PLURAL,
    ...(name === undefined ? {} : { name }),
    ...(subresource === undefined ? {} : { subresource }),
  });
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A label value, or undefined when the text cannot be one (longer than 63, odd characters). */
function labelValue(text: string): string | undefined {
  return text.length <= 63 && LABEL_VALUE.test(text) ? text : undefined;
}

export interface EtcdSnapshotRecorderOptions {
  readonly client: KubeClient;
  /** The backup directory on the node (recorded in spec.directory). */
  readonly directory: string;
  readonly node: string;
  /**
   * The LabCluster the snapshots belong to: sync touches only its objects; with its uid the objects are
   * owned by it (garbage-collected with it).
   */
  readonly labCluster?: { readonly name: string; readonly uid?: string };
  readonly log: Logger;
}

/** The EtcdSnapshot object of a record (spec and labels; status is written separately). */
export function etcdSnapshotObject(
  record: SnapshotRecord,
  options: Pick<EtcdSnapshotRecorderOptions, "directory" | "labCluster">,
): Record<string, unknown> {
  const { schema: _schema, name, verification: _verification, ...facts } = record;
  const spec: EtcdSnapshotSpec = { ...facts, directory: options.directory };
  const labels: Record<string, string> = { [SNAPSHOT_LABELS.managedBy]: AGENT_FIELD_MANAGER };
  const node = labelValue(record.node);
  if (node !== undefined) labels[SNAPSHOT_LABELS.node] = node;
  const lab = record.labCluster === undefined ? undefined : labelValue(record.labCluster);
  if (lab !== undefined) labels[SNAPSHOT_LABELS.labCluster] = lab;
  return {
    apiVersion: ETCDSNAPSHOT_API_VERSION,
    kind: ETCDSNAPSHOT_KIND,
    metadata: {
      name,
      labels,
      ...(options.labCluster?.uid === undefined
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: LABCLUSTER_API_VERSION,
                kind: LABCLUSTER_KIND,
                name: options.labCluster.name,
                uid: options.labCluster.uid,
              },
            ],
          }),
    },
    spec,
  };
}

/**
 * Writes one EtcdSnapshot per committed snapshot of this node's directory and deletes those it pruned.
 * `sync` makes the objects match the records on disk: after a run that failed half-way, and after a
 * restore, when etcd holds the objects of the restored moment. It only ever touches objects labelled with
 * its node and its LabCluster (or with no LabCluster, when it has none), so two control-plane nodes, or
 * two LabClusters, never delete each other's.
 */
export class EtcdSnapshotRecorder implements SnapshotRecorder {
  readonly description = "EtcdSnapshot objects";
  readonly #options: EtcdSnapshotRecorderOptions;

  constructor(options: EtcdSnapshotRecorderOptions) {
    this.#options = options;
  }

  async record(record: SnapshotRecord): Promise<void> {
    const { client } = this.#options;
    await client.apply(
      etcdSnapshotPath(record.name),
      etcdSnapshotObject(record, this.#options),
      AGENT_FIELD_MANAGER,
    );
    await client.apply(
      etcdSnapshotPath(record.name, "status"),
      {
        apiVersion: ETCDSNAPSHOT_API_VERSION,
        kind: ETCDSNAPSHOT_KIND,
        metadata: { name: record.name },
        status: { verification: record.verification },
      },
      AGENT_FIELD_MANAGER,
    );
  }

  async remove(name: string): Promise<void> {
    await this.#options.client.delete(etcdSnapshotPath(name));
  }

  async sync(records: readonly SnapshotRecord[]): Promise<{ recorded: string[]; removed: string[] }> {
    const node = labelValue(this.#options.node);
    if (node === undefined) return { recorded: [], removed: [] };
    const lab =
      this.#options.labCluster === undefined ? undefined : labelValue(this.#options.labCluster.name);
    if (this.#options.labCluster !== undefined && lab === undefined) return { recorded: [], removed: [] };
    const selector = [
      `${SNAPSHOT_LABELS.node}=${node}`,
      `${SNAPSHOT_LABELS.managedBy}=${AGENT_FIELD_MANAGER}`,
      lab === undefined ? `!${SNAPSHOT_LABELS.labCluster}` : `${SNAPSHOT_LABELS.labCluster}=${lab}`,
    ].join(",");
    const listed = await this.#options.client.get<{ items?: { metadata: { name: string } }[] }>(
      etcdSnapshotPath(),
      { query: { labelSelector: selector } },
    );
    const existing = new Set((listed.items ?? []).map((item) => item.metadata.name));
    const wanted = new Set(records.map((record) => record.name));
    const recorded: string[] = [];
    const removed: string[] = [];
    // Every record is written again, not only missing ones: an object restored with etcd may carry an
    // older moment's status (a verification since repeated). Applying the same content changes nothing.
    for (const record of records) {
      await this.record(record);
      if (!existing.has(record.name)) {
        recorded.push(record.name);
        this.#options.log.info("recorded a missing EtcdSnapshot", { snapshot: record.name });
      }
    }
    for (const name of existing) {
      if (wanted.has(name)) continue;
      await this.remove(name);
      removed.push(name);
      this.#options.log.info("deleted an EtcdSnapshot whose file is gone", { snapshot: name });
    }
    return { recorded, removed };
  }
}
