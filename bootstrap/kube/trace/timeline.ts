// A pod's path through the components as one timeline, built from API objects, Events and managedFields (pure).
import type {
  ContainerStatus,
  ManagedFieldsEntry,
  ObjectMeta,
  PodCondition,
  TracedEvent,
  TracedObject,
  TraceInput,
} from "./objects.ts";

/** Who talks to whom in the sequence diagram. */
export type Participant =
  "client" | "apiserver" | "etcd" | "controller" | "scheduler" | "kubelet" | "runtime" | "cni";

/** How exact a step's time is: the API keeps most times to the second, events.k8s.io's eventTime to the µs. */
export type TimePrecision = "second" | "microsecond";

/** One thing a component did, with the time the API recorded for it and where that was read. */
export interface TraceStep {
  /** Stable within a trace ("accepted", "created:ReplicaSet", "event:Pulled", "condition:Ready", "ip"). */
  readonly id: string;
  /** The component as a learner knows it: kube-apiserver, etcd, kube-controller-manager, kubelet... */
  readonly component: string;
  readonly what: string;
  /** As the API gave it (RFC 3339); absent when the API records no time for this step. */
  readonly time?: string;
  readonly precision?: TimePrecision;
  /** Milliseconds after the trace's first step. */
  readonly offsetMs?: number;
  /** Why there is no time, when there is none. */
  readonly untimed?: string;
  /** Where it was read: the field, the Event, the managedFields entry. */
  readonly evidence: string;
  /** A Warning Event or a condition that holds the pod back. */
  readonly warning: boolean;
  readonly from: Participant;
  readonly to: Participant;
}

export type TraceState = "Ready" | "Succeeded" | "Failed" | "InProgress";

export interface TraceOutcome {
  readonly state: TraceState;
  /** Failed: the component where the pod stopped. InProgress: the one it waits for. */
  readonly component?: string;
  /** Failed: the machine-readable reason (FailedScheduling, ErrImagePull...). */
  readonly reason?: string;
  /** One sentence: what happened or what is awaited. */
  readonly message: string;
  readonly time?: string;
  readonly offsetMs?: number;
}

export interface Timeline {
  /** What was traced: the object named on the command line. */
  readonly subject: { readonly kind: string; readonly namespace?: string; readonly name: string };
  readonly pod?: { readonly namespace?: string; readonly name: string; readonly uid: string };
  readonly node?: {
    readonly name: string;
    readonly kubeletVersion?: string;
    readonly containerRuntimeVersion?: string;
    readonly internalIP?: string;
    /** True on sim: kwok writes the pod's status and Events; no container runs. */
    readonly simulated: boolean;
  };
  /** Who each participant of the sequence diagram is in this trace ("kubectl-create", "kubelet on w1-k8s"). */
  readonly participants: Readonly<Record<Participant, string>>;
  /** The time of the earliest timed step: offsets count from here. */
  readonly origin?: string;
  readonly steps: readonly TraceStep[];
  readonly outcome: TraceOutcome;
  /** What the reader must know to read the times and actors right (sim, precision, missing owners). */
  readonly notes: readonly string[];
}

/** Controllers of kube-controller-manager by the kind they own (the name they report Events as). */
const CONTROLLER_OF_KIND: Readonly<Record<string, string>> = {
  Deployment: "deployment-controller",
  ReplicaSet: "replicaset-controller",
  StatefulSet: "statefulset-controller",
  DaemonSet: "daemonset-controller",
  Job: "job-controller",
  CronJob: "cronjob-controller",
  ReplicationController: "replication-controller",
};

/** Container waiting reasons after which the kubelet keeps failing until something is changed. */
const FAILED_WAITING_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "PreCreateHookError",
  "PostStartHookError",
]);

/** Warning Events of the kubelet that mean the pod cannot start (the sandbox or its network failed). */
const FAILED_NODE_EVENTS = new Set(["FailedCreatePodSandBox", "FailedKillPod"]);

