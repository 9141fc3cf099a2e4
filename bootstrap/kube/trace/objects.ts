// The parts of API objects a trace reads, typed as the API serves them as JSON (times are RFC 3339 strings).

/** metadata.managedFields[]: who last wrote which fields, and when (whole seconds). */
export interface ManagedFieldsEntry {
  readonly manager?: string;
  readonly operation?: string;
  readonly subresource?: string;
  readonly time?: string;
  readonly fieldsV1?: Readonly<Record<string, unknown>>;
}

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid: string;
  readonly creationTimestamp: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly OwnerReference[];
  readonly managedFields?: readonly ManagedFieldsEntry[];
}

/** Any object of the chain that made the pod: Deployment, ReplicaSet, StatefulSet, Job... */
export interface TracedObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta;
}

export interface PodCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string | null;
}

export interface ContainerState {
  readonly waiting?: { readonly reason?: string; readonly message?: string };
  readonly running?: { readonly startedAt?: string };
  readonly terminated?: {
    readonly exitCode?: number;
    readonly reason?: string;
    readonly message?: string;
    readonly startedAt?: string;
    readonly finishedAt?: string;
  };
}

export interface ContainerStatus {
  readonly name: string;
  readonly image?: string;
  readonly ready?: boolean;
  readonly restartCount?: number;
  readonly state?: ContainerState;
}

export interface TracedPod extends TracedObject {
  readonly spec: {
    readonly nodeName?: string;
    readonly schedulerName?: string;
    readonly hostNetwork?: boolean;
    readonly restartPolicy?: string;
    readonly containers: readonly { readonly name: string; readonly image?: string }[];
    readonly initContainers?: readonly { readonly name: string; readonly image?: string }[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly reason?: string;
    readonly message?: string;
    readonly conditions?: readonly PodCondition[];
    readonly podIP?: string;
    readonly podIPs?: readonly { readonly ip: string }[];
    readonly hostIP?: string;
    readonly containerStatuses?: readonly ContainerStatus[];
    readonly initContainerStatuses?: readonly ContainerStatus[];
  };
}

/** An Event as events.k8s.io/v1 serves it (the same objects as core/v1 Events, with the newer field names). */
export interface TracedEvent {
  readonly metadata: { readonly name: string; readonly creationTimestamp?: string };
  /** Set, to the microsecond, by components that write events.k8s.io Events (the scheduler). */
  readonly eventTime?: string | null;
  readonly series?: { readonly count?: number; readonly lastObservedTime?: string } | null;
  readonly reportingController?: string;
  readonly reportingInstance?: string;
  readonly action?: string;
  readonly reason?: string;
  readonly note?: string;
  readonly type?: string;
  readonly regarding?: {
    readonly kind?: string;
    readonly namespace?: string;
    readonly name?: string;
    readonly uid?: string;
  };
  /** core/v1's source, firstTimestamp, lastTimestamp and count (whole seconds), kept by the v1 API. */
  readonly deprecatedSource?: { readonly component?: string; readonly host?: string };
  readonly deprecatedFirstTimestamp?: string | null;
  readonly deprecatedLastTimestamp?: string | null;
  readonly deprecatedCount?: number;
}

export interface TracedNode {
  readonly metadata: { readonly name: string };
  readonly status?: {
    readonly addresses?: readonly { readonly type: string; readonly address: string }[];
    readonly nodeInfo?: {
      readonly kubeletVersion?: string;
      readonly containerRuntimeVersion?: string;
      readonly osImage?: string;
      readonly kernelVersion?: string;
    };
  };
}

/** The CNI's agent on the pod's node (calico-node, kube-router...), as found in kube-system. */
export interface CniAgent {
  readonly namespace: string;
  readonly name: string;
  readonly ready: boolean;
}

/** Everything a trace is built from, all read from the API. */
export interface TraceInput {
  /** The chain of controllers above the pod, the top one first (Deployment, then ReplicaSet). */
  readonly owners: readonly TracedObject[];
  /** Absent when a Deployment's controller has not made a pod (yet). */
  readonly pod?: TracedPod;
  /** The pod's node, once scheduled. */
  readonly node?: TracedNode;
  /** Events about the pod and its owners. */
  readonly events: readonly TracedEvent[];
  readonly cniAgent?: CniAgent;
}
