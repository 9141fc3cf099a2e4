// VirtualBox's rule for host-only networks: only ranges listed in /etc/vbox/networks.conf are allowed.
import { networkSize, parseCidr, type Ipv4Network } from "../../lab/ipv4.ts";

/** The range VirtualBox (>= 6.1.28, Linux/macOS/Solaris) allows when /etc/vbox/networks.conf is absent. */
export const VIRTUALBOX_DEFAULT_HOST_ONLY_RANGE = "192.168.56.0/21";
export const VIRTUALBOX_NETWORKS_CONF = "/etc/vbox/networks.conf";

/**
 * The IPv4 ranges VirtualBox lets host-only networks use. `networksConf` is the text of
 * /etc/vbox/networks.conf, or undefined when the file does not exist (then only the default range).
 * The file lists ranges on lines starting with `*`, such as `* 10.0.0.0/8 192.168.0.0/16`.
 */
export function allowedHostOnlyRanges(networksConf: string | undefined): Ipv4Network[] {
  if (networksConf === undefined) return [parseCidr(VIRTUALBOX_DEFAULT_HOST_ONLY_RANGE)];
  const ranges: Ipv4Network[] = [];
  for (const line of networksConf.split("\n")) {
    const [star, ...cidrs] = line.trim().split(/\s+/);
    if (star !== "*") continue;
    for (const cidr of cidrs) {
      try {
        ranges.push(parseCidr(cidr));
      } catch {
        // IPv6 ranges and anything else that is not an IPv4 CIDR do not concern us.
      }
    }
  }
  return ranges;
}

/** Whether the whole `cidr` lies inside one of the allowed ranges. */
export function hostOnlyCidrAllowed(cidr: string, ranges: readonly Ipv4Network[]): boolean {
  const network = parseCidr(cidr);
  return ranges.some(
    (range) =>
      network.base >= range.base && network.base + networkSize(network) <= range.base + networkSize(range),
  );
}

/** The explanation shown when the lab's host-only network is not allowed; names the file and the fix. */
export function hostOnlyRangeAdvice(cidr: string, networksConfExists: boolean): string {
  const where = networksConfExists
    ? `the ranges listed in ${VIRTUALBOX_NETWORKS_CONF}`
    : `VirtualBox's default host-only range ${VIRTUALBOX_DEFAULT_HOST_ONLY_RANGE} (${VIRTUALBOX_NETWORKS_CONF} does not exist)`;
  return (
    `network.hostOnlyCidr ${cidr} is outside ${where}; ` +
    `either add a line "* ${cidr}" to ${VIRTUALBOX_NETWORKS_CONF} (as root; keep "* ${VIRTUALBOX_DEFAULT_HOST_ONLY_RANGE}" ` +
    `if other VMs use it), or go back to the default network.hostOnlyCidr 192.168.56.0/24`
  );
}