/** Order of what happens on the node, for steps recorded in the same second. */
const NODE_RANK: Readonly<Record<string, number>> = {
  "condition:PodReadyToStartContainers": 10,
  ip: 15,
  "condition:Initialized": 20,
  "event:Pulling": 30,
  "event:Pulled": 40,
  "event:Created": 50,
  "event:Started": 60,
  container: 65,
  "condition:ContainersReady": 70,
  "condition:Ready": 80,
};
const NODE_RANK_DEFAULT = 55;

interface DraftStep extends Omit<TraceStep, "offsetMs"> {
  /** Order among the steps on the node (ties and untimed steps). */
  readonly rank: number;
  readonly phase: number;
}

const PHASE = { accepted: 0, etcd: 1, controllers: 2, scheduler: 3, node: 4 } as const;

/**
 * The timeline of `input`: the API server's acceptance of the top object (creationTimestamp, the sender
 * from managedFields), etcd's write (implied, never timed), each controller's creation (ownerReferences,
 * managedFields, its Event), the scheduler's decision (PodScheduled, Scheduled/FailedScheduling), then on
 * the node the kubelet's Events, the pod's conditions, its address and its containers, by time. Nothing is
 * guessed: a step the API records no time for says so, and `outcome` names where a failed pod stopped.
 */
