// .dockerignore as the builder reads it: patterns in order, `!` re-includes, the last match wins, and a path
// is also out when one of its parent directories is (unless a later pattern lets it back in).
export interface DockerIgnore {
  /** True when `path` (relative to the context, "/" separators) is kept out of the build context. */
  excludes(path: string): boolean;
}

export function parseDockerIgnore(text: string): DockerIgnore {
  const rules = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const negated = line.startsWith("!");
      const pattern = (negated ? line.slice(1) : line).trim().replace(/^\/+/, "").replace(/\/+$/, "");
      return { negated, matcher: patternToRegExp(pattern) };
    });
  const matches = (path: string): boolean | undefined => {
    let excluded: boolean | undefined;
    for (const rule of rules) if (rule.matcher.test(path)) excluded = !rule.negated;
    return excluded;
  };
  return {
    excludes(path: string): boolean {
      const parts = path.split("/");
      let excluded = false;
      for (let depth = 1; depth <= parts.length; depth += 1) {
        const verdict = matches(parts.slice(0, depth).join("/"));
        if (verdict !== undefined) excluded = verdict;
      }
      return excluded;
    },
  };
}

/** Go's filepath.Match syntax plus `**` (any number of directories), anchored at the context root. */
function patternToRegExp(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] ?? "";
    if (char === "*" && pattern[index + 1] === "*") {
      source += ".*";
      index += pattern[index + 2] === "/" ? 2 : 1;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
