// The names the operator writes under: its server-side apply field manager and its Events' controller.
// A leaf (it imports nothing), so every part and the controller can use them without importing each other.

/** The field manager of every write the operator makes (LabCluster status, addon objects, backup CronJobs). */
export const FIELD_MANAGER = "kubelab-operator";

/** `reportingController` of the operator's Events. */
export const EVENT_CONTROLLER = "kubelab.dev/operator";