export function buildTimeline(input: TraceInput, subject: Timeline["subject"]): Timeline {
  const chain: TracedObject[] = [...input.owners, ...(input.pod === undefined ? [] : [input.pod])];
  const top = chain[0];
  const notes: string[] = [];
  const drafts: DraftStep[] = [];
  const simulated = isSimulatedRuntime(input.node?.status?.nodeInfo?.containerRuntimeVersion);
  const eventsOf = (object: TracedObject): TracedEvent[] =>
    input.events.filter((event) => regards(event, object.metadata)).sort(byEventTime);

  if (top !== undefined) {
    drafts.push(acceptedStep(top));
    drafts.push({
      id: "etcd",
      component: "etcd",
      what: `stored ${top.kind ?? "the object"} ${top.metadata.name}`,
      untimed:
        "not timed: implied by the API server's acceptance (it answers a create only once etcd committed it)",
      evidence: "no field or Event records it",
      warning: false,
      from: "apiserver",
      to: "etcd",
      rank: 0,
      phase: PHASE.etcd,
    });
    const controllerRef = top.metadata.ownerReferences?.find((reference) => reference.controller === true);
    if (controllerRef?.kind === "Node") {
      notes.push(
        `${top.metadata.name} is a static pod: the kubelet on ${controllerRef.name} runs it from a manifest file ` +
          "(/etc/kubernetes/manifests), and what the API accepted is its mirror pod, written by that kubelet",
      );
    } else if (controllerRef !== undefined) {
      notes.push(
        `${top.kind ?? "It"} ${top.metadata.name} is controlled by ${controllerRef.kind} ${controllerRef.name}, ` +
          "which the trace could not read: the chain starts below it",
      );
    }
  }
  chain.slice(1).forEach((child, index) => {
    const owner = chain[index]!;
    drafts.push(createdStep(owner, child, eventsOf(owner), index));
  });
  // Warning Events on the controllers (FailedCreate: a quota, an admission webhook) hold the pod back there.
  input.owners.forEach((owner, index) => {
    for (const group of groupRepeats(eventsOf(owner).filter((event) => event.type === "Warning"))) {
      const event = group[0]!;
      drafts.push({
        ...eventStep(group, `warning:${owner.kind ?? "owner"}:${event.reason ?? ""}`),
        component: componentOfReporter(reporterOf(event)),
        from: "controller",
        to: "apiserver",
        rank: index + 0.5,
        phase: PHASE.controllers,
      });
    }
  });

  const pod = input.pod;
  if (pod !== undefined) {
    const podEvents = eventsOf(pod);
    const schedulerName = pod.spec.schedulerName ?? "default-scheduler";
    const conditions = pod.status?.conditions ?? [];
    const condition = (type: string): PodCondition | undefined => conditions.find((c) => c.type === type);
    const fromScheduler = (event: TracedEvent): boolean =>
      reporterOf(event) === schedulerName ||
      event.reason === "Scheduled" ||
      event.reason === "FailedScheduling";

    drafts.push(...schedulerSteps(pod.spec.nodeName, schedulerName, condition("PodScheduled"), podEvents));

    const nodeName = pod.spec.nodeName;
    for (const group of groupRepeats(podEvents.filter((event) => !fromScheduler(event)))) {
      const event = group[0]!;
      const reporter = reporterOf(event);
      const onNode = reporter === "kubelet" || reporter.startsWith("kwok");
      drafts.push({
        ...eventStep(group, `event:${event.reason ?? ""}`),
        component: onNode ? (simulated ? "kwok" : "kubelet") : componentOfReporter(reporter),
        from: onNode ? "kubelet" : "controller",
        to: onNode ? "runtime" : "apiserver",
        rank: NODE_RANK[`event:${event.reason ?? ""}`] ?? NODE_RANK_DEFAULT,
        phase: PHASE.node,
      });
    }
    if (nodeName !== undefined) {
      for (const c of conditions.filter((c) => c.type !== "PodScheduled")) {
        drafts.push(conditionStep(c, simulated));
      }
      const ipStep = addressStep(pod, condition("PodReadyToStartContainers"), input, simulated);
      if (ipStep !== undefined) drafts.push(ipStep);
      for (const status of [
        ...(pod.status?.initContainerStatuses ?? []),
        ...(pod.status?.containerStatuses ?? []),
      ]) {
        const step = containerStep(status, input.node?.status?.nodeInfo?.containerRuntimeVersion, simulated);
        if (step !== undefined) drafts.push(step);
      }
    }
  }

  const steps = orderSteps(drafts);
  const origin = steps.map((step) => step.time).find((time) => time !== undefined);
  const originMs = origin === undefined ? undefined : Date.parse(origin);
  const timed = steps.map(({ rank: _rank, phase: _phase, ...step }): TraceStep => {
    if (step.time === undefined || originMs === undefined) return step;
    return { ...step, offsetMs: Math.max(0, Date.parse(step.time) - originMs) };
  });
  const earliestTime = timed
    .map((step) => step.time)
    .filter((time): time is string => time !== undefined)
    .sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  const outcome = outcomeOf(input, simulated);
  const precisions = new Set(timed.map((step) => step.precision).filter((p) => p !== undefined));
  if (precisions.size > 1) {
    notes.push(
      "Times come from the API: whole seconds for creationTimestamp, managedFields, conditions and core " +
        "Events; microseconds for Events written through events.k8s.io (eventTime). Offsets count from the " +
        "first whole second",
    );
  }
  if (simulated && input.node !== undefined) {
    notes.push(
      `sim: ${input.node.metadata.name} is a KWOK node: kwok writes the pod's status and Events in place of the ` +
        "kubelet and the container runtime; no image is pulled and no container runs",
    );
  }
  const earliestMs = earliestTime === undefined ? undefined : Date.parse(earliestTime);
  return {
    subject,
    ...(pod === undefined
      ? {}
      : { pod: { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid } }),
    ...(pod?.spec.nodeName === undefined
      ? {}
      : {
          node: {
            name: pod.spec.nodeName,
            kubeletVersion: input.node?.status?.nodeInfo?.kubeletVersion,
            containerRuntimeVersion: input.node?.status?.nodeInfo?.containerRuntimeVersion,
            internalIP: input.node?.status?.addresses?.find((a) => a.type === "InternalIP")?.address,
            simulated,
          },
        }),
    ...(earliestTime === undefined ? {} : { origin: earliestTime }),
    participants: {
      client: (top === undefined ? undefined : creatorOf(top.metadata)?.manager) ?? "client",
      apiserver: "kube-apiserver",
      etcd: "etcd",
      controller: "kube-controller-manager",
      scheduler: pod?.spec.schedulerName ?? "default-scheduler",
      kubelet:
        pod?.spec.nodeName === undefined
          ? "kubelet"
          : simulated
            ? `kwok on ${pod.spec.nodeName}`
            : `kubelet on ${pod.spec.nodeName}`,
      runtime: simulated
        ? "kwok (no runtime)"
        : (input.node?.status?.nodeInfo?.containerRuntimeVersion ?? "container runtime"),
      cni: input.cniAgent === undefined ? "CNI" : `CNI ${input.cniAgent.name}`,
    },
    steps: timed,
    outcome:
      outcome.time === undefined || earliestMs === undefined
        ? outcome
        : { ...outcome, offsetMs: Math.max(0, Date.parse(outcome.time) - earliestMs) },
    notes,
  };
}

