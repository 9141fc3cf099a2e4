// `bootstrap ssh NODE [-- CMD]`: a shell, or one command, on a lab node.
import { UsageError } from "../errors.ts";
import {
  closeLogger,
  existingOrConfiguredLab,
  openSession,
  providerContextOf,
  providerFor,
  type CommandIo,
  type GlobalOptions,
} from "./common.ts";

/** Runs ssh on `nodeName`; resolves with the remote exit status (which becomes bootstrap's). */
export async function ssh(
  global: GlobalOptions,
  nodeName: string,
  command: readonly string[],
  io: CommandIo,
): Promise<number> {
  const session = await openSession(global, io);
  try {
    const lab = await existingOrConfiguredLab(session);
    const node = lab.nodes.find((candidate) => candidate.name === nodeName);
    if (node === undefined) {
      throw new UsageError(`${nodeName} is not a node of lab ${lab.name}`, {
        hint: `nodes: ${lab.nodes.map((candidate) => candidate.name).join(", ")}`,
      });
    }
    const provider = providerFor(lab);
    if (!provider.capabilities.shell) {
      throw new UsageError(`the ${provider.name} provider has no node shell`, {
        hint: "use kubectl (bootstrap kubeconfig) to look at its nodes",
      });
    }
    const context = providerContextOf(session);
    await provider.preflight(lab, context);
    return await provider.ssh(node, command, context);
  } finally {
    await closeLogger(session.logger);
  }
}
