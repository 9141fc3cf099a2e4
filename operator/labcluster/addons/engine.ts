// The addon engine: one controller that restores the bundled objects of the CNI and CoreDNS, one object per key.
import { Counter } from "prom-client";
import type { Logger } from "winston";

import {
  ADDON_MODE_LABEL,
  ADDONS,
  BUNDLE_LABEL,
  bundleHeadName,
  decodeBundle,
  encodeBundle,
  objectIdentity,
  type AddonBundle,
  type AddonName,
  type BundleObject,
  type BundleSource,
  type StoredConfigMap,
} from "../../api/addons/bundle.ts";
import { ADDON_CATALOGS, objectsOutsideCatalog, type AddonCatalog } from "../../api/addons/catalog.ts";
import type { AddonStatus } from "../../api/labcluster.ts";
import { ADDON_FIELDS, LABCLUSTER_API_VERSION, LABCLUSTER_KIND, runsAddon } from "../../api/labcluster.ts";
import { describeCause, isConflict } from "../../errors.ts";
import { resourcePath } from "../../runtime/client.ts";
import { formatTime } from "../../runtime/conditions.ts";
import { Controller } from "../../runtime/controller.ts";
import type { ObjectReference } from "../../runtime/events.ts";
import type { Informer } from "../../runtime/informer.ts";
import { Action, type ReconcileContext, type Reconciler } from "../../runtime/reconcile.ts";
import { actingLabCluster, type CachedLabCluster } from "../cache.ts";
import { FIELD_MANAGER } from "../names.ts";
import type { PartSetupContext } from "../part.ts";
import {
  AVAILABLE,
  DEFAULT_RESTORE_POLICY,
  recentRestores,
  type AvailabilityTrack,
  type RestorePolicy,
} from "./backoff.ts";
import { captureAddon } from "./capture.ts";
import {
  AWAIT_CREATE_MS,
  decideObject,
  type NamespaceState,
  type ObjectHealth,
  type RestoreReason,
} from "./decide.ts";
import type { AddonSnapshot } from "./health.ts";
import { resolveMode, specModeOf } from "./modes.ts";
import {
  apiVersionOf,
  applyBody,
  bundleQueueKey,
  contentFingerprint,
  describeRef,
  objectQueueKey,
  parseQueueKey,
  refOf,
  toLiveObject,
  toSlimNamespace,
  type LiveObject,
  type ObjectRef,
  type SlimNamespace,
} from "./objects.ts";
import { objectPath, ResourceResolver, type ResourceInfo } from "./resources.ts";

/** Human names of the addons, for messages. */
export const ADDON_TITLES: Record<AddonName, string> = {
  calico: "Calico",
  "kube-router": "kube-router",
  coredns: "CoreDNS",
};

/** The annotation `kubectl rollout restart` sets on the pod template; the operator sets the same one. */
export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";

export interface AddonEngineOptions {
  /** How restores of one object are spaced when something keeps undoing them. */
  readonly restorePolicy?: RestorePolicy;
  /** Restores of distinct objects in parallel. Default 4. */
  readonly concurrency?: number;
  /** How long until capture looks again: nothing installed (default 60 s), installed but not healthy (5 s). */
  readonly captureRetryMs?: { readonly absent: number; readonly waiting: number };
  /** How long a new watch may take to list before the bundle is retried. Default 30 s. */
  readonly watchSyncTimeoutMs?: number;
  /**
   * The objects each addon's bundle may hold (ADDON_CATALOGS by default): a bundle with anything else is
   * refused whole. The composition root may widen it (tests restore objects of their own).
   */
  readonly catalogs?: Partial<Record<AddonName, AddonCatalog>>;
}

/** status.addons.<addon>.lastRestore. */
export type LastRestore = NonNullable<AddonStatus["lastRestore"]>;

/** What the engine keeps of one bundled object. */
interface ObjectEntry {
  readonly key: string;
  readonly ref: ObjectRef;
  desired: BundleObject;
  /** Undefined until the object was looked at once. */
  health: ObjectHealth | undefined;
  /** The fingerprint after the last apply or check in Reconcile mode (see ObjectInput.checkedFingerprint). */
  checkedFingerprint: string | undefined;
  /** The operator's last write of the object, until the cache shows it. */
  written: PendingWrite | undefined;
  /** Recent Deleted/Drifted restores, for the fight backoff. */
  restoreTimes: number[];
  availability: AvailabilityTrack;
  /** A RestoreBackoff Event was recorded for the current backoff episode. */
  backoffReported: boolean;
}