/** The runtime kwok reports for its nodes (`kwok://v0.8.0`): everything on such a node is simulated. */
export function isSimulatedRuntime(runtimeVersion: string | undefined): boolean {
  return runtimeVersion?.startsWith("kwok") ?? false;
}

/**
 * The managedFields entry of the object's creator, as near as the API tells: entries of the main resource
 * (not status), preferring those that own spec fields, the earliest first. managedFields keep the last
 * time each manager wrote, not who created: a creator that wrote again later shows its later time.
 */
export function creatorOf(meta: ObjectMeta): ManagedFieldsEntry | undefined {
  const main = (meta.managedFields ?? []).filter((entry) => entry.subresource === undefined);
  const ownsSpec = main.filter((entry) => entry.fieldsV1 !== undefined && "f:spec" in entry.fieldsV1);
  const candidates = ownsSpec.length > 0 ? ownsSpec : main;
  return [...candidates].sort((a, b) => timeMs(a.time) - timeMs(b.time))[0];
}

function acceptedStep(top: TracedObject): DraftStep {
  const creator = creatorOf(top.metadata);
  const sender =
    creator?.manager === undefined
      ? "its sender is not recorded (no managedFields)"
      : `sent by ${creator.manager} (${creator.operation ?? "?"})`;
  return {
    id: "accepted",
    component: "kube-apiserver",
    what: `accepted ${top.kind ?? "object"} ${qualified(top.metadata)}, ${sender}`,
    time: top.metadata.creationTimestamp,
    precision: "second",
    evidence:
      "metadata.creationTimestamp" +
      (creator?.manager === undefined
        ? ""
        : `; managedFields: ${creator.manager} ${creator.operation ?? ""}`.trimEnd()),
    warning: false,
    from: "client",
    to: "apiserver",
    rank: 0,
    phase: PHASE.accepted,
  };
}

function createdStep(
  owner: TracedObject,
  child: TracedObject,
  ownerEvents: TracedEvent[],
  index: number,
): DraftStep {
  // The owner's Event that names the child ("Scaled up replica set web-7d8...", "Created pod: web-7d8...-x").
  const event = ownerEvents.find((e) => e.type !== "Warning" && (e.note ?? "").includes(child.metadata.name));
  const creator = creatorOf(child.metadata);
  const controller =
    (event === undefined ? undefined : reporterOf(event)) ??
    CONTROLLER_OF_KIND[owner.kind ?? ""] ??
    "its controller";
  const evidence = [
    `ownerReferences: ${owner.kind ?? "?"} ${owner.metadata.name}`,
    ...(creator?.manager === undefined
      ? []
      : [`managedFields: ${creator.manager} ${creator.operation ?? ""}`.trimEnd()]),
    ...(event === undefined ? [] : [`Event ${event.reason ?? "?"}`]),
  ].join("; ");
  return {
    id: `created:${child.kind ?? "object"}`,
    component: componentOfManager(creator?.manager, "kube-controller-manager"),
    what: `${controller} created ${child.kind ?? "object"} ${child.metadata.name}`,
    time: child.metadata.creationTimestamp,
    precision: "second",
    evidence,
    warning: false,
    from: "controller",
    to: "apiserver",
    rank: index,
    phase: PHASE.controllers,
  };
}

