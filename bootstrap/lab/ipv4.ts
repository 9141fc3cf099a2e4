// IPv4 address and CIDR arithmetic for lab.yaml validation and for addresses derived from subnets.

/** An IPv4 network: its first address as an unsigned 32-bit integer and its prefix length. */
export interface Ipv4Network {
  readonly base: number;
  readonly prefix: number;
}

/** Parses a dotted-quad address into an unsigned 32-bit integer; throws RangeError on bad input. */
export function parseIpv4(address: string): number {
  const parts = address.split(".");
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${address}`);
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) {
      throw new RangeError(`not an IPv4 address: ${address}`);
    }
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * Parses `a.b.c.d/n`. The address is masked to the network, so `192.168.56.10/24` and
 * `192.168.56.0/24` are the same network; callers that want the exact base compare `formatCidr`.
 */
export function parseCidr(cidr: string): Ipv4Network {
  const [address, prefixText, ...rest] = cidr.split("/");
  if (address === undefined || prefixText === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefixText)) {
    throw new RangeError(`not an IPv4 CIDR: ${cidr}`);
  }
  const prefix = Number(prefixText);
  if (prefix > 32) throw new RangeError(`not an IPv4 CIDR: ${cidr}`);
  const size = 2 ** (32 - prefix);
  return { base: parseIpv4(address) - (parseIpv4(address) % size), prefix };
}

export function formatCidr(network: Ipv4Network): string {
  return `${formatIpv4(network.base)}/${network.prefix}`;
}

export function networkSize(network: Ipv4Network): number {
  return 2 ** (32 - network.prefix);
}

export function containsAddress(network: Ipv4Network, address: number): boolean {
  return address >= network.base && address < network.base + networkSize(network);
}

export function networksOverlap(a: Ipv4Network, b: Ipv4Network): boolean {
  return a.base < b.base + networkSize(b) && b.base < a.base + networkSize(a);
}

/** The `index`-th address of a network (0 is the network address); kube-dns takes index 10. */
export function nthAddress(network: Ipv4Network, index: number): string {
  if (index < 0 || index >= networkSize(network)) {
    throw new RangeError(`${formatCidr(network)} has no address number ${index}`);
  }
  return formatIpv4(network.base + index);
}