/**
 * A write the cache has not shown yet. Until the object's watch has gone past `resourceVersion`, what the
 * cache holds is older than the write: an object absent from it was just created (not deleted again), and
 * a fingerprint equal to `staleFingerprint` is the content before the write (not a new edit). The reconcile
 * forgets it once the watch caught up, or after AWAIT_CREATE_MS if that event was lost.
 */
interface PendingWrite {
  readonly resourceVersion: string;
  readonly at: number;
  /** The write created the object (it was missing). */
  readonly created: boolean;
  /** The fingerprint the object had before the write, if the write changed it. */
  readonly staleFingerprint: string | undefined;
}

/** Deleted objects whose last labels a watch keeps (a deleted object's last word on its mode). */
const KEEP_DELETED = 256;

interface AddonState {
  readonly addon: AddonName;
  bundle: { readonly digest: string; readonly source: BundleSource } | undefined;
  problem: { readonly reason: string; readonly message: string } | undefined;
  /** The digest of the last bundle refused for objects outside the catalog (its Event is recorded once). */
  refusedDigest: string | undefined;
  /** Queue key -> entry, for every object of the bundle in use, in bundle order. */
  entries: Map<string, ObjectEntry>;
  /** Per LabCluster (uid): restores attributed to it by this process, and the last one. */
  readonly tallies: Map<string, { count: number; last: LastRestore | undefined }>;
  /** Per LabCluster (uid): its status.addons.<addon>.restores when this process first reported it. */
  readonly baselines: Map<string, number>;
}

/** A watch on one kind in one namespace (or cluster-wide), serving every bundled object of that kind there. */
interface Watch {
  readonly resource: ResourceInfo;
  readonly informer: Informer<LiveObject>;
}

/** A bundle ConfigMap as cached (the fields decodeBundle reads). */
type CachedBundleConfigMap = StoredConfigMap & { readonly metadata: { readonly name: string } };