function schedulerSteps(
  nodeName: string | undefined,
  schedulerName: string,
  podScheduled: PodCondition | undefined,
  podEvents: readonly TracedEvent[],
): DraftStep[] {
  const steps: DraftStep[] = [];
  for (const group of groupRepeats(podEvents.filter((e) => e.reason === "FailedScheduling"))) {
    steps.push({
      ...eventStep(group, "event:FailedScheduling"),
      component: "kube-scheduler",
      from: "scheduler",
      to: "apiserver",
      rank: 0,
      phase: PHASE.scheduler,
    });
  }
  if (nodeName === undefined) {
    if (podScheduled?.status === "False" && steps.length === 0) {
      steps.push({
        id: "condition:PodScheduled",
        component: "kube-scheduler",
        what: `PodScheduled=False (${podScheduled.reason ?? "?"}): ${podScheduled.message ?? ""}`.trimEnd(),
        ...timeOf(podScheduled.lastTransitionTime),
        evidence: "status.conditions PodScheduled",
        warning: true,
        from: "scheduler",
        to: "apiserver",
        rank: 0,
        phase: PHASE.scheduler,
      });
    }
    return steps;
  }
  const scheduled = podEvents.find((e) => e.reason === "Scheduled");
  const time = scheduled === undefined ? podScheduled?.lastTransitionTime : eventTimeOf(scheduled);
  const evidence = [
    ...(scheduled === undefined
      ? []
      : [`Event Scheduled (${scheduled.eventTime ? "eventTime" : "firstTimestamp"})`]),
    ...(podScheduled === undefined ? [] : ["condition PodScheduled"]),
    "spec.nodeName",
  ].join("; ");
  steps.push({
    id: "scheduled",
    component: "kube-scheduler",
    what: `${scheduled === undefined ? schedulerName : reporterOf(scheduled)} assigned the pod to ${nodeName}`,
    ...timeOf(time),
    evidence,
    warning: false,
    from: "scheduler",
    to: "apiserver",
    rank: 1,
    phase: PHASE.scheduler,
  });
  return steps;
}

function conditionStep(condition: PodCondition, simulated: boolean): DraftStep {
  const detail =
    condition.status === "True"
      ? ""
      : ` (${[condition.reason, condition.message].filter((part) => part !== undefined && part !== "").join(": ")})`;
  return {
    id: `condition:${condition.type}`,
    component: simulated ? "kwok" : "kubelet",
    what: `${condition.type}=${condition.status}${detail === " ()" ? "" : detail}`,
    ...timeOf(condition.lastTransitionTime),
    evidence: `status.conditions ${condition.type} lastTransitionTime`,
    // A condition on its way to True is progress, not trouble: the Events and the outcome say what went wrong.
    warning: false,
    from: "kubelet",
    to: "apiserver",
    rank: NODE_RANK[`condition:${condition.type}`] ?? NODE_RANK_DEFAULT,
    phase: PHASE.node,
  };
}

/**
 * The pod's address. The API records no time for it; the kubelet's PodReadyToStartContainers condition
 * (sandbox created, network configured by the CNI) is the first condition after which it is known, so
 * its time is used where the node reports it, and the step says "not timed" where not (kwok, old nodes).
 */
