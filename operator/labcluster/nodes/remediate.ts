// Node remediation's I/O: one planned action (cordon, drain, continue, time out, undo) carried out on a Node.
import type { Remediation } from "../../api/labcluster.ts";
import { isNotFound } from "../../errors.ts";
import { resourcePath, type KubeClient } from "../../runtime/client.ts";
import { formatTime } from "../../runtime/conditions.ts";
import type { EventRecord } from "../../runtime/events.ts";
import type { PartInput } from "../part.ts";
import { parseRemediationRecord, REMEDIATION_ANNOTATION, type RemediationRecord } from "./cache.ts";
import type { RemediationAction } from "./decide.ts";
import { drainNode } from "./drain.ts";

export interface RemediationDone {
  /** The metric label of what was done, if anything new was. */
  readonly metric: string | undefined;
  /** The node's record afterwards. */
  readonly record: RemediationRecord | undefined;
}

interface NodeObject {
  metadata: { name: string; uid?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
}

/**
 * Carries out one action against the API server and emits its Event. Reads the Node first and writes with
 * its resourceVersion, so a change made meanwhile (someone cordons it) fails the write with a conflict and
 * the next reconcile decides again. Returns undefined when the node's state makes the action moot.
 */
export async function remediate(
  action: RemediationAction,
  remediation: Remediation,
  owner: string,
  now: Date,
  client: KubeClient,
  input: PartInput,
): Promise<RemediationDone | undefined> {
  const path = resourcePath({ group: "", version: "v1", plural: "nodes", name: action.node });
  let node: NodeObject;
  try {
    node = await client.get<NodeObject>(path, { signal: input.signal });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const current = parseRemediationRecord(node.metadata.annotations?.[REMEDIATION_ANNOTATION]);
  const related = {
    apiVersion: "v1",
    kind: "Node",
    name: action.node,
    ...(node.metadata.uid === undefined ? {} : { uid: node.metadata.uid }),
  };
  /** Writes the record (null removes it) and the cordon (false removes spec.unschedulable). */
  const write = async (record: RemediationRecord | null, cordoned: boolean) => {
    node = await client.mergePatch<NodeObject>(
      path,
      {
        metadata: {
          resourceVersion: node.metadata.resourceVersion,
          annotations: { [REMEDIATION_ANNOTATION]: record === null ? null : JSON.stringify(record) },
        },
        spec: { unschedulable: cordoned ? true : null },
      },
      { signal: input.signal },
    );
  };
  const mine = current !== undefined && current.by === owner;
  switch (action.kind) {
    case "undo": {
      if (!mine) return undefined;
      await write(null, false);
      await input.emit({
        type: "Normal",
        reason: "NodeUncordoned",
        action: "Uncordon",
        note: `uncordoned node ${action.node} (${current.action} undone): ${action.why}`,
        related,
      });
      return { metric: "uncordon", record: undefined };
    }
    case "cordon":
    case "drain": {
      // A node cordoned by someone else, or remediated by another LabCluster, is not ours to touch.
      if (current === undefined ? node.spec?.unschedulable === true : !mine) return undefined;
      const record: RemediationRecord = {
        by: owner,
        action: action.kind === "drain" ? "Drain" : "Cordon",
        started: current?.started ?? formatTime(now),
      };
      await write(record, true);
      if (current === undefined) {
        await input.emit({
          type: "Warning",
          reason: "NodeCordoned",
          action: "Cordon",
          note: `cordoned node ${action.node} (remediation ${remediation}): ${action.why}`.slice(0, 1000),
          related,
        });
      }
      if (action.kind === "cordon") return { metric: "cordon", record };
      await input.emit({
        type: "Warning",
        reason: "NodeDrainStarted",
        action: "Drain",
        note: `draining node ${action.node}: evicting its pods through the Eviction API`,
        related,
      });
      return {
        metric: "drain",
        record: await continueDrain(action.node, record, input, client, write, related),
      };
    }
    case "continueDrain": {
      if (!mine || current.action !== "Drain" || current.result !== undefined) return undefined;
      return {
        metric: undefined,
        record: await continueDrain(action.node, current, input, client, write, related),
      };
    }
    case "drainTimedOut": {
      if (!mine || current.result !== undefined) return undefined;
      const record: RemediationRecord = { ...current, result: "TimedOut" };
      await write(record, true);
      await input.emit({
        type: "Warning",
        reason: "NodeDrainTimedOut",
        action: "Drain",
        note: `drain of node ${action.node} timed out (${action.why}); it stays cordoned and its remaining pods were not deleted`,
        related,
      });
      return { metric: "drain_timeout", record };
    }
  }
}

/** One eviction pass; records Drained when no evictable pod is left. Returns the record afterwards. */
async function continueDrain(
  nodeName: string,
  record: RemediationRecord,
  input: PartInput,
  client: KubeClient,
  write: (record: RemediationRecord | null, cordoned: boolean) => Promise<void>,
  related: NonNullable<EventRecord["related"]>,
): Promise<RemediationRecord> {
  const progress = await drainNode(client, nodeName, input.signal);
  if (progress.blocked > 0) {
    input.log.info("drain in progress", { node: nodeName, ...progress });
    return record;
  }
  const drained: RemediationRecord = {
    ...record,
    result: "Drained",
    unmanagedPods: progress.unmanaged.length,
  };
  await write(drained, true);
  const left =
    progress.unmanaged.length === 0
      ? ""
      : `; left ${progress.unmanaged.length} pods not managed by a controller: ${progress.unmanaged.slice(0, 5).join(", ")}`;
  await input.emit({
    type: "Warning",
    reason: "NodeDrained",
    action: "Drain",
    note: `drained node ${nodeName}${left}`.slice(0, 1000),
    related,
  });
  return drained;
}