function toBundleConfigMap(raw: Record<string, unknown>): CachedBundleConfigMap {
  const metadata = (raw.metadata ?? {}) as {
    name?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  return {
    metadata: {
      name: metadata.name ?? "",
      ...(metadata.labels === undefined ? {} : { labels: metadata.labels }),
      ...(metadata.annotations === undefined ? {} : { annotations: metadata.annotations }),
    },
    ...(raw.binaryData === undefined ? {} : { binaryData: raw.binaryData as Record<string, string> }),
  };
}

/**
 * Restores the objects of the addon bundles. Why a controller of its own, keyed by object, beside the
 * LabCluster reconciler: a deleted calico-node must come back within milliseconds of its delete event, not
 * after a LabCluster reconcile has looked at every node and written its status. So:
 *
 * - the bundles (ConfigMaps labelled kubelab.dev/addon-bundle in the operator namespace) are watched; each
 *   version is decoded once, its kinds resolved through discovery, and one informer is started per kind
 *   and namespace the bundle uses, plus one per namespace (to see it being deleted);
 * - every event of a bundled object queues that object's key, deduplicated, with per-key error backoff;
 * - a reconcile of one key decides from the caches alone (decideObject) and makes at most one write:
 *   server-side apply (Reconcile), create (EnsureExists) or a rollout restart;
 * - restores are counted, recorded as Events and the metric kubelab_addon_restores_total{addon,kind}, and
 *   the LabCluster is queued so that its status shows them; the status write never delays a restore.
 *
 * Without a bundle, and with a LabCluster that does not disable the addon, the addon is captured from the
 * live cluster once it is healthy (capture.ts) and written as a bundle, which then takes over.
 */
export class AddonEngine implements Reconciler {
  readonly controller: Controller;
  readonly #context: PartSetupContext;
  readonly #log: Logger;
  readonly #options: AddonEngineOptions;
  readonly #policy: RestorePolicy;
  /** Made on the first bundle reconcile (see #bundleCache). */
  #bundles: Informer<CachedBundleConfigMap> | undefined;
  readonly #resolver: ResourceResolver;
  /** `group/version/kind` -> how it is served (undefined: not served). */
  readonly #kinds = new Map<string, ResourceInfo | undefined>();
  /** `group/version/plural/namespace` -> its watch. */
  readonly #watches = new Map<string, Watch>();
  readonly #namespaces = new Map<string, Informer<SlimNamespace>>();
  readonly #addons = new Map<AddonName, AddonState>();
  readonly #restores: Counter<"addon" | "kind">;

  constructor(context: PartSetupContext, options: AddonEngineOptions) {
    this.#context = context;
    this.#options = options;
    this.#log = context.log.child({ component: "addons" });
    this.#policy = options.restorePolicy ?? DEFAULT_RESTORE_POLICY;
    this.#resolver = new ResourceResolver(context.client);
    for (const addon of ADDONS) {
      this.#addons.set(addon, {
        addon,
        bundle: undefined,
        problem: undefined,
        refusedDigest: undefined,
        entries: new Map(),
        tallies: new Map(),
        baselines: new Map(),
      });
    }
    this.#restores = new Counter({
      name: "kubelab_addon_restores_total",
      help: "Addon objects restored by the operator: re-created, re-applied after drift, or rollout-restarted.",
      labelNames: ["addon", "kind"],
      registers: [context.metrics.registry],
    });
    this.controller = new Controller({
      name: "addons",
      reconciler: this,
      log: context.log.child({ component: "addons" }),
      metrics: context.metrics,
      clock: context.clock,
      concurrency: options.concurrency ?? 4,
    });
    // A new LabCluster, a deleted one or a spec change (an addon's mode): look at every addon again.
    this.controller.watches(context.labClusters, (labCluster, previous) =>
      previous !== undefined && previous.metadata.generation === labCluster.metadata.generation
        ? []
        : ADDONS.map(bundleQueueKey),
    );
    context.addController(this.controller);
  }

  /**
   * The bundle ConfigMaps' cache, made and started by the first bundle reconcile (on the leader) rather than
   * at setup: the manager starts controllers only once every setup informer has listed, so a setup informer
   * the operator may not read (RBAC) would stop node health too. Here it only holds the addons back, and says
   * so in their conditions. Undefined while its first list is not in.
   */
  async #bundleCache(signal: AbortSignal): Promise<Informer<CachedBundleConfigMap> | undefined> {
    if (this.#bundles === undefined) {
      const informer = this.#context.informer({
        name: "addon-bundles",
        path: resourcePath({
          group: "",
          version: "v1",
          plural: "configmaps",
          namespace: this.#context.operatorNamespace,
        }),
        labelSelector: BUNDLE_LABEL,
        transform: toBundleConfigMap,
      });
      const onEvent = (configMap: CachedBundleConfigMap) => {
        const addon = ADDONS.find((name) => name === configMap.metadata.labels?.[BUNDLE_LABEL]);
        if (addon !== undefined) this.controller.enqueue(bundleQueueKey(addon), "bundle ConfigMap changed");
      };
      informer.addHandlers({
        onAdd: onEvent,
        onUpdate: (_previous, object) => onEvent(object),
        onDelete: onEvent,
      });
      informer.start();
      this.#bundles = informer;
    }
    if (this.#bundles.hasSynced()) return this.#bundles;
    const timeout = AbortSignal.timeout(this.#options.watchSyncTimeoutMs ?? 30_000);
    try {
      await this.#bundles.waitForSync(AbortSignal.any([signal, timeout]));
      return this.#bundles;
    } catch {
      return undefined;
    }
  }

  async reconcile(key: string, context: ReconcileContext): Promise<Action> {
    const target = parseQueueKey(key);
    const state = this.#addons.get(target.addon);
    if (state === undefined) return Action.awaitChange();
    if (target.kind === "bundle") return this.#reconcileBundle(state, context);
    return this.#reconcileObject(state, key, context);
  }

  /** What the addon's condition and status are computed from. */
  snapshot(addon: AddonName): AddonSnapshot {
    const state = this.#state(addon);
    return {
      bundle:
        state.bundle === undefined ? undefined : { source: state.bundle.source, objects: state.entries.size },
      problem: state.problem,
      objects: [...state.entries.values()].map((entry) => ({
        name: describeRef(entry.ref),
        health: entry.health,
      })),
    };
  }

  /**
   * The restore count and last restore to report for a LabCluster: what its status said when this process
   * first reported it, plus what this process did since. Survives failed status writes and failovers.
   */
  restoreTally(
    addon: AddonName,
    labCluster: { readonly uid: string; readonly previous: AddonStatus | undefined },
  ): { restores: number; lastRestore: LastRestore | undefined } {
    const state = this.#state(addon);
    if (!state.baselines.has(labCluster.uid))
      state.baselines.set(labCluster.uid, labCluster.previous?.restores ?? 0);
    const tally = state.tallies.get(labCluster.uid);
    return {
      restores: state.baselines.get(labCluster.uid)! + (tally?.count ?? 0),
      lastRestore: tally?.last ?? labCluster.previous?.lastRestore,
    };
  }

  #state(addon: AddonName): AddonState {
    return this.#addons.get(addon)!;
  }

  /**
   * The LabCluster whose spec the engine follows and whose Events record the restores: the one that acts for
   * the cluster (actingLabCluster; the others are DuplicateLab and get nothing done).
   */
  #actingLabCluster(): CachedLabCluster | undefined {
    return actingLabCluster(this.#context.labClusters.list());
  }

  // -------------------------------------------------------------------------------------------------------
  // Bundles
  // -------------------------------------------------------------------------------------------------------

  async #reconcileBundle(state: AddonState, context: ReconcileContext): Promise<Action> {
    const bundles = await this.#bundleCache(context.signal);
    if (bundles === undefined) {
      if (context.signal.aborted) return Action.awaitChange();
      const where = `ConfigMaps labelled ${BUNDLE_LABEL} in ${this.#context.operatorNamespace}`;
      this.#setProblem(state, {
        reason: "BundleUnreadable",
        message: `the ${where} could not be listed (RBAC? the operator log says why); retrying`,
      });
      return Action.requeueAfter(30_000);
    }
    const decoded = decodeBundle(state.addon, bundles.list());
    switch (decoded.kind) {
      case "ok": {
        const outside = objectsOutsideCatalog(decoded.bundle.objects, this.#catalog(state.addon));
        if (outside.length > 0) {
          this.#refuse(state, decoded.bundle.digest, outside);
          return Action.awaitChange();
        }
        state.refusedDigest = undefined;
        const unknown = await this.#useBundle(state, decoded.bundle, context);
        this.#setProblem(
          state,
          unknown.length === 0
            ? undefined
            : {
                reason: "UnknownKind",
                message: `the cluster serves no ${unknown.join(", ")}; their objects wait for it`,
              },
        );
        for (const key of state.entries.keys()) this.controller.enqueue(key, "bundle loaded");
        return unknown.length === 0 ? Action.awaitChange() : Action.requeueAfter(10_000);
      }
      case "incomplete":
        this.#setProblem(state, { reason: "BundleIncomplete", message: decoded.message });
        return Action.requeueAfter(5000);
      case "invalid":
        this.#setProblem(state, { reason: "BundleInvalid", message: decoded.message });
        return Action.awaitChange();
      case "absent":
        if (state.bundle !== undefined) {
          this.#log.info("bundle removed; the addon's objects are no longer restored", {
            addon: state.addon,
          });
          state.bundle = undefined;
          state.entries = new Map();
          this.#requeueLabClusters(`${state.addon} bundle removed`);
        }
        return this.#capture(state, context);
    }
  }

  /**
   * Makes `bundle` the one in use: indexes its objects (keeping the history of objects that stay), resolves
   * their kinds and starts the watches they need. Returns the kinds the cluster does not serve.
   */
  async #useBundle(state: AddonState, bundle: AddonBundle, context: ReconcileContext): Promise<string[]> {
    const changed = state.bundle?.digest !== bundle.digest;
    if (changed) {
      const entries = new Map<string, ObjectEntry>();
      for (const object of bundle.objects) {
        const ref = await this.#scoped(refOf(object), context.signal);
        const key = objectQueueKey(state.addon, ref);
        const previous = state.entries.get(key);
        const { namespace: _namespace, ...metadata } = object.metadata;
        entries.set(key, {
          key,
          ref,
          desired:
            ref.namespace === object.metadata.namespace
              ? object
              : {
                  ...object,
                  metadata: {
                    ...metadata,
                    ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }),
                  },
                },
          health: previous?.health,
          // A new desired state must be applied once, even to an object that did not change.
          checkedFingerprint: undefined,
          written:
            previous?.written === undefined
              ? undefined
              : { ...previous.written, staleFingerprint: undefined },
          restoreTimes: previous?.restoreTimes ?? [],
          availability: previous?.availability ?? AVAILABLE,
          backoffReported: previous?.backoffReported ?? false,
        });
      }
      state.entries = entries;
      state.bundle = { digest: bundle.digest, source: bundle.source };
      this.#log.info("bundle loaded", {
        addon: state.addon,
        source: bundle.source,
        digest: bundle.digest.slice(0, 12),
        objects: bundle.objects.length,
      });
      this.#requeueLabClusters(`${state.addon} bundle loaded`);
    }
    return this.#ensureWatches(
      [...state.entries.values()].map((entry) => entry.ref),
      context.signal,
    );
  }

  /**
   * The reference as the API server names the object: a namespaced object without a namespace lives in
   * `default` (as kubectl applies it), a cluster-scoped one has none even if the manifest gave one. Keys and
   * watch events then agree. Kinds the cluster does not serve (yet) stay as written.
   */
  async #scoped(ref: ObjectRef, signal: AbortSignal): Promise<ObjectRef> {
    const resource = await this.#resolve(ref, signal);
    if (resource === undefined) return ref;
    if (resource.namespaced && ref.namespace === undefined) return { ...ref, namespace: "default" };
    if (!resource.namespaced && ref.namespace !== undefined) return { ...ref, namespace: undefined };
    return ref;
  }

  /** Starts the informers the objects need and waits for their first list. Returns unserved kinds. */
  async #ensureWatches(refs: readonly ObjectRef[], signal: AbortSignal): Promise<string[]> {
    const unknown = new Set<string>();
    const started: Informer<{ metadata: { name: string } }>[] = [];
    for (const ref of refs) {
      const resource = await this.#resolve(ref, signal);
      if (resource === undefined) {
        unknown.add(`${ref.kind} (${apiVersionOf(ref)})`);
        continue;
      }
      const namespace = resource.namespaced ? ref.namespace : undefined;
      const watchKey = `${resource.group}/${resource.version}/${resource.plural}/${namespace ?? ""}`;
      if (!this.#watches.has(watchKey)) {
        const informer = this.#context.informer({
          name: `addon-${resource.plural}${namespace === undefined ? "" : `-${namespace}`}`,
          path: resourcePath({
            group: resource.group,
            version: resource.version,
            plural: resource.plural,
            namespace,
          }),
          transform: toLiveObject,
          keepDeleted: KEEP_DELETED,
        });
        const onEvent = (object: LiveObject, event: string) => this.#objectEvent(resource, object, event);
        informer.addHandlers({
          onAdd: (object) => onEvent(object, "added"),
          onUpdate: (_previous, object) => onEvent(object, "updated"),
          onDelete: (object) => onEvent(object, "deleted"),
        });
        informer.start();
        this.#watches.set(watchKey, { resource, informer });
        started.push(informer);
      }
      if (namespace !== undefined && !this.#namespaces.has(namespace)) {
        const informer = this.#context.informer({
          name: `addon-namespace-${namespace}`,
          path: "/api/v1/namespaces",
          fieldSelector: `metadata.name=${namespace}`,
          transform: toSlimNamespace,
        });
        const onEvent = () => {
          for (const state of this.#addons.values()) {
            for (const entry of state.entries.values()) {
              if (entry.ref.namespace === namespace)
                this.controller.enqueue(entry.key, `namespace ${namespace} changed`);
            }
          }
        };
        informer.addHandlers({ onAdd: onEvent, onUpdate: onEvent, onDelete: onEvent });
        informer.start();
        this.#namespaces.set(namespace, informer);
        started.push(informer);
      }
    }
    const timeout = AbortSignal.timeout(this.#options.watchSyncTimeoutMs ?? 30_000);
    await Promise.all(started.map((informer) => informer.waitForSync(AbortSignal.any([signal, timeout]))));
    return [...unknown].sort();
  }

  async #resolve(ref: ObjectRef, signal: AbortSignal): Promise<ResourceInfo | undefined> {
    const kindKey = `${ref.group}/${ref.version}/${ref.kind}`;
    if (this.#kinds.get(kindKey) === undefined) {
      this.#kinds.set(kindKey, await this.#resolver.resolve(ref.group, ref.version, ref.kind, signal));
    }
    return this.#kinds.get(kindKey);
  }

  /**
   * An event of a watched kind: queue the object if a bundle holds it. Only that: what the event means is
   * the reconcile's to find out from the cache (the runtime's rule for handlers).
   */
  #objectEvent(resource: ResourceInfo, object: LiveObject, event: string): void {
    const identity = objectIdentity({
      apiVersion: apiVersionOf(resource),
      kind: resource.kind,
      metadata: object.metadata,
    });
    for (const state of this.#addons.values()) {
      const key = `${state.addon}|${identity}`;
      if (state.entries.has(key)) this.controller.enqueue(key, `${resource.kind} ${event}`);
    }
  }

  #catalog(addon: AddonName): AddonCatalog {
    return this.#options.catalogs?.[addon] ?? ADDON_CATALOGS[addon];
  }

  /**
   * A bundle with objects outside the addon's catalog: nothing of it is applied (the bundle in use before,
   * if any, stays in use), the condition says BundleRefused naming the objects, and a Warning Event once per
   * bundle version.
   */
  #refuse(state: AddonState, digest: string, outside: readonly string[]): void {
    const title = ADDON_TITLES[state.addon];
    const shown =
      outside.slice(0, 10).join(", ") + (outside.length > 10 ? `, and ${outside.length - 10} more` : "");
    const message =
      `the ${title} bundle ${digest.slice(0, 12)} holds ${outside.length} objects that are not ${title}'s: ` +
      `${shown}; none of it is applied (write access to ${this.#context.operatorNamespace} is admin-level: ` +
      `who wrote this?)`;
    this.#setProblem(state, { reason: "BundleRefused", message: message.slice(0, 2000) });
    if (state.refusedDigest === digest) return;
    state.refusedDigest = digest;
    this.#log.warn("bundle refused: objects outside the addon's catalog", { addon: state.addon, outside });
    const acting = this.#actingLabCluster();
    if (acting === undefined) return;
    void this.#context.events.record({
      regarding: labClusterReference(acting),
      type: "Warning",
      reason: "AddonBundleRefused",
      action: "Restore",
      note: message.slice(0, 1000),
    });
  }

  /** Capture mode: no bundle yet. */
  async #capture(state: AddonState, context: ReconcileContext): Promise<Action> {
    const addon = state.addon;
    const title = ADDON_TITLES[addon];
    const acting = this.#actingLabCluster();
    if (acting === undefined) return Action.awaitChange();
    const where = `ConfigMap ${this.#context.operatorNamespace}/${bundleHeadName(addon)}`;
    if (acting.spec !== undefined && !runsAddon(acting.spec, addon)) {
      this.#setProblem(state, {
        reason: "NoBundle",
        message: `no ${where}; not captured: the lab's CNI is ${acting.spec.cni} (spec.cni)`,
      });
      return Action.awaitChange();
    }
    if (acting.spec?.addons[ADDON_FIELDS[addon]].mode === "Disabled") {
      this.#setProblem(state, {
        reason: "NoBundle",
        message: `no ${where}; not captured: the addon is Disabled`,
      });
      return Action.awaitChange();
    }
    const retry = this.#options.captureRetryMs ?? { absent: 60_000, waiting: 5000 };
    const result = await captureAddon(addon, this.#context.client, context.signal, this.#catalog(addon));
    switch (result.kind) {
      case "absent":
        this.#setProblem(state, {
          reason: "NoBundle",
          message:
            `no ${where} and nothing to capture (${result.message}); set spec.addons.${ADDON_FIELDS[addon]}.mode: Disabled ` +
            `if this cluster runs no ${title}`,
        });
        return Action.requeueAfter(retry.absent);
      case "waiting":
        this.#setProblem(state, { reason: "CaptureWaiting", message: `no ${where}; ${result.message}` });
        return Action.requeueAfter(retry.waiting);
      case "captured": {
        await this.#writeCapturedBundle(addon, result.objects, context.signal);
        this.#log.info("bundle captured from live objects", { addon, objects: result.objects.length });
        void this.#context.events.record({
          regarding: labClusterReference(acting),
          type: "Normal",
          reason: "AddonBundleCaptured",
          action: "Capture",
          note: `${title}: no bundle from bootstrap; ${result.message} into ${where}`.slice(0, 1000),
        });
        // The bundle informer's event loads it.
        return Action.awaitChange();
      }
    }
  }

  /**
   * Writes a captured bundle: parts, then the head, each created (never overwritten): a bundle that
   * bootstrap or another replica wrote meanwhile wins.
   */
  async #writeCapturedBundle(
    addon: AddonName,
    objects: readonly BundleObject[],
    signal: AbortSignal,
  ): Promise<void> {
    const namespace = this.#context.operatorNamespace;
    const encoded = encodeBundle({ addon, source: "capture", objects, namespace });
    const collection = resourcePath({ group: "", version: "v1", plural: "configmaps", namespace });
    for (const configMap of [...encoded.parts, encoded.head]) {
      try {
        await this.#context.client.create(collection, configMap, {
          signal,
          query: { fieldManager: FIELD_MANAGER },
        });
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Objects
  // -------------------------------------------------------------------------------------------------------

  async #reconcileObject(state: AddonState, key: string, context: ReconcileContext): Promise<Action> {
    const entry = state.entries.get(key);
    const acting = this.#actingLabCluster();
    if (entry === undefined || acting?.spec === undefined) return Action.awaitChange();
    const { ref } = entry;
    const resource = this.#kinds.get(`${ref.group}/${ref.version}/${ref.kind}`);
    if (resource === undefined) {
      this.#setHealth(entry, {
        state: "RestoreFailed",
        message: `the cluster serves no ${ref.kind} (${apiVersionOf(ref)})`,
      });
      return Action.awaitChange();
    }
    const namespaced = resource.namespaced ? ref.namespace : undefined;
    const watch = this.#watches.get(
      `${resource.group}/${resource.version}/${resource.plural}/${namespaced ?? ""}`,
    );
    const namespaceInformer = namespaced === undefined ? undefined : this.#namespaces.get(namespaced);
    // Never decide on a cache that has not listed yet: a missing object would only be not-yet-seen.
    if (watch === undefined || !watch.informer.hasSynced() || namespaceInformer?.hasSynced() === false) {
      return Action.requeueAfter(100);
    }
    const cacheKey = namespaced === undefined ? ref.name : `${namespaced}/${ref.name}`;
    const live = watch.informer.get(cacheKey);
    let namespace: NamespaceState | undefined;
    if (namespaced !== undefined) {
      const cached = namespaceInformer?.get(namespaced);
      namespace = cached === undefined ? "missing" : cached.terminating ? "terminating" : "active";
    }
    const spec = acting.spec.addons[ADDON_FIELDS[state.addon]];
    const mode = resolveMode({
      kind: ref.kind,
      specMode: specModeOf(acting.spec, state.addon),
      liveLabel: live?.modeLabel,
      lastSeenLabel: live === undefined ? watch.informer.deleted(cacheKey)?.modeLabel : undefined,
      bundleLabel: (entry.desired.metadata.labels as Record<string, string> | undefined)?.[ADDON_MODE_LABEL],
    });
    const now = this.#context.clock.now();
    entry.restoreTimes = recentRestores(entry.restoreTimes, this.#policy, now);
    // The cache caught up with the operator's own write: from now on it tells the truth again.
    const written = entry.written;
    if (
      written !== undefined &&
      (watch.informer.hasSeen(written.resourceVersion) || now - written.at >= AWAIT_CREATE_MS)
    )
      entry.written = undefined;
    const decision = decideObject({
      mode: mode.mode,
      live,
      namespace,
      checkedFingerprint: entry.checkedFingerprint,
      staleFingerprint: entry.written?.staleFingerprint,
      awaitingCreate: entry.written?.created === true,
      restoreTimes: entry.restoreTimes,
      availability: entry.availability,
      unavailableSeconds: spec.unavailableSeconds,
      policy: this.#policy,
      now,
    });
    entry.availability = decision.availability;
    let health = decision.health;
    const action = decision.action;
    try {
      switch (action.kind) {
        case "none":
          break;
        case "create": {
          const resourceVersion = await this.#create(entry, resource, context.signal);
          if (resourceVersion !== undefined) {
            entry.written = { resourceVersion, at: now, created: true, staleFingerprint: undefined };
            this.#recordRestore(state, entry, acting, action.reason, now, "re-created");
          }
          health = { state: "Healthy", message: "" };
          break;
        }
        case "apply": {
          const result = await this.#context.client.apply<Record<string, unknown>>(
            objectPath(resource, ref),
            applyBody(entry.desired),
            FIELD_MANAGER,
            { force: true, signal: context.signal },
          );
          const fingerprint = contentFingerprint(result);
          entry.checkedFingerprint = fingerprint;
          const resourceVersion = (result.metadata as { resourceVersion?: string } | undefined)
            ?.resourceVersion;
          entry.written =
            resourceVersion === undefined
              ? undefined
              : {
                  resourceVersion,
                  at: now,
                  created: live === undefined,
                  staleFingerprint: live?.fingerprint === fingerprint ? undefined : live?.fingerprint,
                };
          if (live === undefined) {
            this.#recordRestore(state, entry, acting, "Deleted", now, "re-created");
          } else if (fingerprint !== live.fingerprint) {
            this.#recordRestore(state, entry, acting, "Drifted", now, "re-applied");
          }
          health = { state: "Healthy", message: "" };
          break;
        }
        case "restart": {
          await this.#context.client.mergePatch(
            objectPath(resource, ref),
            {
              spec: {
                template: {
                  metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: new Date(now).toISOString() } },
                },
              },
            },
            { signal: context.signal, query: { fieldManager: FIELD_MANAGER } },
          );
          this.#recordRestore(state, entry, acting, "Unavailable", now, "rollout-restarted");
          break;
        }
      }
    } catch (error) {
      this.#setHealth(entry, { state: "RestoreFailed", message: describeCause(error).slice(0, 300) });
      throw error;
    }
    if (health.state === "RestoreBackoff") {
      if (!entry.backoffReported) {
        entry.backoffReported = true;
        this.#log.warn("restores backing off", { object: describeRef(ref), message: health.message });
        void this.#context.events.record({
          regarding: labClusterReference(acting),
          related: objectReference(ref),
          type: "Warning",
          reason: "AddonRestoreBackoff",
          action: "Restore",
          note: `${ADDON_TITLES[state.addon]} ${describeRef(ref)}: ${health.message}`.slice(0, 1000),
        });
      }
    } else if (action.kind !== "none" || health.state === "Healthy") entry.backoffReported = false;
    this.#setHealth(entry, health);
    return decision.requeueAfterMs === undefined
      ? Action.awaitChange()
      : Action.requeueAfter(decision.requeueAfterMs);
  }

  /**
   * EnsureExists: creates the bundled object, which the cache shows missing. The created object's
   * resourceVersion; undefined when someone made it meanwhile (it is left as it is).
   *
   * A server-side apply without force, not a POST: the API server authorizes the create an apply implies
   * with the object's name, while a POST carries no name, so only this way can the operator's RBAC name
   * the objects it may create (resourceNames, manifests/rbac.yaml). Without force, an object that appeared
   * meanwhile is never overwritten: a field someone else set to another value is a conflict (409), and
   * the object is then theirs.
   */
  async #create(
    entry: ObjectEntry,
    resource: ResourceInfo,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    try {
      const created = await this.#context.client.apply<{
        metadata?: { resourceVersion?: string; managedFields?: { manager?: string }[] };
      }>(objectPath(resource, entry.ref), applyBody(entry.desired), FIELD_MANAGER, { force: false, signal });
      const managers = (created.metadata?.managedFields ?? []).map((field) => field.manager);
      if (managers.some((manager) => manager !== FIELD_MANAGER)) return undefined;
      return created.metadata?.resourceVersion ?? "";
    } catch (error) {
      if (isConflict(error)) return undefined;
      throw error;
    }
  }

  #recordRestore(
    state: AddonState,
    entry: ObjectEntry,
    acting: CachedLabCluster,
    reason: RestoreReason,
    now: number,
    verb: string,
  ): void {
    const object = describeRef(entry.ref);
    if (reason !== "Unavailable") entry.restoreTimes.push(now);
    const owner = acting.metadata.uid ?? acting.metadata.name;
    const tally = state.tallies.get(owner) ?? { count: 0, last: undefined };
    tally.count++;
    tally.last = { time: formatTime(new Date(now)), object, reason };
    state.tallies.set(owner, tally);
    this.#restores.inc({ addon: state.addon, kind: entry.ref.kind });
    this.#log.info(`${verb} ${object}`, { addon: state.addon, reason });
    void this.#context.events.record({
      regarding: labClusterReference(acting),
      related: objectReference(entry.ref),
      type: "Warning",
      reason: reason === "Unavailable" ? "AddonRolloutRestarted" : "AddonObjectRestored",
      action: reason === "Unavailable" ? "RolloutRestart" : "Restore",
      note: `${ADDON_TITLES[state.addon]}: ${verb} ${object} (${reason})`,
    });
    this.#requeueLabClusters(`${state.addon} restored ${object}`);
  }

  #setHealth(entry: ObjectEntry, health: ObjectHealth): void {
    const before = entry.health;
    entry.health = health;
    if (before?.state !== health.state || before.message !== health.message) {
      this.#requeueLabClusters(`${describeRef(entry.ref)} ${health.state}`);
    }
  }

  #setProblem(state: AddonState, problem: AddonState["problem"]): void {
    const before = state.problem;
    state.problem = problem;
    if (before?.reason !== problem?.reason || before?.message !== problem?.message) {
      this.#requeueLabClusters(`${state.addon} ${problem?.reason ?? "bundle ok"}`);
    }
  }

  #requeueLabClusters(reason: string): void {
    for (const labCluster of this.#context.labClusters.list())
      this.#context.requeue(labCluster.metadata.name, reason);
  }
}

function labClusterReference(labCluster: CachedLabCluster): ObjectReference {
  return {
    apiVersion: LABCLUSTER_API_VERSION,
    kind: LABCLUSTER_KIND,
    name: labCluster.metadata.name,
    ...(labCluster.metadata.uid === undefined ? {} : { uid: labCluster.metadata.uid }),
  };
}

function objectReference(ref: ObjectRef): ObjectReference {
  return {
    apiVersion: apiVersionOf(ref),
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }),
  };
}