function addressStep(
  pod: NonNullable<TraceInput["pod"]>,
  readyToStart: PodCondition | undefined,
  input: TraceInput,
  simulated: boolean,
): DraftStep | undefined {
  const ips = (pod.status?.podIPs ?? []).map((entry) => entry.ip);
  if (ips.length === 0 && pod.status?.podIP !== undefined) ips.push(pod.status.podIP);
  if (ips.length === 0) return undefined;
  const hostNetwork = pod.spec.hostNetwork === true;
  const agent = input.cniAgent;
  const by = hostNetwork
    ? "the node's own address (hostNetwork: no CNI involved)"
    : agent === undefined
      ? "from the CNI"
      : `from the CNI (${agent.name} on ${pod.spec.nodeName ?? "?"}${agent.ready ? "" : ", not Ready"})`;
  const timed = readyToStart?.status === "True" && readyToStart.lastTransitionTime ? readyToStart : undefined;
  return {
    id: "ip",
    component: hostNetwork ? "node network" : simulated ? "kwok" : "CNI",
    what: `pod IP ${ips.join(", ")}, ${by}`,
    ...(timed === undefined
      ? {
          untimed:
            "not timed: the API records no time for the address" +
            (simulated ? " (kwok assigns it with the rest of the status)" : ""),
        }
      : timeOf(timed.lastTransitionTime)),
    evidence:
      "status.podIPs" +
      (timed === undefined ? "" : "; time of PodReadyToStartContainers (sandbox and network ready)"),
    warning: false,
    from: "cni",
    to: "kubelet",
    rank: NODE_RANK.ip!,
    phase: PHASE.node,
  };
}

function containerStep(
  status: ContainerStatus,
  runtimeVersion: string | undefined,
  simulated: boolean,
): DraftStep | undefined {
  const runtime = simulated ? "kwok" : (runtimeVersion ?? "container runtime");
  const running = status.state?.running;
  const terminated = status.state?.terminated;
  const base = {
    id: `container:${status.name}`,
    component: simulated ? "kwok" : "container runtime",
    from: "runtime",
    to: "kubelet",
    rank: NODE_RANK.container!,
    phase: PHASE.node,
  } as const;
  if (running?.startedAt !== undefined) {
    const image = status.image === undefined ? "" : ` (${status.image})`;
    const restarts = (status.restartCount ?? 0) > 0 ? `, restarted ${status.restartCount} times` : "";
    return {
      ...base,
      what: `${runtime}: container ${status.name} running${image}${restarts}`,
      ...timeOf(running.startedAt),
      evidence: `status.containerStatuses ${status.name} state.running.startedAt`,
      warning: false,
    };
  }
  if (terminated?.finishedAt !== undefined) {
    const reason = terminated.reason === undefined ? "" : ` (${terminated.reason})`;
    return {
      ...base,
      what: `${runtime}: container ${status.name} exited with code ${terminated.exitCode ?? "?"}${reason}`,
      ...timeOf(terminated.finishedAt),
      evidence: `status.containerStatuses ${status.name} state.terminated.finishedAt`,
      warning: (terminated.exitCode ?? 0) !== 0,
    };
  }
  return undefined;
}

/**
 * Events that say the same thing (reporter, type, reason, note) as one list each, in time order: a
 * component that retries writes a new Event or bumps a count, and the learner needs it once with the count.
 */
function groupRepeats(events: readonly TracedEvent[]): TracedEvent[][] {
  const groups = new Map<string, TracedEvent[]>();
  for (const event of [...events].sort(byEventTime)) {
    const key = JSON.stringify([reporterOf(event), event.type, event.reason, event.note]);
    groups.set(key, [...(groups.get(key) ?? []), event]);
  }
  return [...groups.values()];
}

/** One step for a group of repeated Events: the first time, and how often and until when it was seen. */
function eventStep(
  group: readonly TracedEvent[],
  id: string,
): Omit<DraftStep, "component" | "from" | "to" | "rank" | "phase"> {
  const event = group[0]!;
  const count = group.reduce((sum, e) => sum + (e.series?.count ?? e.deprecatedCount ?? 1), 0);
  const lastOf = (e: TracedEvent): string | undefined =>
    e.series?.lastObservedTime ?? e.deprecatedLastTimestamp ?? eventTimeOf(e) ?? undefined;
  const last = group
    .map(lastOf)
    .filter((time): time is string => time !== undefined)
    .sort((a, b) => Date.parse(a) - Date.parse(b))
    .at(-1);
  const first = eventTimeOf(event);
  const repeated =
    count > 1
      ? ` (seen ${count} times${last !== undefined && last !== first ? `, last at ${last}` : ""})`
      : "";
  return {
    id,
    what: `${event.reason ?? "?"}: ${event.note ?? ""}`.trimEnd() + repeated,
    ...timeOf(first),
    evidence: `Event ${event.reason ?? "?"} from ${reporterOf(event)}${
      event.reportingInstance ? ` (${event.reportingInstance})` : ""
    }${group.length > 1 ? `, ${group.length} Events` : ""}`,
    warning: event.type === "Warning",
  };
}

