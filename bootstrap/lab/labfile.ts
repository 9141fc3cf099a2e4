// The commented lab.yaml that `bootstrap init` writes: every setting at its default, each explained.
import {
  DEFAULT_CALICO_VERSION,
  DEFAULT_KUBERNETES_VERSION,
  DEFAULT_OPERATOR_IMAGE,
  FLOORS,
  LAB_API_VERSION,
  LAB_KIND,
  TESTED_KUBERNETES_PATCH,
} from "./config.ts";

/**
 * lab.yaml with the defaults written out and commented, so a user edits values instead of looking up
 * names. Parsing it gives exactly the defaults (a unit test holds this file to that).
 */
export function renderDefaultLabFile(): string {
  return `# kubelab lab definition: \`bootstrap up\` turns it into a kubeadm cluster.
# Every value below is the default; delete a line to keep the default, change it to override.
# Reference: README.md (lab.yaml). Check it with: bootstrap up --dry-run
apiVersion: ${LAB_API_VERSION}
kind: ${LAB_KIND}

# Lab name: the kubeadm cluster name and the prefix of kubeconfig entries (bootstrap kubeconfig --merge).
name: kubelab

# Where the nodes run: vagrant (VMs, VirtualBox or libvirt), sim (a real control plane with simulated
# nodes, no VMs), kind (containers). --provider overrides it.
provider: vagrant

kubernetes:
  # A minor (${DEFAULT_KUBERNETES_VERSION}: its newest patch from pkgs.k8s.io) or an exact patch (${TESTED_KUBERNETES_PATCH}).
  # --k8s-version overrides it.
  version: "${DEFAULT_KUBERNETES_VERSION}"

vagrant:
  # virtualbox or libvirt (needs the vagrant-libvirt plugin).
  provider: virtualbox
  # Ubuntu 24.04, published for amd64 and arm64; Vagrant picks the host's architecture.
  box: bento/ubuntu-24.04
  # boxVersion: "202502.21.0"   # pin a box version (default: the newest)

# The control plane node (kubeadm needs at least ${FLOORS.controlPlane.cpus} CPUs and ${FLOORS.controlPlane.memoryMiB} MiB).
controlPlane:
  name: m-k8s
  ip: 192.168.56.10
  cpus: 2
  memoryMiB: 3072

# Workers w1-k8s, w2-k8s, ... at firstIp, firstIp+1, ... (at least ${FLOORS.worker.cpus} CPU and ${FLOORS.worker.memoryMiB} MiB each).
# --workers overrides count. Adding workers to a running lab works; removing them does not.
workers:
  count: 3
  cpus: 1
  memoryMiB: 2560
  firstIp: 192.168.56.101
  # nodes:                      # or name them one by one (cpus/memoryMiB optional):
  #   - name: w1-k8s
  #     ip: 192.168.56.101

network:
  # Host-only network between the host and the VMs. VirtualBox only allows 192.168.56.0/21 unless
  # /etc/vbox/networks.conf lists other ranges (e.g. "* 192.168.1.0/24" for the classic lab's network).
  hostOnlyCidr: 192.168.56.0/24
  # Pod network (Calico's IP pool) and Service network; neither may overlap the other or the host-only one.
  podCidr: 172.16.0.0/16
  serviceCidr: 10.96.0.0/12
  dnsDomain: cluster.local

calico:
  version: ${DEFAULT_CALICO_VERSION}
  # Offline? Point to a copy of the upstream calico.yaml (relative to this file); --calico-manifest overrides it.
  # A local file is used as given; a download must match its sha256 pin (this release's, or the one below).
  # manifest: ./calico.yaml
  # sha256: <curl -fsSL https://raw.githubusercontent.com/projectcalico/calico/VERSION/manifests/calico.yaml | sha256sum>

containerd:
  # The Ubuntu package that provides containerd (1.7 and 2.x are both supported).
  package: containerd

backup:
  # etcd snapshots (cron, in the cluster's time zone) and how many to keep.
  schedule: "0 */6 * * *"
  retain: 7

operator:
  # The kubelab operator's image (build it from the Dockerfile and push it where the nodes pull from).
  # It runs the operator Deployment and the backup Jobs. On the sim provider the operator itself runs as a
  # local process of this checkout instead (its nodes are simulated), as the operator's ServiceAccount.
  image: ${DEFAULT_OPERATOR_IMAGE}
`;
}