function outcomeOf(input: TraceInput, simulated: boolean): TraceOutcome {
  const pod = input.pod;
  const node = pod?.spec.nodeName;
  const kubeletComponent = simulated ? "kwok" : "kubelet";
  if (pod === undefined) {
    const warning = input.owners
      .flatMap((owner) => input.events.filter((e) => regards(e, owner.metadata) && e.type === "Warning"))
      .sort(byEventTime)
      .at(-1);
    if (warning !== undefined) {
      return {
        state: "Failed",
        component: reporterOf(warning),
        reason: warning.reason,
        message: `no pod was created: ${warning.note ?? warning.reason ?? ""}`,
        ...timeOf(eventTimeOf(warning)),
      };
    }
    return {
      state: "InProgress",
      component: "kube-controller-manager",
      message: "waiting for a pod to be created",
    };
  }
  const conditions = pod.status?.conditions ?? [];
  const condition = (type: string) => conditions.find((c) => c.type === type);
  const ready = condition("Ready");
  const containers = pod.status?.containerStatuses ?? [];
  if (pod.metadata.deletionTimestamp !== undefined) {
    return {
      state: "Failed",
      component: "kube-apiserver",
      reason: "Terminating",
      message: "the pod is being deleted",
      ...timeOf(pod.metadata.deletionTimestamp),
    };
  }
  if (ready?.status === "True") {
    const running = containers.filter((status) => status.state?.running !== undefined).length;
    return {
      state: "Ready",
      message: `${running}/${pod.spec.containers.length} containers running on ${node ?? "?"}`,
      ...timeOf(ready.lastTransitionTime),
    };
  }
  if (pod.status?.phase === "Succeeded") {
    return { state: "Succeeded", message: `every container exited with code 0 on ${node ?? "?"}` };
  }
  if (pod.status?.phase === "Failed") {
    return {
      state: "Failed",
      component: kubeletComponent,
      reason: pod.status.reason ?? "Failed",
      message: pod.status.message ?? "the pod failed",
    };
  }
  const podEvents = input.events.filter((e) => regards(e, pod.metadata)).sort(byEventTime);
  if (node === undefined) {
    const failedScheduling = podEvents.filter((e) => e.reason === "FailedScheduling").at(-1);
    const podScheduled = condition("PodScheduled");
    if (failedScheduling !== undefined || podScheduled?.status === "False") {
      return {
        state: "Failed",
        component: "kube-scheduler",
        reason: failedScheduling?.reason ?? podScheduled?.reason ?? "Unschedulable",
        message:
          `not scheduled: ${failedScheduling?.note ?? podScheduled?.message ?? ""}`.trimEnd() +
          " (the scheduler tries again when the cluster changes)",
        ...timeOf(
          failedScheduling === undefined ? podScheduled?.lastTransitionTime : eventTimeOf(failedScheduling),
        ),
      };
    }
    return { state: "InProgress", component: "kube-scheduler", message: "waiting for the scheduler" };
  }
  for (const status of [...(pod.status?.initContainerStatuses ?? []), ...containers]) {
    const waiting = status.state?.waiting;
    if (waiting?.reason !== undefined && FAILED_WAITING_REASONS.has(waiting.reason)) {
      const warning = podEvents.filter((e) => e.type === "Warning").at(-1);
      return {
        state: "Failed",
        component: kubeletComponent,
        reason: waiting.reason,
        message: `container ${status.name}: ${waiting.message ?? warning?.note ?? waiting.reason}`,
        ...timeOf(warning === undefined ? undefined : eventTimeOf(warning)),
      };
    }
  }
  const nodeFailure = podEvents
    .filter((e) => e.type === "Warning" && FAILED_NODE_EVENTS.has(e.reason ?? ""))
    .at(-1);
  if (nodeFailure !== undefined) {
    return {
      state: "Failed",
      component: kubeletComponent,
      reason: nodeFailure.reason,
      message: nodeFailure.note ?? nodeFailure.reason ?? "",
      ...timeOf(eventTimeOf(nodeFailure)),
    };
  }
  if (condition("Initialized")?.status !== "True") {
    return {
      state: "InProgress",
      component: kubeletComponent,
      message: `waiting for the ${kubeletComponent} on ${node} to start the pod (sandbox, network, init containers)`,
    };
  }
  return {
    state: "InProgress",
    component: kubeletComponent,
    message: `waiting for the containers to be ready on ${node}`,
  };
}

/** Steps in causal order: acceptance, etcd, the controllers, the scheduler, then what happened on the node by time. */
function orderSteps(drafts: readonly DraftStep[]): DraftStep[] {
  const before = drafts
    .filter((step) => step.phase !== PHASE.node)
    .sort((a, b) => a.phase - b.phase || a.rank - b.rank);
  const node = drafts.filter((step) => step.phase === PHASE.node);
  // An untimed step sorts with the first timed step that ranks after it (the address comes before the containers).
  const sortTime = (step: DraftStep): number => {
    if (step.time !== undefined) return Date.parse(step.time);
    const next = node
      .filter((other) => other.time !== undefined && other.rank > step.rank)
      .map((other) => Date.parse(other.time!));
    return next.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...next);
  };
  const ordered = [...node].sort((a, b) => sortTime(a) - sortTime(b) || a.rank - b.rank);
  return [...before, ...ordered];
}

/** Does `event` regard the object (by uid; by kind-less name where an old event has no uid)? */
function regards(event: TracedEvent, meta: ObjectMeta): boolean {
  const regarding = event.regarding;
  if (regarding === undefined) return false;
  if (regarding.uid !== undefined && regarding.uid !== "") return regarding.uid === meta.uid;
  return regarding.name === meta.name && (regarding.namespace ?? "") === (meta.namespace ?? "");
}

/** The component that reported an Event: reportingController, else core/v1's source.component. */
function reporterOf(event: TracedEvent): string {
  return event.reportingController || event.deprecatedSource?.component || "unknown reporter";
}

/** When it first happened: eventTime (µs), else core/v1's firstTimestamp, else the Event's creation. */
function eventTimeOf(event: TracedEvent): string | undefined {
  return event.eventTime ?? event.deprecatedFirstTimestamp ?? event.metadata.creationTimestamp ?? undefined;
}

function byEventTime(a: TracedEvent, b: TracedEvent): number {
  return timeMs(eventTimeOf(a)) - timeMs(eventTimeOf(b));
}

function timeMs(time: string | null | undefined): number {
  return time === undefined || time === null ? Number.POSITIVE_INFINITY : Date.parse(time);
}

/** `time` with its precision, or the reason there is none. */
function timeOf(
  time: string | null | undefined,
): { time: string; precision: TimePrecision } | { untimed: string } {
  if (time === undefined || time === null || time === "")
    return { untimed: "not timed: the API gives no time" };
  return { time, precision: /\.\d+/.test(time) ? "microsecond" : "second" };
}

/** kube-controller-manager for its controllers' names, else the reporter itself. */
function componentOfReporter(reporter: string): string {
  return Object.values(CONTROLLER_OF_KIND).includes(reporter) ? "kube-controller-manager" : reporter;
}

function componentOfManager(manager: string | undefined, fallback: string): string {
  return manager ?? fallback;
}

function qualified(meta: ObjectMeta): string {
  return meta.namespace === undefined ? meta.name : `${meta.namespace}/${meta.name}`;
}
